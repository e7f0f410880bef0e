"""Run cases through their BPMN processes: start, complete a task, fire a timer (ENGINE.md).

What a step means — its effects, completion hook and form — comes from the process slice, through the registry.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

from flask_babel import gettext as _
from sqlalchemy import event, inspect as sa_inspect, select
from sqlalchemy.orm import Session, joinedload, lazyload
from sqlalchemy.orm.base import NO_VALUE

from app.engine import runtime
from app.engine.definitions import latest_definition
from app.extensions import db
from app.models import (CASE_OPEN, TIMER_IS_PENDING, Case, CaseEvent, CreditRecord, HumanTask, ProcessInstance,
                        TimerJob, User)
from app.core import faults
from app.core.clock import now
from app.core.errors import Conflict
from app.services import access, audit, calendar, case_events, notifications, reference, rules
from app.services.workflow import registry
from app.services.workflow.claims import check_separation, lock_open_task


def credit_office_id() -> int | None:
    """The credit office's unit (reference data: cached per process, its version checked per transaction)."""
    return reference.credit_office_id()


def _recording_unit_id(case: Case) -> int:
    """The unit that made the case's record: from the record when it is loaded already (a hook read it), else
    this one column, not the record and its history."""
    record = sa_inspect(case).attrs.record.loaded_value
    if record is not NO_VALUE and record is not None:
        return record.recording_unit_id
    return db.session.scalar(select(CreditRecord.recording_unit_id).where(CreditRecord.id == case.record_id))


def _describer(case: Case) -> Callable:
    """describe(task) for save_workflow: who works a newly ready task and by when. What it reads is read once per
    save, whatever number of tasks open (the credit office, the recording unit)."""
    looked_up: dict[str, int | None] = {}

    def unit_for(lane: str) -> int | None:
        if lane == "applicant":
            return case.applicant_unit_id
        key = "verifier" if lane == "verifier" else "office"
        if key not in looked_up:
            looked_up[key] = _recording_unit_id(case) if key == "verifier" else credit_office_id()
        return looked_up[key]

    def describe(task) -> runtime.TaskInfo:
        unit = unit_for(task.task_spec.lane)
        props = task.task_spec.extensions.get("properties", {})
        if props.get("dueVariable"):
            # A per-case deadline the app computed in working days (e.g. 整改期限).
            variable = props["dueVariable"]
            return runtime.TaskInfo(unit, runtime.parse_instant(task.data[variable]),
                                    bool(task.data.get(f"{variable}_provisional")), None, case.type)
        days = rules.time_limit(case.rule_set, props["timeLimit"])
        due = calendar.deadline(now(), days)
        return runtime.TaskInfo(unit, due.due, due.provisional, days, case.type)
    return describe


def _apply_effects(case: Case, ctx: runtime.RunContext, user_id: int | None) -> None:
    # Effects may emit further engine work only through the workflow, so a simple loop suffices.
    for item in ctx.effects:
        registry.effect(item.name)(case, user_id, **item.args)
    ctx.effects.clear()


def _after_save(case: Case, opened: runtime.Opened, wf) -> None:
    if runtime.is_completed(wf) and case.status in CASE_OPEN:
        from app.services.transitions import change_case_status

        change_case_status(case, "closed", user_id=None, reason="流程办结")
    # The save has every open task of the case's instance in hand (one instance per case): no query. None: the
    # open tasks did not change, nor does the step they name.
    if opened.open is not None:
        open_titles = [task.title for task in opened.open if task.status == "open"]
        case.current_step = "、".join(open_titles) if open_titles else ("已办结" if runtime.is_completed(wf) else "")
    elif runtime.is_completed(wf):
        case.current_step = "已办结"
    for task in opened:
        db.session.add(CaseEvent(case_id=case.id, at=now(), action="task_opened", step=task.bpmn_id, comment=task.title,
                                 details={"task_id": task.id, "due_at": task.due_at.isoformat() if task.due_at else None}))
    notifications.notify_many([notifications.Message(task.candidate_unit_id, task.lane, "new_task",
                                                     f"新待办：{task.title}", f"办件 {case.number}，办理期限见待办列表。",
                                                     case.id) for task in opened])


def start_process(case: Case, user: User | None, data: dict | None = None) -> ProcessInstance:
    """Create the case's process instance and run it to its first human task (flushes only; user None = system)."""
    return _start(case, user, data)[0]


