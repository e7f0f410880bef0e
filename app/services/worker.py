"""The worker's sweep: fire due BPMN timers exactly once, then deliver due outbox messages."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import TIMER_IS_PENDING, ProcessInstance, TimerJob
from app.services import outbox, process
from app.services.clock import now
from app.services.faults import fault_point

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    fired: int = 0
    timer_errors: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    restorations: int = 0


def _claim_due_timer(skip: set[str]) -> str | None:
    """Pick one due timer and lock its instance; PostgreSQL skips instances another worker holds.

    On SQLite the write transaction (BEGIN IMMEDIATE) already excludes every other worker.
    """
    query = (
        select(TimerJob.id)
        .join(ProcessInstance, ProcessInstance.id == TimerJob.instance_id)
        .where(TIMER_IS_PENDING, TimerJob.fire_at <= now())
        .order_by(TimerJob.fire_at)
        .limit(1)
    )
    if skip:
        query = query.where(TimerJob.id.not_in(skip))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=ProcessInstance, skip_locked=True)
    return db.session.scalar(query)


def fire_due_timers(limit: int, result: SweepResult) -> None:
    """Fire up to `limit` due timers, one instance per transaction (a crash loses at most one, uncommitted)."""
    failed: set[str] = set()
    for _ in range(limit):
        job_id = _claim_due_timer(failed)
        if job_id is None:
            db.session.rollback()
            return
        try:
            result.fired += int(process.fire_timer(job_id))
            fault_point("worker.timer.before_commit")
            db.session.commit()
            fault_point("worker.timer.after_commit")
        except Exception:  # one broken instance must not stop the sweep; it stays pending and is logged
            db.session.rollback()
            failed.add(job_id)
            result.timer_errors += 1
            log.exception("timer %s failed", job_id)


def deliver_outbox(limit: int, result: SweepResult) -> None:
    """Deliver up to `limit` due outbox messages."""
    for message_id in outbox.due_ids(limit):
        outcome = outbox.deliver_one(message_id)
        if outcome == "delivered":
            result.delivered += 1
        elif outcome == "retry":
            result.retried += 1
        elif outcome == "failed":
            result.failed += 1


def daily_rules(result: SweepResult) -> None:
    """End publications past their maximum period; open restorations whose disqualification term ended."""
    from app.services import clock, publication, restoration

    try:
        result.expired = publication.expire_records(clock.local_today())
        result.restorations = restoration.start_due_restorations()
        db.session.commit()
    except Exception:  # logged; the next sweep tries again
        db.session.rollback()
        log.exception("daily rules failed")


def sweep(limit: int = 500) -> SweepResult:
    """Run one sweep: timers, then date rules (both may queue messages), then the outbox."""
    result = SweepResult()
    fire_due_timers(limit, result)
    daily_rules(result)
    deliver_outbox(limit, result)
    db.session.remove()  # end every transaction before the worker sleeps (SQLite write lock)
    return result
