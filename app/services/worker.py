"""The worker's sweep: fire due BPMN timers exactly once, then deliver due outbox messages; audit checkpoints."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import TIMER_IS_PENDING, ProcessInstance, TimerJob
from app.services import audit, outbox, workflow
from app.services.audit import checkpoint, checkpoint_file
from app.services.audit.chain import CHECKPOINT
from app.core.clock import now
from app.core.errors import ServiceError
from app.core.faults import fault_point

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
    purged_drafts: int = 0
    purge_errors: int = 0
    busy: bool = False  # SQLite's write lock stayed with other workers; the next sweep goes on


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


def busy(exc: OperationalError) -> bool:
    """SQLite could not give this worker the write lock within its busy timeout: other workers hold it in turn.

    SQLite's busy handler is not fair; under load a waiting worker can lose every turn for the whole timeout. The
    timers are not lost: the workers holding the lock fire them, and this worker's next sweep tries again.
    """
    return "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig)


def fire_due_timers(limit: int, result: SweepResult) -> None:
    """Fire up to `limit` due timers, one instance per transaction (a crash loses at most one, uncommitted)."""
    failed: set[str] = set()
    for _ in range(limit):
        job_id = _claim_due_timer(failed)  # SQLite locked past the busy timeout: sweep() ends this phase
        if job_id is None:
            db.session.rollback()
            return
        try:
            result.fired += int(workflow.fire_timer(job_id))
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


def daily_rules(_limit: int, result: SweepResult) -> None:
    """End publications past their maximum period; then each process slice's date rules (today: open restorations
    whose disqualification term ended). A sweep phase like the others; its limit is unused (each rule takes 200)."""
    from app.core import clock
    from app.services import publication
    from app.services.workflow import registry

    try:
        result.expired = publication.expire_records(clock.local_today())
        counts = {name: rule(200) for name, rule in registry.daily_rules()}
        # Other slices' date rules (e.g. the repair's whole-case overdue report) run too but are not restorations.
        result.restorations = sum(n for name, n in counts.items() if name.startswith("honor_restoration."))
        db.session.commit()
    except Exception:  # logged; the next sweep tries again
        db.session.rollback()
        log.exception("daily rules failed")


def purge_stale_drafts(limit: int, result: SweepResult) -> None:
    """Delete drafts never submitted (with their files) after DRAFT_PURGE_AFTER_DAYS, one per transaction."""
    from app.services import applications

    for case_id in applications.stale_draft_ids(limit):
        try:
            result.purged_drafts += int(applications.purge_draft(case_id))
            db.session.commit()
        except Exception:  # logged; the draft stays and the next sweep tries again
            db.session.rollback()
            result.purge_errors += 1
            log.exception("purging draft %s failed", case_id)
    db.session.rollback()  # end the read transaction when nothing was due


PHASES = (fire_due_timers, daily_rules, purge_stale_drafts, deliver_outbox)


def run_daily_rules():
    daily_rules(500, SweepResult())


def sweep(limit: int = 500) -> SweepResult:
    """Run one sweep: timers, then date rules (both may queue messages), stale drafts, then the outbox.

    A phase that cannot get SQLite's write lock within the busy timeout is left to the next sweep (see busy).
    """
    result = SweepResult()
    for phase in PHASES:
        try:
            phase(limit, result)
        except OperationalError as exc:
            if not busy(exc):
                raise
            db.session.rollback()
            result.busy = True
            log.warning("sweep: the database stayed locked by other workers; the next sweep goes on")
    db.session.remove()  # end every transaction before the worker sleeps (SQLite write lock)
    return result


def audit_checkpoint_once() -> bool:
    """Write a keyed checkpoint of the audit chain's head; a refusal is logged and audited, never raised."""
    if checkpoint_file.directory() is None:
        return False
    try:
        checkpoint.write_checkpoint()
        return True
    except ServiceError as exc:
        db.session.rollback()
        log.error("audit checkpoint refused (%s): %s", exc.code, exc.message)
        audit.record(CHECKPOINT, outcome="failure", details={"code": exc.code, "problem": exc.message[:500]})
        db.session.commit()
        return False
    finally:
        db.session.remove()  # read-only otherwise; end the transaction before the worker sleeps


class CheckpointSchedule:
    """Run `audit_checkpoint_once` at the first sweep and then every `interval` seconds (AUDIT_CHECKPOINT_INTERVAL)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic,
                 action: Callable[[], bool] = audit_checkpoint_once):
        self.interval = interval
        self.clock = clock
        self.action = action
        self.next_at: float | None = None

    def run_if_due(self) -> bool | None:
        """Run the checkpoint when due; return its outcome, or None when it was not due."""
        moment = self.clock()
        if self.next_at is not None and moment < self.next_at:
            return None
        self.next_at = moment + self.interval
        return self.action()
