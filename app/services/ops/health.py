"""Report the health of a running app for /healthz, and probe that a directory takes writes (checks use it too)."""
from __future__ import annotations

import tempfile
from datetime import timezone
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from app.core import clock
from app.extensions import db
from app.models import MESSAGE_IS_PENDING, TIMER_IS_PENDING, OutboxMessage, ProcessDefinition, TimerJob

# The health endpoint flags (but does not fail on) a timer this late: the worker is probably down.
TIMER_LAG_WARN_SECONDS = 15 * 60
HEALTH_PROBE_PREFIX = ".healthz-"


def probe_writable(directory: Path) -> bool:
    """Write and remove a small file in the directory; tell whether that worked."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=HEALTH_PROBE_PREFIX) as probe:
            probe.write(b"ok")
            probe.flush()
            return True
    except OSError:
        return False


def health_report() -> tuple[bool, dict]:
    """Return (healthy, report) for /healthz: no secrets, no paths, read-only apart from a probe file."""
    checks: dict[str, dict] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    checks["file_store"] = {"ok": probe_writable(Path(current_app.config["FILE_STORE"]))}
    if checks["database"]["ok"]:
        try:
            checks.update(_health_from_database())
        except SQLAlchemyError as exc:
            db.session.rollback()
            checks["database"] = {"ok": False, "error": type(exc).__name__}
    db.session.rollback()
    healthy = all(check["ok"] for check in checks.values())
    return healthy, {"status": "ok" if healthy else "fail", "checks": checks}


def _health_from_database() -> dict:
    keys = db.session.scalars(select(ProcessDefinition.process_key).distinct()).all()
    instant = clock.now()
    due = db.session.execute(
        select(func.count(), func.min(TimerJob.fire_at)).where(TIMER_IS_PENDING, TimerJob.fire_at <= instant)
    ).one()
    oldest = due[1]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    lag = int((instant - oldest).total_seconds()) if oldest else 0
    failed = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed"))
    pending = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                .where(MESSAGE_IS_PENDING, OutboxMessage.next_attempt_at <= instant))
    # Timers and the outbox are the worker's business: reported for operators, never a reason to take
    # an app server out of the load balancer.
    return {
        "processes": {"ok": len(keys) > 0, "deployed": sorted(keys)},
        "timers": {"ok": True, "due": due[0], "oldest_due_seconds": lag, "late": lag > TIMER_LAG_WARN_SECONDS},
        "outbox": {"ok": True, "failed": failed, "due": pending},
    }
