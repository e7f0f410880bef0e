"""SQLite readers do not block (issue 15 point 8): a GET reads a WAL snapshot in a deferred transaction, a request
that changes things begins IMMEDIATE, and a reading page that writes says so first (transaction.writing)."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text

from app import transaction
from app.core import clock, write_intent
from app.extensions import db
from app.models import LoginSession
from config import TestConfig
from tests.support.clients import WebClient
from tests.support.harness import migrate_from_empty

pytestmark = pytest.mark.sqlite


@pytest.fixture()
def file_app(tmp_path):
    """An app on a SQLite file that a second connection can open, with a busy timeout far below the test's patience."""
    from app import create_app

    class Impatient(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'readers.db'}"
        FILE_STORE = tmp_path / "files"
        SQLITE_BUSY_TIMEOUT_S = 0.2

    app = create_app(Impatient)
    with app.app_context():
        migrate_from_empty()
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _other_connection(app) -> sqlite3.Connection:
    """A second process's connection (autocommit; its own transactions), as impatient as the app."""
    return sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"), timeout=0.2,
                           isolation_level=None)


def _begins(app) -> list[str]:
    """Record the BEGIN statements the app's engine issues (the begin listener's choice)."""
    seen: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *args: statement.startswith("BEGIN") and seen.append(statement))
    return seen


def test_a_get_begins_deferred_and_a_post_immediate(file_app):
    seen = _begins(file_app)
    client = file_app.test_client()
    assert client.get("/public/records").status_code == 200
    assert seen == ["BEGIN"]
    seen.clear()
    client.post("/public/progress", data={"number": "X", "code": "Y"})  # CSRF refuses it; the refusal is audited
    assert seen and all(statement == "BEGIN IMMEDIATE" for statement in seen)


def test_a_writer_holding_the_lock_does_not_block_a_get(file_app):
    other = _other_connection(file_app)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO lookup_attempt (ip, at) VALUES ('writer', '2026-12-01 00:00:00')")
    try:
        # An IMMEDIATE reader would wait 0.2 s for the lock and answer 500 "database is locked".
        assert file_app.test_client().get("/public/records").status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_long_read_does_not_block_a_writer(file_app):
    with file_app.app_context():
        token = write_intent.set_mode(write_intent.DEFERRED)  # as a GET request sets it
        try:
            db.session.execute(text("SELECT count(*) FROM lookup_attempt")).scalar()  # the read is under way
            assert write_intent.in_deferred_transaction()
            other = _other_connection(file_app)
            try:
                other.execute("BEGIN IMMEDIATE")  # "database is locked" if the reader held the write lock
                other.execute("INSERT INTO lookup_attempt (ip, at) VALUES ('writer', '2026-12-01 00:00:00')")
                other.execute("COMMIT")
            finally:
                other.close()
            # The reader's snapshot is unchanged; writing() ends it, and the writing transaction sees the new row.
            assert db.session.execute(text("SELECT count(*) FROM lookup_attempt")).scalar() == 0
            transaction.writing()
            assert not write_intent.in_deferred_transaction() or not db.session().in_transaction()
            assert db.session.execute(text("SELECT count(*) FROM lookup_attempt")).scalar() == 1
            assert not write_intent.in_deferred_transaction()
        finally:
            db.session.rollback()
            write_intent.reset(token)


def test_a_write_in_a_read_is_refused_and_writing_must_come_first(file_app):
    with file_app.app_context():
        token = write_intent.set_mode(write_intent.DEFERRED)
        try:
            db.session.execute(text("SELECT 1"))
            with pytest.raises(Exception, match="writing"):
                db.session.execute(text("INSERT INTO lookup_attempt (ip, at) VALUES ('x', '2026-12-01')"))
            db.session.rollback()
            from app.models import LookupAttempt

            db.session.add(LookupAttempt(ip="y", at=clock.now()))
            with pytest.raises(RuntimeError, match="before the change"):
                transaction.writing()  # it would roll the pending row back
        finally:
            db.session.rollback()
            write_intent.reset(token)


def test_the_mode_is_reset_after_each_request(file_app):
    file_app.test_client().get("/public/records")
    assert write_intent.begin_mode() == write_intent.IMMEDIATE  # the worker and the command line keep IMMEDIATE


def test_a_get_still_touches_its_session_in_a_writing_transaction(app, staff):
    client = WebClient(app, "intake1")
    row = db.session.scalar(select(LoginSession).where(LoginSession.user_id == staff["intake1"].id,
                                                       LoginSession.revoked_at.is_(None)))
    row.last_seen_at = clock.now() - timedelta(minutes=5)
    db.session.commit()
    assert client.get("/tasks/inbox").status_code == 200
    db.session.rollback()
    db.session.expire_all()
    assert clock.now() - db.session.get(LoginSession, row.id).last_seen_at < timedelta(minutes=1)
