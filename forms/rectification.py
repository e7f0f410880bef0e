"""The order form (发起限期整改) of the rectification."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange


class RectificationForm(FlaskForm):
    deadline_days = IntegerField(_l("整改期限（工作日）"), default=20,
                                 validators=[InputRequired(_l("请填写整改期限。")), NumberRange(1, 120, _l("应在 1–120 个工作日之间。"))])
    requirements = TextAreaField(_l("整改要求"), validators=[DataRequired(_l("请填写整改要求。")), Length(max=4000)])
