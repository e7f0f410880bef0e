"""The persons pages' forms: a move to another unit or post, and the award eligibility query by ID number."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional


class MoveForm(FlaskForm):
    unit_id = SelectField(_l("调入单位"), coerce=int, validate_choice=True)
    post = StringField(_l("职务"), validators=[DataRequired(_l("请填写职务。")), Length(max=80)])
    on = DateField(_l("调动日期"), validators=[Optional()])


class EligibilityForm(FlaskForm):
    # The number is posted, never put in a URL (nor so in the server's logs).
    id_number = StringField(_l("身份证号"), validators=[DataRequired(_l("请填写身份证号。")), Length(max=24)])
    day = DateField(_l("查询日期"), validators=[Optional()])


class SearchForm(FlaskForm):
    q = StringField(_l("姓名或完整身份证号"), validators=[Length(max=40)])
