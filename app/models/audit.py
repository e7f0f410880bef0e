"""Append-only, keyed hash chain of audit events (app.services.audit)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models._types import UTCDateTime


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (
        # The auditor's search filters; keyset paging walks id newest-first within each (migration 0009).
        Index("ix_audit_event_username_id", "username", "id"),
        Index("ix_audit_event_unit_id_id", "unit_id", "id"),
        Index("ix_audit_event_object", "object_type", "object_id"),
        # An address prefix and an outcome (failures, refusals) found without reading the log (migration 0015).
        Index("ix_audit_event_ip_id", "ip", "id", postgresql_ops={"ip": "text_pattern_ops"}),
        Index("ix_audit_event_outcome_id", "outcome", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user_id: Mapped[int | None] = mapped_column()
    username: Mapped[str] = mapped_column(String(64), default="")
    unit_id: Mapped[int | None] = mapped_column()
    ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(30), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(20))  # success | denied | failure
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Which HMAC key sealed the row (migration 0010); NULL: a legacy row sealed with plain SHA-256 before it.
    key_id: Mapped[str | None] = mapped_column(String(16))


class AuditLogImmutable(RuntimeError):
    """An attempt to change or remove an audit event through the ORM."""


# The ORM never changes or removes an event (archiving deletes with one guarded SQL statement, and
# on PostgreSQL a trigger refuses everything else); this catches a mistake in code before it reaches the chain.
@event.listens_for(AuditEvent, "before_update")
def _refuse_update(mapper, connection, target):
    raise AuditLogImmutable(f"audit event {target.id} is append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise AuditLogImmutable(f"audit event {target.id} is append-only")
