"""The worker's sweep: fire due BPMN timers exactly once, the daily date rules once per local day, stale drafts,
then due outbox messages; audit checkpoints."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import AppSetting
from app.models._types import UTCDateTime
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
    daily_ran: bool = False  # this sweep ran the daily rules (the first sweep of the local day)


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
        # One due timer with its instance, locked (PostgreSQL skips instances another worker holds; SQLite's write
        # transaction already excludes the others). SQLite locked past the busy timeout: sweep() ends this phase.
        claimed = workflow.claim_due_timer(failed)
        if claimed is None:
            db.session.rollback()
            return
        job_id = claimed[0].id
        try:
            result.fired += int(workflow.fire_locked_timer(*claimed))
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


# The local day (ISO date) of the last complete run of the daily rules, shared by every worker and kept over restarts.
DAILY_RULES_KEY = "daily_rules_day"
# Each rule handles at most this many rows per run; a rule that reaches its cap leaves the day open (see _apply_rules).
EXPIRE_CAP, RULE_CAP = 500, 200


def _rules_day() -> str | None:
    """The stored day of the last complete run (one primary-key read: all an idle sweep pays for the daily rules)."""
    return db.session.scalar(select(AppSetting.value).where(AppSetting.key == DAILY_RULES_KEY))


def _take_rules_row(*, wait: bool) -> AppSetting | None:
    """Hold the row that records the day until this transaction ends, so that one worker at a time runs the rules.

    PostgreSQL: FOR UPDATE, and SKIP LOCKED for a sweep (None: another worker is running them, so this one goes on);
    the first run ever inserts the row (a concurrent insert waits for ours, then finds it). SQLite: the write
    transaction (BEGIN IMMEDIATE) already excludes every other worker.
    """
    query = select(AppSetting).where(AppSetting.key == DAILY_RULES_KEY)
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=not wait)
    row = db.session.scalar(query)
    if row is not None:
        return row
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    inserted = db.session.execute(insert(AppSetting).values(key=DAILY_RULES_KEY, value="")
                                  .on_conflict_do_nothing().returning(AppSetting.key)).first()
    if inserted is None:
        return None  # another worker holds (or just wrote) the row
    return db.session.get(AppSetting, DAILY_RULES_KEY)


def _apply_rules(today: date, result: SweepResult) -> bool:
    """End publications past their maximum period; then each process slice's date rules (restorations at term end,
    publications that begin, the repair's whole-case overdue report). True when every rule got through all it had:
    a rule that reached its cap has more waiting, so the day stays open and the next sweep goes on with it."""
    from app.services import publication
    from app.services.workflow import registry

    result.expired = publication.expire_records(today, EXPIRE_CAP)
    counts = {name: rule(RULE_CAP) for name, rule in registry.daily_rules()}
    # Other slices' date rules (e.g. the repair's whole-case overdue report) run too but are not restorations.
    result.restorations = sum(n for name, n in counts.items() if name.startswith("honor_restoration."))
    return result.expired < EXPIRE_CAP and all(n < RULE_CAP for n in counts.values())


def daily_rules(_limit: int, result: SweepResult) -> None:
    """The date rules, at the first sweep of each local day (app clock, config.TIMEZONE) and not again that day.

    The day is stored in app_setting, so several workers and a restarted one agree; it is stored only when the run
    commits complete: a failed run (rolled back, logged) or one that reached a cap runs again at the next sweep. A
    stored day that differs from today, later ones included, means not yet run: a training clock set back to the
    real date runs them for that day. A sweep phase like the others; its limit is unused (each rule has its cap).
    """
    from app.core import clock

    today = clock.local_today()
    if _rules_day() == today.isoformat():
        db.session.rollback()  # end the read transaction (SQLite's write lock) before the next phase
        return
    try:
        row = _take_rules_row(wait=False)
        if row is None or row.value == today.isoformat():  # another worker runs them now, or just did
            db.session.rollback()
            return
        result.daily_ran = True
        if _apply_rules(today, result):
            row.value = today.isoformat()
        db.session.commit()
    except OperationalError as exc:
        if busy(exc):
            raise  # the sweep leaves the phase to the next sweep
        db.session.rollback()
        log.exception("daily rules failed")
    except Exception:  # logged; the day is not recorded, so the next sweep tries again
        db.session.rollback()
        log.exception("daily rules failed")


def run_daily_rules() -> SweepResult:
    """Run the daily rules now, whether or not they ran today (`flask rules daily`); waits for a worker running them.
    Records the day when complete; an error rolls back and is raised to the caller."""
    from app.core import clock

    result = SweepResult(daily_ran=True)
    today = clock.local_today()
    try:
        row = _take_rules_row(wait=True)
        if row is None:  # PostgreSQL: a worker inserted the row meanwhile; wait for it and take it
            row = _take_rules_row(wait=True)
        if _apply_rules(today, result) and row is not None:
            row.value = today.isoformat()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return result


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


# The phases of a sweep, in order: timers, then date rules (both may queue messages), stale drafts, then the outbox.
PHASES = (fire_due_timers, daily_rules, purge_stale_drafts, deliver_outbox)


# What each phase would find, in one statement: an idle sweep is this one indexed round trip and nothing else. Each
# term is the phase's own condition or looser (a draft given a file recently still counts here; purge_stale_drafts
# passes it over), never stricter, so a phase with work always runs. Literal statuses, for the partial indexes.
_PROBE = text(
    "SELECT"
    " EXISTS (SELECT 1 FROM timer_job WHERE status = 'pending' AND fire_at <= :now),"
    " (SELECT value FROM app_setting WHERE key = :day_key),"
    " EXISTS (SELECT 1 FROM \"case\" WHERE status = 'draft' AND submitted_at IS NULL AND created_at < :cutoff),"
    " EXISTS (SELECT 1 FROM outbox WHERE (status = 'pending' AND next_attempt_at <= :now)"
    " OR (status = 'sending' AND claimed_until < :now))"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("cutoff", type_=UTCDateTime()),
             bindparam("day_key", value=DAILY_RULES_KEY))


def due_phases() -> tuple:
    """The phases that have work now (ends its read transaction)."""
    from app.core import clock

    moment = now()
    timers, day, drafts, messages = db.session.execute(_PROBE, {
        "now": moment, "cutoff": moment - timedelta(days=current_app.config["DRAFT_PURGE_AFTER_DAYS"])}).one()
    db.session.rollback()
    wanted = {fire_due_timers: timers, daily_rules: day != clock.local_today().isoformat(),
              purge_stale_drafts: drafts, deliver_outbox: messages}
    return tuple(phase for phase in PHASES if wanted[phase])


def sweep(limit: int = 500) -> SweepResult:
    """Run one sweep: each of PHASES that has work (due_phases: one query), in turn.

    A phase that cannot get SQLite's write lock within the busy timeout is left to the next sweep (see busy).
    """
    result = SweepResult()
    try:
        phases = due_phases()
    except OperationalError as exc:
        _left_to_next_sweep(exc, result)
        phases = []
    for phase in phases:
        try:
            phase(limit, result)
        except OperationalError as exc:
            _left_to_next_sweep(exc, result)
    db.session.remove()  # end every transaction before the worker sleeps (SQLite write lock)
    return result


def _left_to_next_sweep(exc: OperationalError, result: SweepResult) -> None:
    """A phase (or the probe) found SQLite locked past the busy timeout: roll back, say so, go on; else raise."""
    if not busy(exc):
        raise exc
    db.session.rollback()
    result.busy = True
    log.warning("sweep: the database stayed locked by other workers; the next sweep goes on")


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


def dashboard_snapshot_once() -> bool:
    """Compute the dashboard's figures for the page to read (reports.dashboard.refresh_snapshot) unless another
    worker just did; an error is logged, never raised. False also when the page computes its own (max age 0)."""
    from app.core import clock
    from app.services.reports import dashboard

    max_age = current_app.config["DASHBOARD_FIGURES_MAX_AGE"]
    if max_age <= 0:
        return False
    try:
        return dashboard.refresh_snapshot(clock.local_today(), max_age)
    except Exception:  # the page computes its own figures meanwhile
        db.session.rollback()
        log.exception("dashboard snapshot failed")
        return False
    finally:
        db.session.remove()


class Schedule:
    """Run `action` at the first sweep and then every `interval` seconds: the audit checkpoint
    (AUDIT_CHECKPOINT_INTERVAL), the dashboard's snapshot (DASHBOARD_FIGURES_MAX_AGE)."""

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