def _start(case: Case, user: User | None, data: dict | None) -> tuple[ProcessInstance, bool]:
    """start_process, also saying whether the run to the first wait applied effects (a batch cannot copy those)."""
    definition = latest_definition(registry.process_key(case.type))
    if definition is None:
        raise RuntimeError(f"process {registry.process_key(case.type)} is not deployed (run: flask --app wsgi processes deploy)")
    ctx = runtime.RunContext()
    wf = runtime.new_workflow(definition, {"case_id": case.id, **(data or {})}, ctx)
    instance = ProcessInstance(definition_id=definition.id, case_id=case.id, status="running",
                               state=runtime.dump_state(wf), serializer_version=runtime.SERIALIZER.VERSION,
                               lock_version=0, updated_at=now())
    db.session.add(instance)
    db.session.flush()
    actor_id = user.id if user else None
    had_effects = bool(ctx.effects)
    _apply_effects(case, ctx, actor_id)
    opened = runtime.save_workflow(instance, wf, _describer(case), actor_id=actor_id)
    _after_save(case, opened, wf)
    audit.record("process.start", object_type="case", object_id=case.id,
                 details={"process": definition.process_key, "version": definition.version})
    faults.fault_point("process.start.before_commit")
    return instance, had_effects or runtime.is_completed(wf)


def complete_task(user: User, task_id: str, values: dict) -> HumanTask:
    """Validate and complete a user task, run the engine on, and save everything in one transaction."""
    task = access.get_task(user, task_id)
    form = registry.form_for(task.form_key)
    clean = form.validate(values)  # before locking: bad input changes nothing
    instance = lock_open_task(user, task)
    # Its rule set comes in the same query (the due date of the next step reads its time limits), and its record
    # with the record's two units, which the hooks, effects, letters and the verifier's lane read; not the record's
    # history, which a step rarely reads (loaded then on access).
    case = db.session.get(Case, task.case_id, options=[
        joinedload(Case.rule_set),
        joinedload(Case.record).options(joinedload(CreditRecord.subject_unit), joinedload(CreditRecord.recording_unit),
                                        lazyload(CreditRecord.history))],
        populate_existing=True)  # a case in the session already (expired, or read by the access check) is read so too
    check_separation(user, case, task)
    ctx = runtime.RunContext()
    wf = runtime.load_workflow(instance, ctx)
    spiff_task = runtime.ready_task(wf, task.id)
    if spiff_task is None:
        raise Conflict(_("该任务已被他人办理完毕。"), code="task_closed")
    hook = registry.completion_hook(task.form_key)
    extra = hook(case, user, clean) if hook else {}
    if extra:
        from app.services import delivery

        delivery.superseded(case, extra)  # a step that sets a deadline anew ends one awaiting delivery
    spiff_task.data.update(form.routing_values(clean))
    spiff_task.data.update(extra)
    spiff_task.run()
    wf.do_engine_steps()
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="task_completed", step=task.bpmn_id,
                             choice=next(iter(form.routing_values(clean).values()), None), comment=task.title,
                             internal=not form.public, details={"values": clean}))
    audit.record("task.complete", object_type="task", object_id=task.id,
                 details={"case_id": case.id, "step": task.bpmn_id, "routing": form.routing_values(clean)})
    actor_id = user.id if user else None
    _apply_effects(case, ctx, actor_id)
    opened = runtime.save_workflow(instance, wf, _describer(case), actor_id=actor_id)
    _after_save(case, opened, wf)
    faults.fault_point("process.complete.before_commit")
    faults.after_commit("process.complete.after_commit")
    return task


def fire_timer(job_id: str) -> bool:
    """Fire one due timer under the instance lock; False when another worker already did, or when its deadline
    awaits a letter's delivery and was pushed out instead (delivery.hold_undelivered)."""
    job = db.session.get(TimerJob, job_id)
    if job is None or job.status != "pending":
        return False
    instance = runtime.lock_instance(job.instance_id, wait=True)
    db.session.refresh(job)
    return fire_locked_timer(job, instance)


def fire_locked_timer(job: TimerJob, instance: ProcessInstance, case: Case | None = None) -> bool:
    """fire_timer for a timer and its instance read under the instance's lock, and its case when read with them
    (claim_due_timer: the worker's one statement)."""
    if job.status != "pending" or job.fire_at > now():
        return False
    case = case or db.session.get(Case, instance.case_id)
    ctx = runtime.RunContext()
    wf = runtime.load_workflow(instance, ctx)
    from app.services import delivery  # it moves timers through this module

    if job.id in delivery.hold_undelivered(case, instance, wf):
        # A deadline whose letter is not delivered yet does not run: pushed out, not fired (delivery.py).
        runtime.save_workflow(instance, wf, _describer(case))
        return False
    wf.refresh_timers()
    wf.do_engine_steps()
    audit.record("timer.fire", object_type="timer", object_id=job.id, details={"case_id": case.id, "step": job.bpmn_id})
    # A plain INSERT (case_events), after the audit chain's lock (audit.lock_chain): the history row comes before
    # those the effects write.
    case_events.append(case_events.row(case.id, "timer_fired", step=job.bpmn_id, comment="期限届满"))
    _apply_effects(case, ctx, None)
    opened = runtime.save_workflow(instance, wf, _describer(case))
    _after_save(case, opened, wf)
    return True


