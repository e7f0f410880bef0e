"""Evidence files: checked by content, stored outside the web root under generated ids."""
from __future__ import annotations

from app.i18n import chinese
from flask_babel import gettext as _, lazy_gettext as _l
import hashlib
import io
import math
import secrets
import struct
import unicodedata
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Attachment, Case, CaseEvent, HumanTask, User
from app.services import audit
from app.core.clock import now
from app.core.errors import Conflict, Invalid

KINDS = {"evidence": _l("证据材料"), "commitment": _l("信用承诺书"), "supplement": _l("补正材料"), "other": _l("其他材料"),
         "basis_document": _l("认定文书"), "change_document": _l("变更（撤销）文书")}
TYPE_LABELS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "application/ofd": "OFD"}


class TooManyEntries(ValueError):
    """A ZIP whose central directory holds more entries than the type check is willing to read."""


def sniff_type(head: bytes, data: bytes, *, max_zip_entries: int = 10_000) -> str | None:
    """Decide the type from magic bytes (never from the name or the client's claim).

    An OFD's check reads at most `max_zip_entries` directory entries and raises TooManyEntries beyond that.
    """
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"PK\x03\x04"):
        # OFD (GB/T 33190) is a ZIP container whose root holds OFD.xml.
        names = zip_entry_names(data, max_zip_entries)
        if names is not None and b"OFD.xml" in names:
            return "application/ofd"
    return None


_EOCD, _ZIP64_LOCATOR, _ZIP64_EOCD, _CENTRAL = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06", b"PK\x01\x02"


def zip_entry_names(data: bytes, limit: int) -> list[bytes] | None:
    """The raw names in a ZIP's central directory; None when it is not a readable ZIP.

    The walk stops at `limit` entries (TooManyEntries) whatever the end record claims, so a crafted archive
    with a huge directory costs at most `limit` small steps. The directory is located the way the ZIP format
    (APPNOTE 4.3.16, 4.3.14) places it: right before the end record, or before the ZIP64 end record.
    """
    # The end record is the last one whose comment runs exactly to the end of the data.
    lowest, before = max(0, len(data) - 22 - 65535), len(data)
    while True:
        end = data.rfind(_EOCD, lowest, before)
        if end < 0:
            return None
        if end + 22 <= len(data) and end + 22 + struct.unpack_from("<H", data, end + 20)[0] == len(data):
            break
        before = end + 3  # look further back, past this signature
    (cd_size,) = struct.unpack_from("<I", data, end + 12)
    directory_end = end
    if end >= 20 and data[end - 20:end - 16] == _ZIP64_LOCATOR:
        record = end - 20 - 56
        if record < 0 or data[record:record + 4] != _ZIP64_EOCD:
            return None
        (cd_size,) = struct.unpack_from("<Q", data, record + 40)
        directory_end = record
    offset = directory_end - cd_size
    if offset < 0:
        return None
    names: list[bytes] = []
    while offset < directory_end:
        if len(names) >= limit:
            raise TooManyEntries(limit)
        if offset + 46 > directory_end or data[offset:offset + 4] != _CENTRAL:
            return None
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        names.append(data[offset + 46:offset + 46 + name_len])
        offset += 46 + name_len + extra_len + comment_len
    return names


def display_name(filename: str) -> str:
    """Keep the original (e.g. Chinese) name as display text only: strip paths and control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:200] or "未命名文件"


def may_upload(user: User, case: Case) -> bool:
    """The applicant unit may add materials to a draft, during 补正, or while one of its tasks is open."""
    if not (user.has_role("applicant") and case.applicant_unit_id == user.unit_id):
        return False
    if case.status in ("draft", "supplement"):
        return True
    return db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case.id, HumanTask.status == "open",
                                                        HumanTask.lane == "applicant").limit(1)) is not None


def upload_limits() -> dict:
    """The limits the upload forms state (the same numbers store_attachment enforces)."""
    config = current_app.config
    return {"file_size": size_label(config["MAX_FILE_BYTES"]), "file_bytes": config["MAX_FILE_BYTES"],
            "case_files": config["MAX_FILES_PER_CASE"],
            "case_size": size_label(config["MAX_BYTES_PER_CASE"]), "per_request": config["MAX_FILES_PER_REQUEST"],
            "request_size": size_label(config["MAX_FILE_BYTES"] * config["MAX_FILES_PER_REQUEST"]),
            "draft_days": config["DRAFT_PURGE_AFTER_DAYS"]}


def too_large_message() -> str:
    """What a refused over-large request says: the limits the upload forms state."""
    limits = upload_limits()
    return _("本次提交的内容合计超过 %(request_size)s，未被接收，也未保存任何内容。每个文件不超过 %(file_size)s，一次最多提交 "
             "%(per_request)s 个这样大小的文件；文件较多时请分几次上传。", request_size=limits["request_size"],
             file_size=limits["file_size"], per_request=limits["per_request"])


def _path(attachment_id: str) -> Path:
    root = Path(current_app.config["FILE_STORE"])
    return root / "attachments" / attachment_id[:2] / attachment_id


def size_label(size: int, *, up: bool = False) -> str:
    """Bytes as "20 MB" or "4.5 KB" (one decimal at most); `up` rounds up, so a file just over a limit never
    reads as equal to it."""
    unit, name = (1024 * 1024, "MB") if size >= 1024 * 1024 else (1024, "KB")
    tenths = size * 10 / unit
    value = f"{(math.ceil(tenths) if up else round(tenths)) / 10:.1f}".removesuffix(".0")
    return f"{value} {name}"


def _read_at_most(source: bytes | BinaryIO, limit: int) -> tuple[bytes, int]:
    """The bytes of an upload, reading at most limit + 1 of a stream; and its size (beyond the limit, if seekable)."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), len(source)
    data = source.read(limit + 1)
    size = len(data)
    if size > limit:
        try:
            size = source.seek(0, io.SEEK_END)
        except (AttributeError, OSError, ValueError):
            pass
    return data, size


