"""Forms every application page shares: uploading a file, and the CSRF-only action form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField

from app.services.attachments import KINDS


class UploadForm(FlaskForm):
    kind = SelectField(_l("材料类别"), choices=list(KINDS.items()))
    file = FileField(_l("文件"))


class ActionForm(FlaskForm):
    """An empty form that only carries the CSRF token (claim, release, logout)."""


class DeliveryForm(FlaskForm):
    """The office enters a letter's delivery made outside the app (the service checks the values)."""
    delivered_on = StringField(_l("送达日期"))
    delivery_method = SelectField(_l("送达方式"), choices=[("post", _l("邮寄")), ("direct", _l("直接送达")),
                                                          ("other", _l("其他"))])
    delivery_note = StringField(_l("说明"))


class ExtensionDecisionForm(FlaskForm):
    """The office's answer to a recording unit's request to extend an objection's 核查 (the service checks it)."""
    decision = SelectField(_l("审批意见"), choices=[("approve", _l("同意延长")), ("refuse", _l("不同意延长"))])
    comment = StringField(_l("意见说明"))
