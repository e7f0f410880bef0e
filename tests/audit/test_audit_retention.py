"""Audit retention: `flask audit archive` keeps six months at least, moves older events to a verified file,
leaves the remaining chain verifiable from an anchor, and `flask audit verify-archive` detects a tampered file."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import AuditEvent
from app.models.audit import AuditLogImmutable
from app.services import audit
from app.services.audit import chain
from app.core import clock
from tests.support.constants import T0
from tests.support.pg import assert_refused
from tests.support import factories

TODAY = T0.date()  # 2026-11-27 in Beijing as well


def tamper(sql: str, **params) -> None:
    """Change audit rows behind the application's back, as a database administrator could."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))  # skips the append-only trigger
    db.session.execute(text(sql), params)
    db.session.commit()


def history(*batches: tuple[int, int]) -> list[list[int]]:
    """Record (days ago, how many) batches of events, oldest first; return their ids per batch."""
    ids = []
    for days_ago, how_many in batches:
        with clock.frozen_at(T0 - timedelta(days=days_ago)):
            ids.append([factories.audit_event("auth.login", details={"n": n, "days_ago": days_ago},
                                            actor=audit.Actor(username=f"u{days_ago}", ip="10.0.0.1")).id
                        for n in range(how_many)])
    db.session.commit()
    return ids


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def archive(app, before, out):
    return app.test_cli_runner().invoke(args=["audit", "archive", "--before", str(before), "--out", str(out)])


def test_archive_refuses_dates_inside_the_retention_period(app, tmp_path):
    history((400, 3), (0, 2))
    for before in (TODAY, TODAY - timedelta(days=364)):
        result = archive(app, before, tmp_path / "a.jsonl")
        assert result.exit_code != 0 and "只能归档 2025-11-27 之前的审计事件（保存期限 365 天）" in result.output
    assert count() == 5 + 2 and not (tmp_path / "a.jsonl").exists()
    refusals = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.archive")).all()
    assert [r.outcome for r in refusals] == ["denied", "denied"] and refusals[0].details["code"] == "too_recent"
    assert audit.verify_chain()[1] == []


def test_retention_shorter_than_six_months_is_refused(app, tmp_path, monkeypatch):
    history((400, 3))
    monkeypatch.setitem(app.config, "AUDIT_RETENTION_DAYS", 182)
    result = archive(app, TODAY - timedelta(days=390), tmp_path / "a.jsonl")
    assert result.exit_code != 0 and "至少应为 183 天" in result.output
    assert count() == 3 + 1  # the refusal is on record, nothing left
    monkeypatch.setitem(app.config, "AUDIT_RETENTION_DAYS", 183)
    assert archive(app, TODAY - timedelta(days=390), tmp_path / "a.jsonl").exit_code == 0


def test_archive_then_verify(app, tmp_path):
    (old, older_kept, recent) = history((500, 4), (300, 3), (0, 2))
    out = tmp_path / "audit-2025.jsonl"
    result = archive(app, TODAY - timedelta(days=400), out)
    assert result.exit_code == 0, result.output
    assert "已归档 4 条审计事件" in result.output

    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in lines] == old and lines[0]["prev_hash"] == chain.GENESIS
    assert all(len(row["hash"]) == 64 and row["action"] == "auth.login" for row in lines)
    remaining = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
    assert remaining[:5] == older_kept + recent and len(remaining) == 6  # plus the anchor event
    anchor = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.archived")).one()
    assert anchor.details["through_id"] == old[-1] and anchor.details["count"] == 4
    assert anchor.details["last_hash"] == lines[-1]["hash"]
    assert db.session.get(AuditEvent, older_kept[0]).prev_hash == lines[-1]["hash"]

    assert audit.verify_chain() == (6, [])
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    checked = runner.invoke(args=["audit", "verify-archive", str(out)])
    assert checked.exit_code == 0 and "已校验归档事件 4 条，发现问题 0 处" in checked.output

    # A second archive continues from the first anchor; both files verify in order.
    out2 = tmp_path / "audit-2026.jsonl"
    clock.set_frozen(T0 + timedelta(days=200))
    assert archive(app, TODAY - timedelta(days=200), out2).exit_code == 0
    second = [json.loads(line) for line in out2.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in second] == older_kept and second[0]["prev_hash"] == lines[-1]["hash"]
    assert audit.verify_chain()[1] == []
    assert runner.invoke(args=["audit", "verify-archive", str(out), str(out2)]).exit_code == 0
    assert runner.invoke(args=["audit", "verify-archive", str(out2)]).exit_code == 0


