"""Append-only, hash-chained audit log (QUALITY.md §3; MLPS 2.0 level 3)."""
from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import select, text

from app.extensions import db
from app.models import AuditEvent
from app.services.clock import now

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; the web layer sets it per request."""

    user_id: int | None = None
    username: str = ""
    unit_id: int | None = None
    ip: str = ""


_actor: ContextVar[Actor] = ContextVar("audit_actor", default=Actor(username="system"))


def set_actor(actor: Actor) -> None:
    """Bind the acting user and IP for this request or worker run."""
    _actor.set(actor)


def current_actor() -> Actor:
    """Return the bound actor (system when nothing is bound)."""
    return _actor.get()


def _digest(prev_hash: str, row: dict) -> str:
    payload = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def _row_fields(ev: AuditEvent) -> dict:
    return {
        "at": ev.at.isoformat(),
        "user_id": ev.user_id,
        "username": ev.username,
        "unit_id": ev.unit_id,
        "ip": ev.ip,
        "action": ev.action,
        "object_type": ev.object_type,
        "object_id": ev.object_id,
        "outcome": ev.outcome,
        "details": ev.details,
    }


def _lock_chain() -> None:
    # One writer at a time extends the chain. PostgreSQL: a transaction-scoped advisory lock;
    # SQLite: write transactions are BEGIN IMMEDIATE and therefore already serialized.
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(7071001)"))


def record(action: str, *, outcome: str = "success", object_type: str = "", object_id: object = "",
           details: dict | None = None, actor: Actor | None = None) -> AuditEvent:
    """Append one audit event to the chain (flushes; commits with the caller's transaction)."""
    actor = actor or current_actor()
    _lock_chain()
    last = db.session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    ev = AuditEvent(
        at=now(),
        user_id=actor.user_id,
        username=actor.username,
        unit_id=actor.unit_id,
        ip=actor.ip,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        outcome=outcome,
        details=details or {},
        prev_hash=last or GENESIS,
    )
    ev.hash = _digest(ev.prev_hash, _row_fields(ev))
    db.session.add(ev)
    db.session.flush()
    return ev


def verify_chain(batch: int = 5000) -> tuple[int, list[str]]:
    """Recompute the chain; return (rows checked, problems) — an edited or deleted row breaks it."""
    problems: list[str] = []
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            break
        for ev in rows:
            checked += 1
            if ev.prev_hash != prev:
                problems.append(f"事件 {ev.id}：前序哈希不符（上一条被删除或改动）")
            if _digest(ev.prev_hash, _row_fields(ev)) != ev.hash:
                problems.append(f"事件 {ev.id}：内容哈希不符（该条被改动）")
            prev = ev.hash
            last_id = ev.id
        db.session.expunge_all()
    return checked, problems
