"""Reference data cached for the whole process, checked against a version in the database (issue 15 point 7).

The working-day calendar and the unit names are read on nearly every page and change a few times a year. Each
process keeps what it loaded under the version it read; a version is a random token in `app_setting`
(`version:<name>`), replaced in the same transaction as any change to the data, so every other process (gunicorn's
other workers, the timer worker) sees the edit at its next transaction: the versions are one cheap query per
transaction, read at most once in it. Within the transaction that changes the data the cache is bypassed (it sees
its own uncommitted change; a rollback leaves no trace, since its token is never committed).

Changes through the ORM to the models in `_WATCHED` replace the version by themselves (after_flush); bulk statements
that bypass the ORM call `changed(name)`.
"""
from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import AppSetting, CalendarDay, CalendarYear, Unit

T = TypeVar("T")

PREFIX = "version:"
_WATCHED: dict[type, str] = {CalendarDay: "calendar", CalendarYear: "calendar", Unit: "units"}
_VERSIONS = "reference_versions"  # session.info: the versions read in this transaction
_CHANGED = "reference_changed"  # session.info: names changed in this transaction (not committed yet)

_VERSIONS_QUERY = select(AppSetting.key, AppSetting.value).where(AppSetting.key.startswith(PREFIX))
_cache: dict[tuple[str, str], tuple[str, object]] = {}
_lock = threading.Lock()


def versions() -> dict[str, str]:
    """The committed version of each kind of reference data, read once per transaction (one query)."""
    session = db.session()
    seen = session.info.get(_VERSIONS)
    if seen is None:
        # On the session's connection, no flush first: the versions are written by plain statements (_bump), never
        # by objects pending here.
        rows = session.connection().execute(_VERSIONS_QUERY)
        seen = session.info[_VERSIONS] = {key.removeprefix(PREFIX): value for key, value in rows}
    return seen


def cached(name: str, load: Callable[[], T], *, part: str = "") -> T:
    """`load()`'s value for reference data `name`, from this process's cache while its version is unchanged; `part`
    names one of several values read from the same data (each cached apart, all under its version)."""
    session = db.session()
    if name in session.info.get(_CHANGED, ()):
        return load()  # this transaction changed it: its own view, never cached
    version = versions().get(name, "")
    key = (str(session.get_bind().url), name, part)  # one process may serve several databases (tests, restore drill)
    hit = _cache.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]  # type: ignore[return-value]
    value = load()  # read after the version: at least as new as it, so never cached under a newer version
    with _lock:
        _cache[key] = (version, value)
    return value


class UnitChoice(NamedTuple):
    id: int
    name: str


def unit_choices() -> list[UnitChoice]:
    """Every unit's id and name, by name (the inbox's unit filter), from the process cache."""
    return cached("units", lambda: [UnitChoice(*row) for row in db.session.execute(
        select(Unit.id, Unit.name).order_by(Unit.name))])


def credit_office_id() -> int | None:
    """The credit office's unit id, from the process cache (under the units' version)."""
    return cached("units", lambda: db.session.scalar(select(Unit.id).where(Unit.is_credit_office.is_(True)).limit(1)),
                  part="credit_office")


def changed(name: str) -> None:
    """Reference data `name` changed in this transaction: give it a new version (committed with the change)."""
    _bump(db.session(), {name})


def forget() -> None:
    """Empty this process's cache (tests that swap databases under one process)."""
    with _lock:
        _cache.clear()


def _bump(session: Session, names: set[str]) -> None:
    connection = session.connection()
    table = AppSetting.__table__
    for name in sorted(names):
        token = secrets.token_hex(8)
        key = PREFIX + name
        updated = connection.execute(table.update().where(table.c.key == key).values(value=token)).rowcount
        if not updated:
            if connection.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            connection.execute(insert(table).values(key=key, value=token)
                               .on_conflict_do_update(index_elements=[table.c.key], set_={"value": token}))
        session.info.setdefault(_CHANGED, set()).add(name)
        session.info.get(_VERSIONS, {}).pop(name, None)


@event.listens_for(Session, "after_flush")
def _watch(session: Session, flush_context) -> None:
    """An ORM change to watched reference data replaces its version in the same transaction."""
    names = {_WATCHED[type(row)] for rows in (session.new, session.dirty, session.deleted) for row in rows
             if type(row) in _WATCHED}
    if names:
        _bump(session, names)


@event.listens_for(Session, "after_transaction_end")
def _end(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction: the next one reads the versions again
        session.info.pop(_VERSIONS, None)
        session.info.pop(_CHANGED, None)
