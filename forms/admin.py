"""Admin forms: a new rule-set version."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from app.services.rules import DEFAULT_TIME_LIMITS

SEVERITY_LABELS = {"minor": _l("轻微"), "general": _l("一般"), "serious": _l("严重")}


def build_rule_set_form(current) -> FlaskForm:
    """A form pre-filled from the rule set in force, with one field per period and time limit."""

    class RuleSetForm(FlaskForm):
        code = StringField(_l("编号"), validators=[DataRequired(_l("请填写编号。")), Length(max=40)])
        name = StringField(_l("名称"), validators=[DataRequired(_l("请填写名称。")), Length(max=200)])
        legal_basis = TextAreaField(_l("法律依据"), validators=[DataRequired(_l("请填写法律依据。")), Length(max=2000)])
        effective_from = DateField(_l("生效日期"), validators=[InputRequired(_l("请填写生效日期。"))])
        repeat_within_months = IntegerField(_l("不予修复：同类失信再次发生的月数（0 为不限制）"), default=12,
                                            validators=[InputRequired(), NumberRange(0, 120)])

    for severity, label in SEVERITY_LABELS.items():
        period = current.periods[severity] if current else {"min_months": 0, "max_months": 12, "published": True}
        setattr(RuleSetForm, f"{severity}_min", IntegerField(_l("%(severity)s：最短公示期（月）", severity=label), default=period["min_months"],
                                                             validators=[InputRequired(), NumberRange(0, 120)]))
        setattr(RuleSetForm, f"{severity}_max", IntegerField(_l("%(severity)s：最长公示期（月）", severity=label), default=period["max_months"],
                                                             validators=[InputRequired(), NumberRange(0, 120)]))
        setattr(RuleSetForm, f"{severity}_published", BooleanField(_l("%(severity)s：对外公示", severity=label),
                                                                   default=period.get("published", True)))
    limits = current.time_limits if current else DEFAULT_TIME_LIMITS
    for key in DEFAULT_TIME_LIMITS:
        setattr(RuleSetForm, f"limit_{key}", IntegerField(key, default=limits.get(key, DEFAULT_TIME_LIMITS[key]),
                                                          validators=[InputRequired(), NumberRange(1, 366)]))
    return RuleSetForm()
