"""A transaction's audit events are sealed and written when it commits: in order, after the chain's head, in one
read of the head and one insert; dropped with a savepoint that rolls back; visible to the transaction's own reads."""
from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text

from app.extensions import db
from app.models import AuditEvent
from app.services import audit


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.fixture()
def statements(app):
    """The SQL statements run on the engine while the test's block runs (each one's text)."""
    seen: list[str] = []

    def listen(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    yield seen
    event.remove(db.engine, "before_cursor_execute", listen)


def test_events_of_a_transaction_are_written_at_its_commit_in_one_read_and_one_insert(app, statements):
    before = _count()
    db.session.commit()
    statements.clear()
    for n in range(3):
        audit.record("test.step", details={"n": n})
    recorded = list(statements)
    db.session.commit()
    at_commit = statements[len(recorded):]
    touching = [s for s in at_commit if "audit_event" in s]
    assert not any("audit_event" in s for s in recorded)  # nothing of the log is read or written before the commit
    reads = [s for s in touching if s.lstrip().upper().startswith("SELECT")]
    inserts = [s for s in touching if s.lstrip().upper().startswith("INSERT")]
    assert len(reads) == 1 and touching[0] is reads[0]  # the head, once, before the inserts
    # One plain INSERT for the three rows (executemany), on either database.
    assert len(inserts) == 1 and len(touching) == 2
    assert _count() == before + 3
    rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(3)).all()[::-1]
    assert [row.details["n"] for row in rows] == [0, 1, 2]
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert audit.verify_chain()[1] == []


@pytest.mark.postgres  # SQLite's write transaction is the chain's lock
def test_the_chain_lock_is_taken_once_per_transaction(app, statements):
    db.session.commit()
    statements.clear()
    audit.record("test.one")
    audit.lock_chain()
    audit.record("test.two")
    db.session.commit()
    assert sum("pg_advisory_xact_lock(7071001)" in s for s in statements) == 1
    statements.clear()
    audit.record("test.three")  # a new transaction takes it again
    db.session.commit()
    assert sum("pg_advisory_xact_lock(7071001)" in s for s in statements) == 1


def test_an_event_recorded_in_a_savepoint_that_rolls_back_is_dropped(app):
    db.session.commit()
    audit.record("test.kept_before")
    savepoint = db.session.begin_nested()
    audit.record("test.undone")
    inner = db.session.begin_nested()
    audit.record("test.undone_inner")
    inner.commit()  # released into the outer savepoint: undone with it
    savepoint.rollback()
    kept = db.session.begin_nested()
    audit.record("test.kept_released")
    kept.commit()
    audit.record("test.kept_after")
    db.session.commit()
    actions = _actions()
    assert actions[-3:] == ["test.kept_before", "test.kept_released", "test.kept_after"]
    assert "test.undone" not in actions and "test.undone_inner" not in actions
    assert audit.verify_chain()[1] == []


def test_a_rolled_back_transaction_writes_none_of_its_events(app):
    db.session.commit()
    before = _count()
    audit.record("test.lost")
    db.session.rollback()
    db.session.commit()
    assert _count() == before and "test.lost" not in _actions()


def test_a_transaction_reading_the_log_sees_its_own_events(app):
    db.session.commit()
    audit.record("test.seen", object_type="case", object_id=7)
    found = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "test.seen"))
    assert found is not None and found.object_id == "7" and found.id is not None
    audit.record("test.after_read")
    db.session.commit()
    assert _actions()[-2:] == ["test.seen", "test.after_read"]
    assert audit.verify_chain()[1] == []


@pytest.mark.postgres
def test_a_savepoint_rolled_back_after_taking_the_lock_lets_the_next_record_take_it_again(app):
    db.session.commit()
    held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7071001 "
                "AND pid = pg_backend_pid() AND granted")
    savepoint = db.session.begin_nested()
    audit.record("test.undone")
    assert db.session.scalar(held) == 1
    savepoint.rollback()
    assert db.session.scalar(held) == 0  # the savepoint's rollback released it
    audit.record("test.kept")
    assert db.session.scalar(held) == 1  # and the next record took it again
    db.session.commit()
    assert _actions()[-1] == "test.kept"


def test_a_read_of_the_log_inside_a_savepoint_leaves_the_events_to_the_commit(app):
    db.session.commit()
    audit.record("test.before_savepoint")
    savepoint = db.session.begin_nested()
    db.session.scalar(select(func.count()).select_from(AuditEvent))  # a read here must not write them in it
    savepoint.rollback()
    db.session.commit()
    assert _actions()[-1] == "test.before_savepoint"
