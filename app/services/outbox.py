"""The outbox: side effects outside the database (e-mail, pushes) delivered after commit, retried, never doubled.

A row is claimed with a conditional UPDATE (only one worker can win it), delivered outside any
transaction, then marked delivered. A worker killed in between leaves a claim that expires, so
the row is tried again; receivers get the idempotency key to drop a repeat.
"""
from __future__ import annotations

import json
import re
import smtplib
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db, execute_plain
from app.models import MESSAGE_IS_PENDING, OutboxMessage
from app.services import audit
from app.core.clock import now
from app.core.faults import fault_point

CLAIM_LEASE = timedelta(minutes=5)
HANDLERS: dict[str, Callable[[OutboxMessage], None]] = {}


def enqueue(kind: str, key: str, payload: dict) -> None:
    """Queue a side effect in the caller's transaction; the same key twice is one message."""
    enqueue_many(kind, [(key, payload)])


def enqueue_many(kind: str, messages: list[tuple[str, dict]]) -> None:
    """Queue side effects of one kind, (idempotency key, payload) each, in one INSERT; a key already queued (or
    twice in the list) is one message."""
    if not messages:
        return
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    at = now()
    execute_plain(
        insert(OutboxMessage.__table__).on_conflict_do_nothing(index_elements=["idempotency_key"]),
        [{"kind": kind, "idempotency_key": key, "payload": payload, "status": "pending", "attempts": 0,
          "next_attempt_at": at, "created_at": at, "last_error": ""} for key, payload in messages])


def handler(kind: str):
    """Register the delivery function of a message kind."""
    def register(fn):
        HANDLERS[kind] = fn
        return fn
    return register


def backoff(attempts: int) -> timedelta:
    """Wait 1, 2, 4 … minutes between tries, at most an hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


# A literal, as MESSAGE_IS_PENDING: the partial index of expired claims (ix_outbox_sending_claimed) needs it.
MESSAGE_IS_SENDING = OutboxMessage.status == literal_column("'sending'")


def _claimable():
    current = now()
    return or_(
        and_(MESSAGE_IS_PENDING, OutboxMessage.next_attempt_at <= current),
        and_(MESSAGE_IS_SENDING, OutboxMessage.claimed_until < current),
    )


def claim(message_id: int) -> bool:
    """Take one message for delivery; False when another worker has it (commits the claim)."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, _claimable())
        .values(status="sending", claimed_until=now() + CLAIM_LEASE, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def due_ids(limit: int) -> list[int]:
    """Ids of messages ready for (re)delivery, oldest first; claim() decides who delivers each."""
    query = select(OutboxMessage.id).where(_claimable()).order_by(OutboxMessage.next_attempt_at).limit(limit)
    ids = list(db.session.scalars(query))
    db.session.commit()
    return ids


def deliver_one(message_id: int) -> str:
    """Claim, deliver and record one message; return delivered, retry, failed or skipped."""
    if not claim(message_id):
        return "skipped"
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    try:
        HANDLERS[message.kind](message)
    except Exception as exc:  # any delivery failure is recorded and retried, never raised
        db.session.rollback()
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        give_up = message.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]
        message.status = "failed" if give_up else "pending"
        message.claimed_until = None
        message.next_attempt_at = now() + backoff(message.attempts)
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        return "failed" if give_up else "retry"
    fault_point("outbox.after_send")
    message.status, message.delivered_at, message.claimed_until, message.last_error = "delivered", now(), None, ""
    db.session.commit()
    return "delivered"


def retry_failed(message_id: int) -> bool:
    """Put a failed message back in the queue for a fresh round of tries (admin action); False for any other status.

    Only a failed row changes (a delivered one is never sent twice); its tries so far and last error go to the audit
    event, since the row starts counting again.
    """
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status != "failed":
        return False
    before = {"attempts": message.attempts, "last_error": message.last_error}
    result = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == "failed")
        .values(status="pending", next_attempt_at=now(), attempts=0)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.refresh(message)
    audit.record("outbox.retry", object_type="outbox", object_id=message_id, details=before)
    return True


PUSH_ACTIONS = {"publish": _l("公示推送"), "update": _l("更新推送"), "withdraw": _l("撤回公示"), "revoke": _l("撤销记录")}


def describe(message: OutboxMessage) -> str:
    """What a message is, in words: 撤回公示：记录 12（随财罚〔2026〕3号）, 邮件通知：【超期】… → 收件人."""
    payload = message.payload or {}
    if message.kind == "push":
        action = PUSH_ACTIONS.get(payload.get("action"), payload.get("action") or "")
        return _("%(action)s：记录 %(record)s（%(doc)s）", action=action, record=payload.get("record_id", "—"),
                 doc=payload.get("basis_doc_no") or "—")
    if message.kind == "email":
        return _("邮件通知：%(subject)s → %(to)s", subject=payload.get("subject", ""), to=payload.get("to", ""))
    return message.kind


def explain_error(error: str) -> str:
    """The last delivery error in words (timeout, refused, HTTP status …); "" when there was none."""
    if not error:
        return ""
    kind, _sep, text = error.partition(": ")
    lowered = error.lower()
    status = re.search(r"HTTP(?: Error)? (\d{3})", error)
    if status:
        code = int(status.group(1))
        if code >= 500:
            return _("对方服务器出错（HTTP %(code)s），可稍后重试。", code=code)
        return _("对方拒收（HTTP %(code)s）：请核对推送地址、账号或所推数据后重试。", code=code)
    if "timeout" in kind.lower() or "timed out" in lowered:
        return _("连接超时：对方在 10 秒内没有响应。")
    if "refused" in lowered or kind == "ConnectionRefusedError":
        return _("连接被拒绝：对方地址上没有服务在运行，或被防火墙拦截。")
    if kind == "gaierror" or "name or service not known" in lowered:
        return _("找不到服务器：地址无法解析，请核对配置的服务器名称。")
    if kind.startswith("SMTP"):
        return _("邮件服务器拒收：%(text)s", text=text or kind)
    if "未配置" in error:
        return _("未配置：%(text)s", text=text)
    return _("其他错误：%(text)s", text=text or kind)


@handler("email")
def _send_email(message: OutboxMessage) -> None:
    cfg = current_app.config
    if not cfg.get("MAIL_SERVER"):
        raise RuntimeError("未配置邮件服务器 (MAIL_SERVER)")
    mail = EmailMessage()
    mail["From"] = cfg["MAIL_SENDER"]
    mail["To"] = message.payload["to"]
    mail["Subject"] = message.payload["subject"]
    # The idempotency key as Message-ID lets mail systems drop a repeat after a crash.
    mail["Message-ID"] = make_msgid(idstring=message.idempotency_key.replace(":", "."), domain="xinyong.local")
    mail.set_content(message.payload["body"])
    with smtplib.SMTP(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=10) as smtp:
        smtp.send_message(mail)


@handler("push")
def _push(message: OutboxMessage) -> None:
    url = current_app.config.get("PUSH_URL")
    if not url:
        raise RuntimeError("未配置省信用平台推送地址 (PUSH_URL)")
    request = urllib.request.Request(
        url, data=json.dumps(message.payload, ensure_ascii=False).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (configured URL)
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}")
