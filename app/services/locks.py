"""Locks that make a check-then-act decision safe against a parallel request doing the same.

A submission checks "no other open case for this record" and then opens one; two requests checking at once would
both pass. Taking the record's lock first makes the second wait and then see the first one's case. Order: the
audit chain's lock comes first (every audited transaction takes it; see audit.lock_chain), then the record row,
so two transactions never wait on each other. SQLite needs neither: its write transactions are BEGIN IMMEDIATE
and run one at a time.
"""
from __future__ import annotations

import zlib

from sqlalchemy import select, text

from app.extensions import db
from app.models import CreditRecord
from app.services import audit

# The advisory-lock space for per-address counters (two-key form; the audit chain uses the one-key form).
_ADDRESS_LOCK_SPACE = 7071002


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_record(record_id: int) -> None:
    """Hold a credit record for this transaction: decisions about its cases are made one at a time."""
    audit.lock_chain()
    if _postgres():
        db.session.execute(select(CreditRecord.id).where(CreditRecord.id == record_id).with_for_update())


def lock_address(ip: str) -> None:
    """Hold one client address for this transaction: its rate-limit count and new try are read and written as one."""
    if _postgres():
        key = zlib.crc32(ip.encode("utf-8")) - 2**31  # a signed 32-bit key
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"),
                           {"space": _ADDRESS_LOCK_SPACE, "key": key})
