"""Admin forms: a new rule-set version; units, accounts and the holiday calendar."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, DateField, IntegerField, RadioField, SelectField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from app.models.org import ROLES, UNIT_KINDS
from app.services.rules import DEFAULT_TIME_LIMITS, TIME_LIMIT_LABELS, ZERO_ALLOWED

SEVERITY_LABELS = {"minor": _l("轻微"), "general": _l("一般"), "serious": _l("严重")}


def build_rule_set_form(current) -> FlaskForm:
    """A form pre-filled from the rule set in force, with one field per period and time limit."""

    class RuleSetForm(FlaskForm):
        code = StringField(_l("编号"), validators=[DataRequired(_l("请填写编号。")), Length(max=40)])
        name = StringField(_l("名称"), validators=[DataRequired(_l("请填写名称。")), Length(max=200)])
        legal_basis = TextAreaField(_l("法律依据"), validators=[DataRequired(_l("请填写法律依据。")), Length(max=2000)])
        effective_from = DateField(_l("生效日期"), validators=[InputRequired(_l("请填写生效日期。"))])
        repeat_within_months = IntegerField(_l("不予修复：同类失信再次发生的月数（0 为不限制）"), default=0,
                                            validators=[InputRequired(), NumberRange(0, 120)])
        # A bar needs its legal basis (令第36号第二条: 不予修复 only where law, regulation or a 党中央/国务院 document says so).
        repair_bar_basis = TextAreaField(_l("不予修复情形的法律依据（设定月数时必填）"), validators=[Optional(), Length(max=500)])

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
        least = 0 if key in ZERO_ALLOWED else 1
        setattr(RuleSetForm, f"limit_{key}", IntegerField(TIME_LIMIT_LABELS[key], default=limits.get(key, DEFAULT_TIME_LIMITS[key]),
                                                          validators=[InputRequired(), NumberRange(least, 366)]))
    return RuleSetForm()


# --- office administration: units, accounts, the holiday calendar -------------------------------------------------
# The forms check only the shape of the input; the services (app/services/units.py, user_admin.py, calendar.py)
# check the rules and name the bad field, and the view shows that message under it.

def _at_most(n: int) -> Length:
    return Length(max=n, message=_l("不能超过 %(n)s 个字。", n=n))


NO_UNIT = -1  # what a unit choice that is no number becomes: the service answers "不存在"


def _optional_id(value):
    """A unit id from a select: None for the empty choice, NO_UNIT for anything that is no whole number."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else NO_UNIT


class ChineseDateField(DateField):
    """A date field whose parse error is Chinese and says the expected shape."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(str(_l("日期无效，应为 YYYY-MM-DD 格式的真实日期。"))) from None


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (the service says what is wrong with the chosen set)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        pass  # unknown values reach the service, which names them


class UnitForm(FlaskForm):
    name = StringField(_l("单位名称"), validators=[DataRequired(_l("请填写单位名称。")), _at_most(120)])
    uscc = StringField(_l("统一社会信用代码"), validators=[DataRequired(_l("请填写统一社会信用代码。")), _at_most(40)])
    kind = SelectField(_l("单位类别"), choices=list(UNIT_KINDS.items()), validate_choice=False)
    parent_id = SelectField(_l("上级单位"), coerce=_optional_id, validate_choice=False)
    region = StringField(_l("所属地区"), validators=[Length(max=40, message=_l("所属地区不能超过 40 个字。"))])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("原因"), validators=[DataRequired(_l("请填写原因。")), _at_most(500)])


class UserForm(FlaskForm):
    display_name = StringField(_l("姓名"), validators=[DataRequired(_l("请填写姓名。")), _at_most(64)])
    email = StringField(_l("电子邮箱（选填）"), validators=[
        Optional(), _at_most(120), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("电子邮箱格式不正确。"))])
    unit_id = SelectField(_l("所属单位"), coerce=_optional_id, validate_choice=False)
    roles = CheckboxesField(_l("角色"), choices=list(ROLES.items()))


class NewUserForm(UserForm):
    username = StringField(_l("用户名（登录名）"), validators=[
        DataRequired(_l("请填写用户名。")), _at_most(64),
        Regexp(r"^[A-Za-z0-9_.\-]{2,64}$", message=_l("用户名为 2–64 位字母、数字、点、下划线或连字符。"))])


def unit_choices(units, *, blank: str) -> list[tuple]:
    """Select choices for units: the blank choice first, then each unit (marked when deactivated)."""
    return [("", blank)] + [(u.id, u.name if u.active else _l("%(name)s（已停用）", name=u.name)) for u in units]


class CalendarImportForm(FlaskForm):
    file = FileField(_l("放假安排文件（CSV：日期,类型,名称）"))
    source = StringField(_l("通知文号（如 国办发明电〔2026〕7号）"), validators=[_at_most(120)])


DAY_KIND_LABELS = {"rest": _l("放假"), "work": _l("调休上班"), "usual": _l("恢复按周一至周五计算")}


class CalendarDayForm(FlaskForm):
    day = ChineseDateField(_l("日期"), validators=[InputRequired(_l("请填写日期。"))])
    kind = RadioField(_l("这一天"), choices=list(DAY_KIND_LABELS.items()), validate_choice=False)
    name = StringField(_l("名称（放假填节日名称）"), validators=[_at_most(40)])
    reason = StringField(_l("更正原因（如通知文号）"), validators=[DataRequired(_l("请填写更正原因（如通知文号）。")),
                                                         _at_most(500)])
