"""Whether this unit of work reads only or writes: how SQLite begins its transactions (issue 15 point 8).

SQLite has one write lock per database. `BEGIN IMMEDIATE` takes it at once, so writers queue on the busy timeout
instead of racing; but a reader that took it too (every transaction used to) locks every other process out for as
long as it reads. A *deferred* transaction (`BEGIN`) reads a WAL snapshot without any lock, and is what a page
that only reads should use. It must not write, though: a deferred transaction that reads and later writes fails at
once with SQLITE_BUSY(_SNAPSHOT) when another writer committed in between (SQLite does not call the busy handler
for that), so a reading request that must write calls `writing()` first, which ends the read transaction and lets
the next statement begin an IMMEDIATE one; the caller re-reads what its write depends on.

The mode is one context variable, read by the begin listener in `app/__init__.py`: IMMEDIATE by default (the
worker, the command line, tests, and requests that change things), DEFERRED only for GET and HEAD requests
(`app/transaction.py` sets it around each request). PostgreSQL ignores it: its transactions never take a lock
for reading.
"""
from __future__ import annotations

import logging
from contextvars import ContextVar, Token

from flask import current_app, has_app_context

from app.extensions import db

IMMEDIATE = "immediate"
DEFERRED = "deferred"

_MODE: ContextVar[str] = ContextVar("sqlite_begin_mode", default=IMMEDIATE)
# Set by the begin listener in the connection's info: whether its current SQLite transaction began deferred.
BEGAN_DEFERRED = "sqlite_began_deferred"


def begin_mode() -> str:
    """How the next SQLite transaction of this context begins: IMMEDIATE (writing) or DEFERRED (reading)."""
    return _MODE.get()


def set_mode(mode: str) -> Token:
    """Set the begin mode for this context (a request); reset it with `reset(token)` when the request ends."""
    if mode not in (IMMEDIATE, DEFERRED):
        raise ValueError(f"unknown begin mode {mode!r}")
    return _MODE.set(mode)


def reset(token: Token) -> None:
    """Restore the begin mode that was in force before `set_mode` returned `token`."""
    _MODE.reset(token)


def in_deferred_transaction() -> bool:
    """Whether the session is inside a transaction that SQLite began deferred (one that must not write)."""
    session = db.session()
    return session.in_transaction() and bool(session.connection().info.get(BEGAN_DEFERRED))


def writing() -> None:
    """Make the rest of this reading request a writing one: end its read transaction, so the next statement begins
    IMMEDIATE (SQLite's write lock, waiting on the busy timeout instead of failing with SQLITE_BUSY_SNAPSHOT).

    Call it before changing anything; objects loaded so far are expired and re-read in the new transaction, so a
    condition checked before the call (not delivered yet, session not touched for a minute) is checked again after
    it. A no-op where the request writes already (POST…, the worker, the command line) and on PostgreSQL.
    """
    if _MODE.get() != DEFERRED and not in_deferred_transaction():
        return
    session = db.session
    if session.new or session.deleted or any(session.is_modified(row) for row in session.dirty):
        # Rolling back now would lose the change. Tests raise, so that every such path is found and fixed; in service
        # the request goes on in its deferred transaction (it fails only if another writer committed meanwhile),
        # as the write listener in app/__init__.py lets it, rather than answering the user with an error.
        message = "transaction.writing() must come before the change: the read transaction is rolled back"
        if has_app_context() and current_app.testing:
            raise RuntimeError(message)
        logging.getLogger(__name__).warning(message)
        return
    _MODE.set(IMMEDIATE)
    session.rollback()  # ends the deferred read; nothing of it is lost but the snapshot