def test_nothing_to_archive_and_no_overwrite(app, tmp_path):
    history((10, 2))
    result = archive(app, TODAY - timedelta(days=400), tmp_path / "a.jsonl")
    assert result.exit_code != 0 and "没有早于 2025-10-23 的审计事件" in result.output
    history((500, 1))  # an old time on a new id: the younger rows before it keep it in the chain
    result = archive(app, TODAY - timedelta(days=400), tmp_path / "a.jsonl")
    assert result.exit_code != 0 and "没有早于" in result.output
    existing = tmp_path / "b.jsonl"
    existing.write_text("keep", encoding="utf-8")
    result = archive(app, TODAY - timedelta(days=400), existing)
    assert result.exit_code != 0 and "已存在" in result.output and existing.read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize("how", ["edit", "drop_line", "rehash", "append"])
def test_a_tampered_archive_is_detected(app, tmp_path, how):
    history((500, 5), (0, 1))
    out = tmp_path / "a.jsonl"
    assert archive(app, TODAY - timedelta(days=400), out).exit_code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    if how == "edit":
        rows[2]["outcome"] = "failure"
    elif how == "drop_line":
        del rows[2]
    elif how == "rehash":  # a forger recomputes every hash after the edit: the anchor still disagrees
        rows[2]["username"] = "someone-else"
        prev = chain.GENESIS
        for row in rows:
            row["prev_hash"] = prev
            row["hash"] = prev = chain._digest(prev, {k: row[k] for k in chain._FIELDS})
    elif how == "append":
        rows.append(dict(rows[-1], id=rows[-1]["id"] + 1000))
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["audit", "verify-archive", str(out)])
    assert result.exit_code == 1
    expected = {"edit": "内容哈希不符", "drop_line": "前序哈希不符", "rehash": "没有与之对应的归档记录",
                "append": "前序哈希不符"}[how]
    assert expected in result.output, result.output


def test_deleting_the_oldest_remaining_row_after_an_archive_is_detected(app, tmp_path):
    (_old, kept) = history((500, 3), (0, 3))
    assert archive(app, TODAY - timedelta(days=400), tmp_path / "a.jsonl").exit_code == 0
    tamper("DELETE FROM audit_event WHERE id = :id", id=kept[0])
    _, problems = audit.verify_chain()
    assert any(f"事件 {kept[1]}：前序哈希不符" in p for p in problems)


def test_a_row_older_than_the_anchor_is_detected(app, tmp_path):
    (old, _kept) = history((500, 3), (0, 2))
    out = tmp_path / "a.jsonl"
    assert archive(app, TODAY - timedelta(days=400), out).exit_code == 0
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    # Someone puts an archived row back with its original id: it predates the anchor.
    db.session.execute(AuditEvent.__table__.insert().values(
        id=old[0], at=T0 - timedelta(days=500), user_id=None, username=first["username"], unit_id=None, ip=first["ip"],
        action=first["action"], object_type="", object_id="", outcome=first["outcome"], details=first["details"],
        prev_hash=first["prev_hash"], hash=first["hash"]))
    db.session.commit()
    _, problems = audit.verify_chain()
    assert any("应已归档移出" in p for p in problems)


def test_the_orm_never_changes_or_removes_an_event(app):
    event = factories.audit_event("auth.login")
    db.session.commit()
    event.outcome = "failure"
    with pytest.raises(AuditLogImmutable):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, event.id))
    with pytest.raises(AuditLogImmutable):
        db.session.flush()
    db.session.rollback()
    assert audit.verify_chain() == (1, [])


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_except_the_archival_purge(app, tmp_path):
    history((500, 2), (0, 1))
    assert_refused(("UPDATE audit_event SET outcome = 'failure'", "DELETE FROM audit_event WHERE id = 1"),
                   "append-only")
    # The purge setting lets a DELETE through in its own transaction only, and never an UPDATE.
    assert_refused(("UPDATE audit_event SET outcome = 'failure'",), "append-only",
                   first="SELECT set_config('xinyong.audit_purge', 'on', true)")
    assert_refused(("DELETE FROM audit_event WHERE id = 1",), "append-only")  # a new transaction: setting gone
    assert count() == 3
    assert archive(app, TODAY - timedelta(days=400), tmp_path / "a.jsonl").exit_code == 0
    assert count() == 2 and audit.verify_chain()[1] == []
