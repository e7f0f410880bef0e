"""Bulk import of dishonesty records (issue 12 §2), the part that knows spreadsheets, not records.

Reading: an uploaded XLSX (openpyxl, read-only; the first sheet) or CSV (UTF-8 with or without BOM, else GB18030:
tried in that order) whose first row is exactly :data:`HEADERS`. Blank rows and rows whose 主体类型 begins with
“示例” (the template's example row) are skipped; every other row is returned with its spreadsheet row number.

Staging (the page's preview → confirm without uploading twice): the uploaded bytes — the spreadsheet and the batch's
认定文书 — are kept under ``FILE_STORE/imports/<random id>/`` with the user's id and the spreadsheet's SHA-256. Only
that user reaches them (anyone else: NotFound); confirming re-reads them and checks the hash; they are deleted once
imported, and any left behind are swept after a day.

The checks and the writing live in the registration slice (``processes/record_registration/record_import.py``): the
service layer may not import a slice (tests/test_layering.py), and the row checks are the slice's ``prepare``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.core.clock import now
from app.core.errors import Invalid, NotFound, ServiceError
from app.extensions import db
from app.models import CATEGORIES, SEVERITIES, CreditRecord, RecordImport, User
from app.services.attachments import display_name

HEADERS = ("主体类型", "统一社会信用代码", "姓名", "身份证号", "职务", "失信类别", "失信程度", "认定文书号", "认定日期",
           "失信事实", "法律依据")
DATE_COLUMN = HEADERS.index("认定日期")
SUBJECT_TYPES = {"单位": "unit", "个人": "person"}
EXAMPLE_MARK = "示例"
MAX_ROWS = 20_000
MAX_XLSX_UNPACKED = 200 * 1024 * 1024  # 20,000 full rows unpack to well under 50 MB
STAGE_TTL_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

EXAMPLE = ("示例：单位", "11421300MB1234567X", "", "", "", "行政处罚", "一般", "随财罚〔2026〕12号", "2026-05-01",
           "未按规定用途使用专项资金 120 万元。", "《财政违法行为处罚处分条例》第十四条")
EXPLANATIONS = (
    ("主体类型", "必填", "“单位”或“个人”（公职人员）。以“示例”开头的行不导入。"),
    ("统一社会信用代码", "必填", "失信单位的统一社会信用代码；主体为个人时，填其所在单位的代码。18 位，含校验位。"),
    ("姓名", "个人必填", "主体为个人时填写；主体为单位时留空。"),
    ("身份证号", "个人必填", "18 位居民身份证号码（含校验位），加密保存，仅显示脱敏号码。"),
    ("职务", "个人必填", "主体为个人时填写其现任职务。"),
    ("失信类别", "必填", "、".join(str(v) for v in CATEGORIES.values()) + "，填中文名称。"),
    ("失信程度", "必填", "、".join(str(v) for v in SEVERITIES.values()) + "，填中文名称。"),
    ("认定文书号", "必填", "认定文书的文号，不超过 80 字。本单位同一文号、同一主体只登记一次（再次导入视为已存在）。"),
    ("认定日期", "必填", "YYYY-MM-DD，如 2026-05-01；不早于 2014-01-01，不晚于今天。"),
    ("失信事实", "必填", "不超过 4000 字。"),
    ("法律依据", "必填", "认定所依据的法律法规条款。"),
)


class ImportRejected(Invalid):
    """A file with bad rows: nothing was written. ``rows`` lists each bad row and column with its reason."""

    code = "import_rejected"

    def __init__(self, message: str, rows: list[dict], **kw):
        # The API answers them inside its error object: {"error": {"code", "message", "rows": [...]}}.
        super().__init__(message, extra={"rows": rows}, **kw)
        self.rows = rows


@dataclass(frozen=True)
class SheetRow:
    number: int  # the row's number in the spreadsheet (the header is row 1)
    cells: dict  # header -> text (认定日期 may be a date from an XLSX cell)


def _cell(value, column: int):
    if value is None:
        return ""
    if column == DATE_COLUMN and isinstance(value, (date, datetime)):
        # A spreadsheet's date cell is a calendar day (naive), not an instant: keep the day as written.
        return date(value.year, value.month, value.day) if isinstance(value, datetime) else value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _check_header(header) -> None:
    found = tuple(str(c or "").strip().lstrip("\ufeff") for c in header)
    while found and not found[-1]:
        found = found[:-1]
    if found != HEADERS:
        raise Invalid(_("表头不正确：第 1 行应依次为 %(expected)s（请使用下载的模板）。", expected="、".join(HEADERS)),
                      code="bad_header", fields={"file": _("表头不正确")})


def _rows(lines) -> list[SheetRow]:
    iterator = iter(lines)
    header = next(iterator, None)
    if header is None:
        raise Invalid(_("文件为空，没有表头和数据行。"), code="empty_file", fields={"file": _("文件为空")})
    _check_header(header)
    out = []
    for number, raw in enumerate(iterator, start=2):
        values = [_cell(raw[i] if i < len(raw) else None, i) for i in range(len(HEADERS))]
        extra = [c for c in raw[len(HEADERS):] if str(c or "").strip()]
        if not any(values) and not extra:
            continue
        if isinstance(values[0], str) and values[0].startswith(EXAMPLE_MARK):
            continue
        if len(out) >= MAX_ROWS:
            raise Invalid(_("一次最多导入 %(max)s 行，请分批导入。", max=MAX_ROWS), code="too_many_rows",
                          fields={"file": _("行数过多")})
        out.append(SheetRow(number, dict(zip(HEADERS, values))))
    return out


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid(_("无法识别文件编码，请将 CSV 保存为 UTF-8 或 GB18030（GBK）编码。"), code="bad_encoding",
                  fields={"file": _("编码无法识别")})


def read_sheet(data: bytes) -> list[SheetRow]:
    """The data rows of an uploaded spreadsheet (XLSX by its content, else CSV); Invalid for an unreadable file."""
    if not data:
        raise Invalid(_("文件为空，没有表头和数据行。"), code="empty_file", fields={"file": _("文件为空")})
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    if b"\x00" in data:
        raise Invalid(_("文件不是 CSV 或 XLSX 表格。"), code="bad_file", fields={"file": _("文件类型不正确")})
    text = _decode(data)
    try:
        return _rows(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise Invalid(_("无法读取该 CSV 文件（引号不成对或某一格过长），请用下载的模板另存为 CSV 后重试。"),
                      code="bad_file", fields={"file": _("无法读取")}) from None


def _unreadable_xlsx() -> Invalid:
    return Invalid(_("无法读取该 XLSX 文件，请用下载的模板另存为 .xlsx 后重试。"), code="bad_file",
                   fields={"file": _("无法读取")})


def _read_xlsx(data: bytes) -> list[SheetRow]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            # A workbook is a ZIP: refuse one that would unpack to far more than any real import (a ZIP bomb).
            if sum(info.file_size for info in archive.infolist()) > MAX_XLSX_UNPACKED:
                raise Invalid(_("该 XLSX 文件解压后过大，不像一份记录清单，未读取。"), code="bad_file",
                              fields={"file": _("文件过大")})
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ServiceError:
        raise
    except Exception:  # noqa: BLE001 - any unreadable workbook is the same refusal
        raise _unreadable_xlsx() from None
    try:
        if not book.worksheets:
            raise _unreadable_xlsx()
        return _rows(book.worksheets[0].iter_rows(values_only=True))
    except ServiceError:
        raise
    except Exception:  # noqa: BLE001 - a sheet that breaks while being read
        raise _unreadable_xlsx() from None
    finally:
        book.close()


# --- the template ----------------------------------------------------------------------------------------------

def template_csv() -> bytes:
    """The CSV template: UTF-8 with BOM (Excel opens it), the header row and the example row."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerow(EXAMPLE)
    return buffer.getvalue().encode("utf-8")


