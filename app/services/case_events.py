"""A case's history rows written as plain INSERTs, for the paths that write many of them (the timer worker).

A history row is a fact appended once and never changed in its transaction, so it needs nothing of the ORM's unit
of work: one INSERT on the session's connection takes about half the time of a flush of the same rows on
PostgreSQL. The ids keep the order the rows were made in: history objects still pending in the session (added
through the ORM by another step of the same transaction) are flushed first.
"""
from __future__ import annotations

from datetime import datetime

from app.core.clock import now
from app.extensions import db, execute_plain
from app.models import CaseEvent

_TABLE = CaseEvent.__table__
# Every column a row is given, so that the rows of one call have the same keys (one INSERT for all of them).
_DEFAULTS = {"user_id": None, "step": "", "choice": None, "from_status": None, "to_status": None, "comment": "",
             "internal": False, "details": {}}


def row(case_id: int, action: str, *, at: datetime | None = None, **fields) -> dict:
    """One history row's values: the case, the action, when (now), and any of the other columns."""
    unknown = set(fields) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"case_event has no column {sorted(unknown)}")
    return {"case_id": case_id, "at": at or now(), "action": action, **_DEFAULTS, **fields}


def append(*rows: dict) -> None:
    """Write history rows (from `row`) now, in one INSERT, after any history object pending in the session."""
    if not rows:
        return
    if any(isinstance(obj, CaseEvent) for obj in db.session.new):
        db.session.flush()  # an event added earlier in this transaction keeps the lower id
    execute_plain(_TABLE.insert(), list(rows))
