"""The repair application form (信用修复申请) of the credit repair."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length


class RepairForm(FlaskForm):
    statement = TextAreaField(_l("失信行为纠正及义务履行情况说明"), validators=[DataRequired(_l("请填写说明。")), Length(max=4000)])
    evidence = MultipleFileField(_l("已履行法定义务、纠正失信行为的证明材料（可多选）"))
    commitment = FileField(_l("信用承诺书（加盖公章后扫描上传）"))
