"""Forms every application page shares: uploading a file, and the CSRF-only action form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField

from app.services.attachments import KINDS


class UploadForm(FlaskForm):
    kind = SelectField(_l("材料类别"), choices=list(KINDS.items()))
    file = FileField(_l("文件"))


class ActionForm(FlaskForm):
    """An empty form that only carries the CSRF token (claim, release, logout)."""