def store_attachment(user: User, case: Case, kind: str, filename: str, data: bytes | BinaryIO) -> Attachment:
    """Validate and store one file for a case; raises Invalid and stores nothing when it is refused.

    `data` is the file's bytes or a stream (an uploaded file), of which at most MAX_FILE_BYTES + 1 are read.
    Each refusal names the file and carries its `upload.refused` audit event (recorded once, after the
    rollback, by the layer that answers the request).
    """
    config = current_app.config
    name = display_name(filename)
    facts = {"case_id": case.id, "kind": kind, "filename": name}

    def refused(message: str, code: str, field: str, **details) -> Invalid:
        return Invalid(message, code=code, fields={"file": field}, audit_action="upload.refused",
                       audit_details={**facts, "code": code, **details})

    if kind not in KINDS:
        raise Invalid(_("材料类别不正确。"), code="bad_kind", fields={"kind": _("可选：") + _("、").join(KINDS)},
                      audit_action="upload.refused", audit_details={**facts, "code": "bad_kind"})
    limit = config["MAX_FILE_BYTES"]
    data, size = _read_at_most(data, limit)
    if not data:
        raise refused(_("文件“%(name)s”为空。", name=name), "empty", _("请选择文件。"), size=0)
    if size > limit:
        raise refused(_("文件“%(name)s”大小为 %(size)s，超过单个文件 %(limit)s 的上限，未接收。", name=name,
                        size=size_label(size, up=True), limit=size_label(limit)), "too_large", _("文件过大。"), size=size)
    try:
        content_type = sniff_type(data[:16], data, max_zip_entries=config["MAX_ZIP_ENTRIES"])
    except TooManyEntries:
        raise refused(_("文件“%(name)s”是内含超过 %(n)s 个条目的压缩包，不是有效的 OFD 文件，未接收。", name=name,
                        n=config["MAX_ZIP_ENTRIES"]), "too_many_entries", _("文件类型不允许。"), size=size,
                      type="application/zip") from None
    if content_type not in config["ALLOWED_UPLOAD_TYPES"]:
        raise refused(_("文件类型不允许：“%(name)s”按文件内容判断不是 PDF、JPEG、PNG 或 OFD 文件，仅接受这四种类型。", name=name),
                      "bad_type", _("文件类型不允许。"), size=size, type=content_type or "unknown")
    _check_case_caps(case, name, size, content_type, refused)
    attachment = Attachment(
        id=secrets.token_hex(16), case_id=case.id, kind=kind, display_name=name,
        content_type=content_type, size=size, sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=user.id, uploaded_at=now(),
    )
    path = _path(attachment.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written before commit under a fresh random id, so there is never a row without its file; a
    # rollback removes the file again (_forget_uncommitted_files), and only a crash leaves an orphan.
    path.write_bytes(data)
    db.session.info.setdefault(_UNCOMMITTED, []).append(path)
    db.session.add(attachment)
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="attachment_added",
                             comment=f"{chinese(KINDS[kind])}：{attachment.display_name}", details={"attachment_id": attachment.id}))
    audit.record("attachment.upload", object_type="attachment", object_id=attachment.id,
                 details={"case_id": case.id, "kind": kind, "size": size, "type": content_type})
    return attachment