def template_xlsx() -> bytes:
    """The XLSX template: sheet 失信记录 (header, example row, text-formatted cells) and sheet 填写说明."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "失信记录"
    sheet.append(list(HEADERS))
    sheet.append(list(EXAMPLE))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = (12, 22, 10, 22, 14, 12, 10, 24, 14, 40, 40)
    for index, width in enumerate(widths):
        letter = chr(ord("A") + index)
        sheet.column_dimensions[letter].width = width
        # Text cells: Excel would turn an 18-digit code into a rounded number and 2026-05-01 into a serial.
        for row in range(2, 1002):
            sheet[f"{letter}{row}"].number_format = "@"
    sheet.freeze_panes = "A2"
    notes = book.create_sheet("填写说明")
    notes.append(["列", "是否必填", "说明"])
    for line in EXPLANATIONS:
        notes.append(list(line))
    notes.append([])
    notes.append(["", "", "一个文件全部行检查无误才导入，任何一行有误则整份文件不导入；同一文件再次导入不会重复登记。"])
    notes.append(["", "", "导入的记录与逐条录入的相同：作为待审核记录报送信用办审核，审核通过后登记、告知、公示。"])
    for letter, width in (("A", 18), ("B", 10), ("C", 90)):
        notes.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- staging the uploaded files between preview and confirmation -----------------------------------------------

@dataclass(frozen=True)
class Staged:
    token: str
    filename: str
    data: bytes
    sha256: str
    document_name: str | None
    document: bytes | None


def _stage_root() -> Path:
    return Path(current_app.config["FILE_STORE"]) / "imports"


def _sweep(root: Path) -> None:
    cutoff = time.time() - STAGE_TTL_SECONDS
    for path in root.iterdir() if root.exists() else ():
        try:
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def stage(user: User, filename: str, data: bytes, document_name: str | None, document: bytes | None) -> Staged:
    """Keep an uploaded spreadsheet (and the batch's 认定文书) for this user until confirmed; return its handle."""
    if not data:
        raise Invalid(_("请选择要导入的 CSV 或 XLSX 文件。"), code="missing_file", fields={"file": _("请选择文件")})
    root = _stage_root()
    _sweep(root)
    token = secrets.token_hex(16)
    folder = root / token
    folder.mkdir(parents=True)
    (folder / "file").write_bytes(data)
    if document:
        (folder / "document").write_bytes(document)
    meta = {"user_id": user.id, "filename": display_name(filename), "sha256": hashlib.sha256(data).hexdigest(),
            "document_name": display_name(document_name or "") if document else None, "at": now().isoformat()}
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return Staged(token, meta["filename"], data, meta["sha256"], meta["document_name"], document)


def staged(user: User, token: str) -> Staged:
    """A file this user staged (NotFound for another user's, a swept one or a forged handle)."""
    folder = _stage_root() / token if _TOKEN.match(token or "") else None
    if folder is None or not (folder / "meta.json").is_file():
        raise NotFound(_("待导入的文件已过期或不存在，请重新上传。"))
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if meta.get("user_id") != user.id:
        raise NotFound(_("待导入的文件已过期或不存在，请重新上传。"))
    data = (folder / "file").read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise Invalid(_("待导入的文件已损坏（SHA-256 不符），请重新上传。"), code="staged_changed")
    document = (folder / "document").read_bytes() if (folder / "document").is_file() else None
    return Staged(token, meta["filename"], data, meta["sha256"], meta.get("document_name"), document)


def discard(token: str) -> None:
    if _TOKEN.match(token or ""):
        shutil.rmtree(_stage_root() / token, ignore_errors=True)


# --- past imports -------------------------------------------------------------------------------------------------

def imports_of(user: User, limit: int = 100) -> list[RecordImport]:
    """The imports of the user's unit, newest first."""
    return list(db.session.scalars(select(RecordImport).where(RecordImport.unit_id == user.unit_id)
                                   .order_by(RecordImport.id.desc()).limit(limit)))


def get_import(user: User, import_id: int) -> RecordImport:
    """One import of the user's unit (NotFound for another unit's)."""
    row = db.session.get(RecordImport, import_id)
    if row is None or row.unit_id != user.unit_id or not user.has_role("verifier"):
        raise NotFound()
    return row


def records_of(row: RecordImport, limit: int = 1000) -> list[CreditRecord]:
    """The records an import created, in file order."""
    return list(db.session.scalars(select(CreditRecord).where(CreditRecord.import_id == row.id)
                                   .order_by(CreditRecord.id).limit(limit)))
