"""The objection form (异议申请) of the objection review."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from processes.objection_review.service import REASONS


class ObjectionForm(FlaskForm):
    reason = SelectField(_l("异议理由"), choices=[("", _l("请选择"))] + list(REASONS.items()),
                         validators=[DataRequired(_l("请选择异议理由。"))])
    statement = TextAreaField(_l("异议陈述"), validators=[DataRequired(_l("请填写异议陈述。")), Length(max=4000)])
    evidence = MultipleFileField(_l("证据材料（PDF、JPEG、PNG 或 OFD，可多选）"))
    commitment = FileField(_l("异议申诉信用承诺书（加盖公章后扫描上传）"))