def share_attachment(source: Attachment, case_ids: list[int], user: User) -> list[str]:
    """Give each case a copy of a stored attachment (same kind, name, type and hash) without storing the bytes again:
    each row's file is a hard link to the source's (a plain copy where the store cannot link), so deleting one
    case's file leaves the others. The bulk import shares its batch's 认定文书 this way. Rows and their
    ``attachment_added`` history are bulk-inserted; the caller audits the batch. Returns the new ids (flushes)."""
    from sqlalchemy import insert
    import os
    import shutil

    origin = _path(source.id)
    rows, events, written = [], [], db.session.info.setdefault(_UNCOMMITTED, [])
    label = chinese(KINDS[source.kind])
    at, folders = now(), set()
    for case_id in case_ids:
        new_id = secrets.token_hex(16)
        path = _path(new_id)
        if path.parent not in folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.add(path.parent)
        try:
            os.link(origin, path)
        except OSError:
            shutil.copyfile(origin, path)
        written.append(path)  # a rollback removes the links again (_forget_uncommitted_files)
        rows.append({"id": new_id, "case_id": case_id, "kind": source.kind, "display_name": source.display_name,
                     "content_type": source.content_type, "size": source.size, "sha256": source.sha256,
                     "uploaded_by_id": user.id, "uploaded_at": at})
        events.append({"case_id": case_id, "at": at, "user_id": user.id, "action": "attachment_added", "step": "",
                       "comment": f"{label}：{source.display_name}", "internal": False,
                       "details": {"attachment_id": new_id, "shared_from": source.id}})
    if rows:
        db.session.execute(insert(Attachment), rows)
        db.session.execute(insert(CaseEvent), events)
    return [row["id"] for row in rows]


def _check_case_caps(case: Case, name: str, size: int, content_type: str, refused) -> None:
    """Refuse a file that would take the case over its number or total size of files (stored + this request's)."""
    config = current_app.config
    # The audit chain's lock serializes writers (PostgreSQL; SQLite writes are serial anyway), so two uploads to
    # one case cannot both pass the count; it is taken first, as every audited transaction does (audit.lock_chain).
    audit.lock_chain()
    if db.session.scalar(select(Case.id).where(Case.id == case.id)) is None:  # a stale draft purged meanwhile
        raise Conflict(_("该草稿已因长期未提交被清理，材料未接收。"), code="draft_purged",
                       audit_action="upload.refused", audit_details={"case_id": case.id, "code": "draft_purged"})
    count, total = db.session.execute(
        select(func.count(Attachment.id), func.coalesce(func.sum(Attachment.size), 0)).where(Attachment.case_id == case.id)
    ).one()
    details = {"size": size, "type": content_type, "case_files": count, "case_bytes": int(total)}
    if count + 1 > config["MAX_FILES_PER_CASE"]:
        raise refused(_("本办件已有 %(count)s 个材料，达到每个办件 %(max)s 个的上限，文件“%(name)s”未接收。", count=count,
                        max=config["MAX_FILES_PER_CASE"], name=name),
                      "too_many_files", _("材料数量已达上限。"), **details)
    if total + size > config["MAX_BYTES_PER_CASE"]:
        raise refused(_("本办件材料合计将达 %(total)s，超过每个办件 %(limit)s 的上限，文件“%(name)s”未接收。",
                        total=size_label(total + size, up=True), limit=size_label(config["MAX_BYTES_PER_CASE"]),
                        name=name), "case_too_large", _("材料合计过大。"), **details)


_UNCOMMITTED = "attachment_files_uncommitted"
_DISCARDED = "attachment_files_discarded"


def discard_case_files(case_id: int) -> list[dict]:
    """Delete a case's attachment rows now and their files once the transaction commits (a rollback keeps both);
    return what was deleted (id, name, size, sha256) for the audit record."""
    rows = db.session.scalars(select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.uploaded_at))
    gone = [{"id": a.id, "name": a.display_name, "size": a.size, "sha256": a.sha256} for a in rows]
    db.session.info.setdefault(_DISCARDED, []).extend(_path(row["id"]) for row in gone)
    db.session.execute(delete(Attachment).where(Attachment.case_id == case_id))
    return gone


@event.listens_for(Session, "after_commit")
def _keep_committed_files(session: Session) -> None:
    session.info.pop(_UNCOMMITTED, None)
    for path in session.info.pop(_DISCARDED, []):
        path.unlink(missing_ok=True)


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted_files(session: Session, transaction) -> None:
    """Delete files written in a transaction that ended without commit (a refused application keeps nothing);
    keep files whose rows a rolled-back transaction meant to delete."""
    if transaction.parent is None:
        for path in session.info.pop(_UNCOMMITTED, []):
            path.unlink(missing_ok=True)
        session.info.pop(_DISCARDED, None)


def read_attachment(attachment: Attachment) -> bytes:
    """Return the stored bytes of an attachment."""
    return _path(attachment.id).read_bytes()