def move_loaded(case: Case, instance: ProcessInstance, wf, variable: str, due: datetime, *, provisional: bool) -> dict | None:
    """Move the waiting timers reading variable in a loaded workflow (the caller holds the lock and saves).

    Returns {"from": old ISO instant, "to": new} or None when no waiting timer reads it. Open tasks whose
    dueVariable is the variable get the new due date in the projection as well."""
    if due.tzinfo is None:
        raise ValueError("reschedule needs an aware datetime")
    value = due.astimezone(timezone.utc).isoformat()
    timers = runtime.waiting_timers(wf, variable)
    if not timers:
        return None
    before = timers[0]._get_internal_data("event_value")
    runtime.move_timers(wf, variable, value, provisional=provisional)
    open_rows = db.session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "open")).all()
    for row in open_rows:
        if runtime.task_property(wf, row.id, "dueVariable") == variable:
            row.due_at, row.due_provisional = runtime.parse_instant(value), provisional
    return {"from": before, "to": value}


def record_move(case: Case, variable: str, moved: dict, *, user_id: int | None, reason: str) -> None:
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user_id, action="deadline_moved", comment=reason,
                             details={"variable": variable, **moved}))
    audit.record("timer.reschedule", object_type="case", object_id=case.id,
                 details={"variable": variable, **moved, "reason": reason})


def reschedule(case: Case, variable: str, due: datetime, *, user_id: int | None, reason: str,
               provisional: bool = False) -> bool:
    """Under the instance lock, set the workflow variable a WAITING timer reads to due and move that timer (and the
    timer_job projection, and the due date of an open task whose dueVariable it is). One CaseEvent "deadline_moved"
    and one audit event. False, changing nothing, when no waiting timer of the case reads the variable."""
    instance_id = db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case.id)
                                    .order_by(ProcessInstance.id.desc()).limit(1))
    if instance_id is None:
        return False
    instance = runtime.lock_instance(instance_id, wait=True)
    ctx = runtime.RunContext()
    wf = runtime.load_workflow(instance, ctx)
    moved = move_loaded(case, instance, wf, variable, due, provisional=provisional)
    if moved is None:
        return False
    record_move(case, variable, moved, user_id=user_id, reason=reason)
    runtime.save_workflow(instance, wf, _describer(case), actor_id=user_id)
    return True


def claim_due_timer(skip: set[str]) -> tuple[TimerJob, ProcessInstance, Case] | None:
    """The earliest due pending timer (not in skip) and its instance, locked, and its case, in one statement (the
    worker's pick; runtime.claim_due_timer): hand them to fire_locked_timer."""
    return runtime.claim_due_timer(now(), skip, owner=Case)  # the case too: fire_locked_timer reads it


def due_timer_ids(limit: int = 100) -> list[str]:
    """Ids of pending timers that are due by the app clock (read from the projection only)."""
    return list(db.session.scalars(
        select(TimerJob.id).where(TIMER_IS_PENDING, TimerJob.fire_at <= now()).order_by(TimerJob.fire_at).limit(limit)
    ))


# The values of a task form not yet submitted, read as that step's last values while a draft letter is previewed.
_DRAFTED: ContextVar[tuple[int, str, dict] | None] = ContextVar("drafted_values", default=None)


@contextmanager
def drafted(case: Case, step: str, values: dict) -> Iterator[None]:
    """Within the block, `last_values(case, step)` answers `values`: a letter's preview reads the task form as it
    stands (the reasons being typed at this very step) without completing the task."""
    token = _DRAFTED.set((case.id, step, dict(values)))
    try:
        yield
    finally:
        _DRAFTED.reset(token)


# session.info: {(case id, step): the values last submitted there} as read in this transaction. A step's hook, its
# effects and its letter ask for the same steps' values several times; a new "task_completed" event empties it.
_LAST_VALUES = "last_step_values"


def last_values(case: Case, step: str) -> dict:
    """Return the values last submitted at a step of this case (from the history), or those being drafted there."""
    draft = _DRAFTED.get()
    if draft is not None and draft[:2] == (case.id, step):
        return dict(draft[2])
    session = db.session()
    known = session.info.setdefault(_LAST_VALUES, {})
    if (case.id, step) not in known:
        details = session.scalar(
            select(CaseEvent.details).where(CaseEvent.case_id == case.id, CaseEvent.action == "task_completed",
                                            CaseEvent.step == step)
            .order_by(CaseEvent.id.desc()).limit(1))
        known[(case.id, step)] = dict((details or {}).get("values", {}))
    return dict(known[(case.id, step)])


@event.listens_for(Session, "transient_to_pending")
def _forget_last_values(session: Session, instance) -> None:
    if isinstance(instance, CaseEvent) and instance.action == "task_completed":
        known = session.info.get(_LAST_VALUES)
        if known and instance.case_id is not None:
            known.pop((instance.case_id, instance.step), None)
        else:  # made through the relationship, its case not known yet
            session.info.pop(_LAST_VALUES, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_last_values_at_end(session: Session, transaction) -> None:
    if transaction.parent is None or transaction.nested:  # a rolled-back savepoint may have held an event
        session.info.pop(_LAST_VALUES, None)
