"""Evidence files: checked by content, stored outside the web root under generated ids."""
from __future__ import annotations

from app.i18n import chinese
from flask_babel import gettext as _, lazy_gettext as _l
import hashlib
import io
import secrets
import unicodedata
import zipfile
from pathlib import Path

from flask import current_app

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Attachment, Case, CaseEvent, HumanTask, User
from app.services import audit
from app.services.clock import now
from app.services.errors import Invalid

KINDS = {"evidence": _l("证据材料"), "commitment": _l("信用承诺书"), "supplement": _l("补正材料"), "other": _l("其他材料")}
TYPE_LABELS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "application/ofd": "OFD"}


def sniff_type(head: bytes, data: bytes) -> str | None:
    """Decide the type from magic bytes (never from the name or the client's claim)."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"PK\x03\x04"):
        # OFD (GB/T 33190) is a ZIP container whose root holds OFD.xml.
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if "OFD.xml" in zf.namelist():
                    return "application/ofd"
        except zipfile.BadZipFile:
            return None
    return None


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


def _path(attachment_id: str) -> Path:
    root = Path(current_app.config["FILE_STORE"])
    return root / "attachments" / attachment_id[:2] / attachment_id


def store_attachment(user: User, case: Case, kind: str, filename: str, data: bytes) -> Attachment:
    """Validate and store one file for a case; raises Invalid and stores nothing when it is refused."""
    if kind not in KINDS:
        raise Invalid(_("材料类别不正确。"), fields={"kind": _("可选：") + _("、").join(KINDS)})
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if not data:
        raise Invalid(_("文件为空。"), fields={"file": _("请选择文件。")})
    if len(data) > limit:
        raise Invalid(_("文件超过 %(mb)s MB 上限。", mb=limit // (1024 * 1024)), code="too_large", fields={"file": _("文件过大。")})
    content_type = sniff_type(data[:16], data)
    if content_type not in current_app.config["ALLOWED_UPLOAD_TYPES"]:
        raise Invalid(_("文件类型不允许：仅接受 PDF、JPEG、PNG 或 OFD 文件（按文件内容判断）。"), code="bad_type",
                      fields={"file": _("文件类型不允许。")})
    attachment = Attachment(
        id=secrets.token_hex(16), case_id=case.id, kind=kind, display_name=display_name(filename),
        content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
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
                 details={"case_id": case.id, "kind": kind, "size": len(data), "type": content_type})
    return attachment


_UNCOMMITTED = "attachment_files_uncommitted"


@event.listens_for(Session, "after_commit")
def _keep_committed_files(session: Session) -> None:
    session.info.pop(_UNCOMMITTED, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted_files(session: Session, transaction) -> None:
    """Delete files written in a transaction that ended without commit (a refused application keeps nothing)."""
    if transaction.parent is None:
        for path in session.info.pop(_UNCOMMITTED, []):
            path.unlink(missing_ok=True)


def read_attachment(attachment: Attachment) -> bytes:
    """Return the stored bytes of an attachment."""
    return _path(attachment.id).read_bytes()
