"""The bulk import's forms (issue 12 §2): upload a spreadsheet with the batch's 认定文书, confirm the import."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class ImportUploadForm(FlaskForm):
    file = FileField(_l("导入文件（CSV 或 XLSX）"), validators=[FileRequired(_l("请选择要导入的 CSV 或 XLSX 文件。"))])
    document = FileField(_l("本批记录的认定文书（PDF、OFD 或图片，一个文件；新建记录时必填）"))


class ImportConfirmForm(FlaskForm):
    """Only the CSRF token: the staged file is named in the URL."""
