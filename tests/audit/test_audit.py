"""The audit log is hash-chained, and `flask audit verify` detects an edited or deleted row."""
from __future__ import annotations

from sqlalchemy import select, text

from app.extensions import db
from app.models import AuditEvent
from app.services import audit
from tests.support.flows import do_task, file_objection


def test_case_actions_and_logins_are_audited(api, seeded):
    case = file_objection(api)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"auth.login", "case.create", "attachment.upload", "case.status", "process.start", "task.claim",
            "task.complete", "record.status", "letter.issue"} <= actions
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "task.complete")
                              .order_by(AuditEvent.id.desc()).limit(1))
    assert event.username == "intake1" and event.unit_id and event.ip == "127.0.0.1" and event.outcome == "success"


def test_denials_are_audited(web, seeded):
    web().login("intake1", "wrong-password")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login",
                                                      AuditEvent.outcome == "failure")) is not None


def test_verify_detects_edit_and_delete(api, seeded, app):
    file_objection(api)
    checked, problems = audit.verify_chain()
    assert checked > 10 and problems == []
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

    victim = db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "case.create"))
    bypass_append_only_trigger()
    db.session.execute(text("UPDATE audit_event SET outcome = 'denied' WHERE id = :id"), {"id": victim})
    db.session.commit()
    _, problems = audit.verify_chain()
    assert any(str(victim) in p for p in problems)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "内容哈希不符" in result.output

    bypass_append_only_trigger()
    db.session.execute(text("UPDATE audit_event SET outcome = 'success' WHERE id = :id"), {"id": victim})
    db.session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": victim + 1})
    db.session.commit()
    _, problems = audit.verify_chain()
    assert any("前序哈希不符" in p for p in problems)


def bypass_append_only_trigger() -> None:
    """Tamper as a database superuser could: PostgreSQL's append-only trigger (migration 0009) is skipped."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
