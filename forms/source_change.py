"""The recording unit's report of a revoked or changed 认定文书 (认定文书撤销或变更), pre-filled with the record."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.models import CATEGORIES, SEVERITIES
from processes.source_change.service import KINDS, MAX_REASON


class SourceChangeForm(FlaskForm):
    kind = SelectField(_l("撤销或变更"), choices=[("", _l("请选择"))] + list(KINDS.items()),
                       validators=[DataRequired(_l("请选择撤销或变更。"))])
    change_doc_no = StringField(_l("撤销或变更文书的文号"), validators=[DataRequired(_l("请填写文号。")), Length(max=80)])
    change_doc_date = StringField(_l("文书日期（YYYY-MM-DD）"), validators=[DataRequired(_l("请填写文书日期。"))])
    reason = TextAreaField(_l("撤销或变更的理由"), validators=[DataRequired(_l("请填写理由。")), Length(max=MAX_REASON)])
    category = SelectField(_l("失信类别"), choices=list(CATEGORIES.items()))
    severity = SelectField(_l("失信程度"), choices=list(SEVERITIES.items()))
    basis_doc_no = StringField(_l("认定文书号"), validators=[Length(max=80)])
    basis_date = StringField(_l("认定日期（YYYY-MM-DD）"))
    facts = TextAreaField(_l("失信事实"), validators=[Length(max=4000)])
    legal_basis = TextAreaField(_l("法律依据"), validators=[Length(max=4000)])
    document = FileField(_l("撤销或变更的文书（PDF、OFD 或图片）"))
    statement = TextAreaField(_l("补正说明"), validators=[Length(max=4000)])

    def values(self) -> dict:
        """What the service checks: the kind, the new document, the reason and (for a change) the new values."""
        names = ["kind", "change_doc_no", "change_doc_date", "reason"]
        if self.kind.data == "correct":
            names += ["category", "severity", "basis_doc_no", "basis_date", "facts", "legal_basis"]
        return {name: getattr(self, name).data or "" for name in names}
