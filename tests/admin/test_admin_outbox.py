"""The outbox page in words (what each message is, why it failed) and its 重试 button: failed messages only, the
administrator only, audited, never a second send of a delivered one."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, OutboxMessage
from app.core.clock import now
from app.services import outbox


def message(key: str, status: str, *, error: str = "", attempts: int = 5, kind: str = "push",
            payload: dict | None = None) -> int:
    outbox.enqueue(kind, key, payload or {"action": "withdraw", "record_id": 7, "basis_doc_no": "随财罚〔2026〕3号"})
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    row.status, row.attempts, row.last_error = status, attempts, error
    row.delivered_at = now() if status == "delivered" else None
    db.session.commit()
    return row.id


def retries() -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.retry")).all()


def test_messages_and_errors_are_described(admin):
    message("push:a", "failed", error="URLError: <urlopen error [Errno 111] Connection refused>")
    message("email:b", "pending", attempts=2, error="TimeoutError: timed out", kind="email",
            payload={"to": "intake1@xinyong.example", "subject": "【超期】受理审查", "body": "x"})
    message("push:c", "failed", error="HTTPError: HTTP Error 503: Service Unavailable",
            payload={"action": "publish", "record_id": 8, "basis_doc_no": "随人社罚〔2026〕1号"})
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "撤回公示：记录 7（随财罚〔2026〕3号）" in page and "公示推送：记录 8（随人社罚〔2026〕1号）" in page
    assert "邮件通知：【超期】受理审查 → intake1@xinyong.example" in page
    assert "连接被拒绝" in page and "连接超时" in page and "对方服务器出错（HTTP 503）" in page
    assert page.count(">重试</button>") == 2  # the two failed ones, not the pending mail


def test_http_statuses_below_500_are_a_refusal():
    assert "对方拒收（HTTP 404）" in outbox.explain_error("HTTPError: HTTP Error 404: Not Found")
    assert "对方拒收（HTTP 302）" in outbox.explain_error("RuntimeError: HTTP 302")
    assert "对方服务器出错（HTTP 500）" in outbox.explain_error("HTTPError: HTTP Error 500: Internal Server Error")


def test_retry_puts_a_failed_message_back_and_audits_its_tries(admin):
    failed = message("push:a", "failed", error="TimeoutError: timed out")
    response = admin.post(f"/admin/outbox/{failed}/retry", form_page="/admin/outbox")
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(OutboxMessage, failed)
    assert (row.status, row.attempts) == ("pending", 0)
    [event] = retries()
    assert event.object_id == str(failed) and event.details == {"attempts": 5, "last_error": "TimeoutError: timed out"}
    assert event.username == "admin1"


def test_a_delivered_or_pending_message_cannot_be_retried(admin):
    delivered = message("push:d", "delivered")
    pending = message("push:p", "pending", attempts=1)
    for message_id in (delivered, pending, 999999):
        response = admin.post(f"/admin/outbox/{message_id}/retry", form_page="/admin/outbox", follow_redirects=True)
        assert response.status_code == 200 and "只有“失败”的消息可以重试。" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(OutboxMessage, delivered).status == "delivered"
    assert db.session.get(OutboxMessage, pending).attempts == 1
    assert retries() == []


def test_only_the_administrator_may_retry(browser):
    failed = message("push:a", "failed")
    for username in ("intake1", "approver1", "auditor1"):
        # A valid form token from a page the user may open: the refusal is the role's, not the token's.
        response = browser(username).post(f"/admin/outbox/{failed}/retry", form_page="/password")
        assert response.status_code == 404, username
    db.session.expire_all()
    assert db.session.get(OutboxMessage, failed).status == "failed" and retries() == []
