"""Pooled PostgreSQL connections are tested on checkout only after they sat idle (app._ping_when_idle): no round
trip before every transaction, and a connection the server dropped while idle is replaced, not handed out."""
from __future__ import annotations

import sys
import time

import pytest
from sqlalchemy import text

from app.extensions import db

pytestmark = pytest.mark.postgres

IDLE = 0.2  # the test's idle limit (PING_AFTER_IDLE_S), so that it waits a fraction of a second


@pytest.fixture()
def pings(app, monkeypatch):
    """The pings sent (dialect.do_ping calls), with the idle limit shortened."""
    monkeypatch.setattr(sys.modules["app"], "PING_AFTER_IDLE_S", IDLE)
    sent = []
    real = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda conn: sent.append(conn) or real(conn))
    db.session.commit()
    time.sleep(IDLE * 1.5)
    return sent


def _one_transaction() -> int:
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
    db.session.commit()
    return pid


def test_a_connection_used_a_moment_ago_is_not_pinged_and_an_idle_one_is(pings):
    _one_transaction()  # idle before: pinged
    assert len(pings) == 1
    for _ in range(5):
        _one_transaction()
    assert len(pings) == 1  # back in the pool a moment ago each time
    time.sleep(IDLE * 1.5)
    _one_transaction()
    assert len(pings) == 2


def test_a_connection_the_server_dropped_while_idle_is_replaced(app, pings):
    import psycopg

    pid = _one_transaction()
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as other:  # outside the pool: ends the pooled one's server process
        assert other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    time.sleep(IDLE * 1.5)
    assert _one_transaction() != pid  # the ping found it dead: a new connection, and no error
