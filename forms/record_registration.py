"""The record entry form (失信记录登记) of the registration: subject, category, severity, 认定文书, facts, basis."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from app.models import CATEGORIES, SEVERITIES

SUBJECT_TYPES = (("unit", _l("单位")), ("person", _l("个人（公职人员）")))


class RecordForm(FlaskForm):
    """Field checks live in the service (the API and the import use the same); the form only carries the values."""
    subject_type = RadioField(_l("失信主体类型"), choices=SUBJECT_TYPES, default="unit")
    subject_unit_id = SelectField(_l("失信主体单位"), coerce=str, validators=[Optional()])
    person_name = StringField(_l("姓名"))
    person_id_number = StringField(_l("身份证号"))
    person_post = StringField(_l("职务"))
    person_unit_id = SelectField(_l("所在单位"), coerce=str, validators=[Optional()])
    category = SelectField(_l("失信类别"), choices=[("", _l("请选择"))] + list(CATEGORIES.items()))
    severity = SelectField(_l("失信程度"), choices=[("", _l("请选择"))] + list(SEVERITIES.items()))
    basis_doc_no = StringField(_l("认定文书号"))
    basis_date = StringField(_l("认定日期"))
    facts = TextAreaField(_l("失信事实"))
    legal_basis = TextAreaField(_l("法律依据"))
    document = FileField(_l("认定文书（PDF、OFD 或图片）"))

    def set_units(self, units) -> None:
        choices = [("", _l("请选择"))] + [(str(u.id), u.name) for u in units]
        self.subject_unit_id.choices = choices
        self.person_unit_id.choices = choices

    def values(self) -> dict:
        """The entry as the service reads it."""
        data = {"subject_type": self.subject_type.data, "category": self.category.data, "severity": self.severity.data,
                "basis_doc_no": self.basis_doc_no.data, "basis_date": self.basis_date.data, "facts": self.facts.data,
                "legal_basis": self.legal_basis.data}
        if self.subject_type.data == "person":
            data["person"] = {"name": self.person_name.data, "id_number": self.person_id_number.data,
                              "post": self.person_post.data, "unit_id": self.person_unit_id.data}
        else:
            data["subject_unit_id"] = self.subject_unit_id.data
        return data
