"""Audit-log search (a GET form: it changes nothing, so it carries no CSRF token)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from app.services.audit.search import ACTION_LABELS, OBJECT_TYPES, OUTCOMES


class AuditSearchForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = DateField(_l("起始日期（北京时间）"), validators=[Optional()])
    date_to = DateField(_l("截止日期（北京时间，含当日）"), validators=[Optional()])
    username = StringField(_l("用户名"), validators=[Optional(), Length(max=64)])
    # Typed, not chosen from a list: a city has thousands of units, and a page listing them all grows with them.
    unit = StringField(_l("单位（名称、名称的一部分或统一社会信用代码）"), validators=[Optional(), Length(max=120)])
    # Codes outside the list (actions added later) are accepted when well-formed; the prefix finds families.
    action = SelectField(_l("动作"), validate_choice=False,
                         validators=[Optional(), Regexp(r"^[a-z_.]+$", message=_l("只能包含小写字母、下划线和点。"))],
                         choices=[("", _l("全部"))] + [
                             (code, _l("%(label)s（%(code)s）", label=label, code=code))
                             for code, label in ACTION_LABELS.items()])
    action_prefix = StringField(_l("动作代码前缀（如 auth.）"), validators=[
        Optional(), Length(max=60), Regexp(r"^[a-z_.]+$", message=_l("只能包含小写字母、下划线和点。"))])
    object_type = SelectField(_l("对象类型"), validators=[Optional()],
                              choices=[("", _l("全部"))] + list(OBJECT_TYPES.items()))
    object_id = StringField(_l("对象编号"), validators=[Optional(), Length(max=64)])
    outcome = SelectField(_l("结果"), validators=[Optional()], choices=[("", _l("全部"))] + list(OUTCOMES.items()))
    ip = StringField(_l("IP 地址（可只填开头部分）"), validators=[Optional(), Length(max=64)])

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("截止日期不能早于起始日期。"))

