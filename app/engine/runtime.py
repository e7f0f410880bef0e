"""Run process instances: load, step, save and project tasks and timers in one transaction."""
from __future__ import annotations

from flask_babel import gettext as _
import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from uuid import UUID

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition, TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import set_committed_value

from app.engine.definitions import SERIALIZER
from app.extensions import db, execute_plain
from app.models.workflow import TIMER_IS_PENDING, HumanTask, ProcessDefinition, ProcessInstance, TimerJob
from app.core import clock
from app.core.errors import Conflict
from app.core.faults import fault_point


class _ClockDatetime(datetime):
    """datetime whose now() is the app clock, so BPMN timers and the app agree on time."""

    @classmethod
    def now(cls, tz=None):
        current = clock.now()
        return current.astimezone(tz) if tz else current.replace(tzinfo=None)


# SpiffWorkflow's timers call datetime.now(timezone.utc) directly; point that at the one clock.
spiff_timer.datetime = _ClockDatetime


@dataclass
class Effect:
    """A side effect a BPMN script asked for; the service layer applies it in the same transaction."""

    name: str
    args: dict


@dataclass
class RunContext:
    """What one engine run collected: effects in the order the scripts emitted them."""

    effects: list[Effect] = field(default_factory=list)


def _script_engine(ctx: RunContext) -> PythonScriptEngine:
    # The only function a BPMN script can call; it records, it does not act.
    def emit(name: str, **kwargs):
        ctx.effects.append(Effect(name, kwargs))

    return PythonScriptEngine(environment=TaskDataEnvironment({"emit": emit}))


# A reference to spec objects already built, put where the serializer expects a spec's dict: restoring it hands the
# object back, so a load builds only the instance's tasks. (A typename no SpiffWorkflow class uses.)
_SPEC_REF = "AppDeployedSpec"
SERIALIZER.registry.convert_from_dict[_SPEC_REF] = lambda dct: dct["spec"]


def _ref(spec) -> dict:
    return {"typename": _SPEC_REF, "spec": spec}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while (de)serializing: building or dumping a state makes thousands of
    small dicts and lists that all live on, and each generation-0 threshold reached would scan them in vain. The
    collector is turned back on afterwards (only if it was on), so a cycle made meanwhile is collected later."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def tasks_in_state(wf: BpmnWorkflow, state: int) -> list:
    """The tasks of a workflow and of its subprocesses whose state is one of `state`, in the order
    wf.get_tasks(state=state) gives them.

    A flat scan of the task maps (wf.tasks, and each subprocess's), not get_tasks' walk from the root through every
    completed step (which also stops at 1,000 levels deep, as a long-running case's task tree may be). Only live
    states are asked for (READY, WAITING, STARTED): those are never under a finished subprocess task or a predicted
    one, which the walk passes over."""
    found = [task for task in wf.tasks.values() if task.state & state]
    for sub in wf.subprocesses.values():
        found.extend(task for task in sub.tasks.values() if task.state & state)
    if len(found) > 1:
        found.sort(key=_tree_position)
    return found


def _tree_position(task) -> tuple:
    """Where a task is in get_tasks' depth-first order: the child indexes from the root; a subprocess comes right
    after the task that runs it (-1), before that task's children."""
    steps = []
    while True:
        parent = task.parent
        if parent is not None:
            steps.append(parent._children.index(task.id))
            task = parent
            continue
        runner_id = getattr(task.workflow, "parent_task_id", None)
        if runner_id is None:
            return tuple(reversed(steps))
        steps.append(-1)
        task = task.workflow.top_workflow.get_task_from_id(runner_id)


def is_completed(wf: BpmnWorkflow) -> bool:
    """wf.is_completed() by a flat scan of its task map: no task of the top workflow is unfinished (the library
    walks its tree for one, and remembers only a True answer)."""
    if not wf.completed:
        wf.completed = not any(task.state & TaskState.NOT_FINISHED_MASK for task in wf.tasks.values())
    return wf.completed


def ready_user_tasks(wf: BpmnWorkflow) -> list:
    """The READY manual (user) tasks: wf.get_tasks(state=READY, manual=True), by a flat scan."""
    return [task for task in tasks_in_state(wf, TaskState.READY) if task.task_spec.manual]


def waiting_timer_instants(wf: BpmnWorkflow) -> dict[str, tuple[str, datetime]]:
    """{task id: (bpmn id, instant)} of the WAITING timer tasks that have their instant: what timer_job projects."""
    waiting = {}
    for task in tasks_in_state(wf, TaskState.WAITING):
        event = getattr(task.task_spec, "event_definition", None)
        if isinstance(event, TimerEventDefinition):
            value = task._get_internal_data("event_value")
            if value:
                waiting[str(task.id)] = (task.task_spec.bpmn_id, parse_instant(value))
    return waiting


# The timers a loaded workflow's timer_job rows hold (its waiting timers as loaded, then as last saved): a save
# whose waiting timers are the same reads and writes no timer_job row (_project_timers).
_PROJECTED = "app_projected_timers"
# Likewise the READY user tasks its open human_task rows hold: a save whose READY tasks are the same reads no row.
_READY_PROJECTED = "app_projected_ready"


@lru_cache(maxsize=64)
def _cached_specs(definition_id: int, file_hash: str) -> tuple:
    """The spec objects of a deployed version, built once per process.

    A definition row never changes (a new deployment is a new row), and SpiffWorkflow keeps all run state in the
    workflow and its tasks, never in the specs, so every instance of a version shares one set. The hash is in the
    key because ids are reused when a database is emptied (the tests do so)."""
    spec_json = db.session.scalar(select(ProcessDefinition.spec_json).where(ProcessDefinition.id == definition_id))
    parsed = json.loads(spec_json)
    return (SERIALIZER.from_dict(parsed["spec"]),
            {name: SERIALIZER.from_dict(sub) for name, sub in parsed["subprocess_specs"].items()})


def _spec_objects(definition_id: int, file_hash: str | None = None) -> tuple:
    """(spec, subprocess specs) of a deployed version, the objects from the cache: by the hash read with the
    instance under its lock (lock_instance, claim_due_timer), else by one small query for it."""
    if file_hash is None:
        file_hash = db.session.scalar(select(ProcessDefinition.file_hash).where(ProcessDefinition.id == definition_id))
    spec, subs = _cached_specs(definition_id, file_hash)
    return spec, dict(subs)  # the workflow keeps the mapping: its own, over the shared specs


def new_workflow(definition: ProcessDefinition, data: dict, ctx: RunContext) -> BpmnWorkflow:
    """Create a workflow for a definition with initial data and run it to its first wait."""
    spec, subs = _spec_objects(definition.id, definition.file_hash)
    wf = BpmnWorkflow(spec, subs, script_engine=_script_engine(ctx))
    setattr(wf, _PROJECTED, {})  # a new instance has no timer_job row
    setattr(wf, _READY_PROJECTED, frozenset())  # nor human_task row
    wf.data.update(data)
    for task in tasks_in_state(wf, TaskState.READY):
        task.data.update(data)
    wf.do_engine_steps()
    return wf


def load_workflow(instance: ProcessInstance, ctx: RunContext) -> BpmnWorkflow:
    """Deserialize an instance's state onto its version's shared spec objects, with a fresh script engine."""
    dct = json.loads(instance.state)
    if dct.get(SERIALIZER.VERSION_KEY) == SERIALIZER.VERSION:
        spec, subs = _spec_objects(instance.definition_id, _hash_read_with(instance))
        dct["spec"], dct["subprocess_specs"] = _ref(spec), {name: _ref(sub) for name, sub in subs.items()}
    else:  # an older format: its migration may rewrite the specs too, so it gets the definition's own dicts
        parsed = json.loads(db.session.scalar(
            select(ProcessDefinition.spec_json).where(ProcessDefinition.id == instance.definition_id)))
        dct["spec"], dct["subprocess_specs"] = parsed["spec"], parsed["subprocess_specs"]
    SERIALIZER.migrate(dct)
    with _gc_paused():
        wf = SERIALIZER.from_dict(dct)
    wf.script_engine = _script_engine(ctx)  # the engine is never serialized
    # The rows of a saved instance project its waiting timers and READY tasks as they were saved, so as loaded.
    setattr(wf, _PROJECTED, waiting_timer_instants(wf))
    setattr(wf, _READY_PROJECTED, frozenset(str(t.id) for t in ready_user_tasks(wf)))
    return wf


# SERIALIZER's converter of BpmnWorkflow: dump_state uses its parts to leave the two specs out.
_WORKFLOW_CONVERTER = SERIALIZER.registry.convert_to_dict[SERIALIZER.registry.typenames[BpmnWorkflow]].args[1].__self__


def dump_state(wf: BpmnWorkflow) -> str:
    """Serialize a workflow without its spec (the definition row holds that), in one pass.

    The same text as SERIALIZER.serialize_json with "spec" and "subprocess_specs" taken out, keys in the same
    order, compact and not ASCII-escaped: BpmnWorkflowConverter.to_dict less its two spec entries, then one
    json.dumps with the serializer's encoder (datetimes and UUIDs in task data are converted there)."""
    registry = SERIALIZER.registry
    registry._encoder_mode = True  # as serialize_json: data values are left to the encoder
    try:
        with _gc_paused():
            dct = WorkflowConverter.to_dict(_WORKFLOW_CONVERTER, wf)
            dct["subprocesses"] = _WORKFLOW_CONVERTER.mapping_to_dict(wf.subprocesses)
            dct["bpmn_events"] = registry.convert(wf.bpmn_events)
            dct["typename"] = _WORKFLOW_CONVERTER.typename
            dct[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
            return json.dumps(dct, cls=SERIALIZER._encoder_cls, ensure_ascii=False, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


# Where an instance read by lock_instance or claim_due_timer keeps its definition's file hash (read in the same
# statement): (definition id, hash), which load_workflow hands to _spec_objects instead of querying it.
_FILE_HASH = "_app_definition_file_hash"


def _remember_hash(instance: ProcessInstance, file_hash: str) -> ProcessInstance:
    setattr(instance, _FILE_HASH, (instance.definition_id, file_hash))
    return instance


def _hash_read_with(instance: ProcessInstance) -> str | None:
    known = getattr(instance, _FILE_HASH, None)
    return known[1] if known is not None and known[0] == instance.definition_id else None


def _instance_with_hash():
    """SELECT an instance (read afresh) with its definition's file hash."""
    return (select(ProcessInstance, ProcessDefinition.file_hash)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .execution_options(populate_existing=True))


def lock_instance(instance_id: int, *, wait: bool) -> ProcessInstance | None:
    """Lock an instance row for this transaction and read it afresh, with its definition's file hash (one
    statement); NOWAIT turns a held lock into Conflict."""
    query = _instance_with_hash().where(ProcessInstance.id == instance_id)
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:  # the read itself takes the lock: SELECT ... FOR UPDATE OF process_instance [NOWAIT]
        query = query.with_for_update(of=ProcessInstance, nowait=not wait)
    # SQLite: every write transaction is BEGIN IMMEDIATE, so writers are already serialized;
    # save_workflow's version check still catches a lost update.
    try:
        row = db.session.execute(query).one_or_none()
    except OperationalError as exc:
        if not postgres:
            raise
        db.session.rollback()
        raise Conflict(_("该办件正由他人处理，请稍后重试。"), code="locked") from exc
    return None if row is None else _remember_hash(*row)


def claim_due_timer(at: datetime, skip: set[str], *, owner: type | None = None) -> tuple | None:
    """The earliest pending timer due by `at` (its id not in skip) with its instance, both locked and read afresh
    with the definition's file hash, in one statement: (timer, instance), or (timer, instance, owner row) with
    `owner`, a mapped class whose `id` is the instance's `case_id`, read in the same statement (not locked);
    None when none is due.

    PostgreSQL: FOR UPDATE OF both rows, SKIP LOCKED, so a worker passes over instances another one holds; a row
    another worker changed and committed after this statement's snapshot is re-read under the lock and checked
    against the WHERE again, so a timer fired meanwhile is not returned. SQLite: the write transaction (BEGIN
    IMMEDIATE) already excludes every other writer, and what it reads is current."""
    query = _claim_statement(bool(skip), owner, db.session.get_bind().dialect.name == "postgresql")
    params = {"claim_at": at, "claim_skip": sorted(skip)} if skip else {"claim_at": at}
    row = db.session.execute(query, params).one_or_none()
    if row is None:
        return None
    instance, file_hash, job, *owned = row
    return job, _remember_hash(instance, file_hash), *owned


@lru_cache(maxsize=None)
def _claim_statement(skipping: bool, owner: type | None, postgres: bool):
    """claim_due_timer's statement, built once per shape (the worker runs it for every timer it fires): the instant
    and the ids to skip are bound parameters."""
    query = (_instance_with_hash().add_columns(TimerJob)
             .join(TimerJob, TimerJob.instance_id == ProcessInstance.id)
             .where(TIMER_IS_PENDING, TimerJob.fire_at <= bindparam("claim_at"))
             .order_by(TimerJob.fire_at).limit(1))
    if skipping:
        query = query.where(TimerJob.id.not_in(bindparam("claim_skip", expanding=True)))
    if owner is not None:
        query = query.add_columns(owner).join(owner, owner.id == ProcessInstance.case_id)
    if postgres:
        query = query.with_for_update(of=(TimerJob, ProcessInstance), skip_locked=True)
    return query


@dataclass(frozen=True)
class TaskInfo:
    """What the domain says about a newly ready user task."""

    candidate_unit_id: int | None
    due_at: datetime | None
    due_provisional: bool
    due_days: int | None
    case_type: str


class Opened(list):
    """The tasks a save opened (the list itself), and `open`: every task open after it, oldest first; None when the
    open tasks are those the instance had before the save (no row read or written)."""

    open: list[HumanTask] | None


def save_workflow(
    instance: ProcessInstance, wf: BpmnWorkflow, describe: Callable[[object], TaskInfo], *, actor_id: int | None = None
) -> Opened:
    """Store state and bring human_task and timer_job in line with it; return newly opened tasks."""
    current = clock.now()
    state = dump_state(wf)
    status = "completed" if is_completed(wf) else "running"
    # A plain statement (execute_plain), built once; the objects added so far are flushed at the end.
    result = execute_plain(_SAVE_STATE, {"save_id": instance.id, "save_version": instance.lock_version,
                                         "save_state": state, "save_status": status,
                                         "save_serializer": SERIALIZER.VERSION, "save_at": current})
    if result.rowcount != 1:
        raise Conflict(_("该办件已被他人更新，请刷新后重试。"), code="stale")
    fault_point("engine.save.after_state")
    # The row now holds exactly what was written (the version check matched the version read), so the object is
    # brought in line without reading it back.
    for key, value in (("state", state), ("status", status), ("lock_version", instance.lock_version + 1),
                       ("serializer_version", SERIALIZER.VERSION), ("updated_at", current)):
        set_committed_value(instance, key, value)
    opened = _project_tasks(instance, wf, describe, current, actor_id)
    _project_timers(instance, wf, current)
    db.session.flush()
    return opened


def _project_tasks(instance, wf, describe, current, actor_id) -> Opened:
    """Close the open rows whose task is no longer READY (completed or cancelled), add a row per newly READY user
    task; rows still open are not written. When the READY tasks are those the rows already hold (as loaded or
    last saved: a reminder fired, a deadline moved), nothing is read or written; a new instance has no row to read.
    That trusts the rows to match the state, as every save keeps them."""
    ready = {str(t.id): t for t in ready_user_tasks(wf)}
    before = getattr(wf, _READY_PROJECTED, None)
    if before is not None and before == frozenset(ready):
        unchanged = Opened()
        unchanged.open = None
        return unchanged
    setattr(wf, _READY_PROJECTED, frozenset(ready))  # what the rows hold once this transaction's flush is done
    open_rows = [] if before == frozenset() else db.session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
    ).all()
    still_open = []
    for row in open_rows:
        if row.id in ready:
            still_open.append(row)
            continue
        spiff_task = wf.get_task_from_id(UUID(row.id))
        finished = spiff_task is not None and spiff_task.state == TaskState.COMPLETED
        row.status = "completed" if finished else "cancelled"
        row.completed_at = current
        row.completed_by_id = actor_id if finished else None
    known = {r.id for r in open_rows}
    opened = Opened()
    for task_id, task in ready.items():
        if task_id in known:
            continue
        info = describe(task)
        props = task.task_spec.extensions.get("properties", {})
        row = HumanTask(
            id=task_id,
            instance_id=instance.id,
            case_id=instance.case_id,
            bpmn_id=task.task_spec.bpmn_id,
            case_type=info.case_type,
            title=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
            form_key=props.get("formKey", ""),
            lane=task.task_spec.lane or "",
            candidate_unit_id=info.candidate_unit_id,
            status="open",
            due_at=info.due_at,
            due_provisional=info.due_provisional,
            due_days=info.due_days,
            created_at=current,
        )
        db.session.add(row)
        opened.append(row)
    # Oldest first, as the case's current step lists them; the new ones in the workflow's order.
    opened.open = sorted(still_open, key=lambda r: r.created_at) + list(opened)
    return opened


def _project_timers(instance, wf, current) -> None:
    """Bring the instance's pending timer_job rows in line with its waiting timers: fired, cancelled, moved, new.

    The rows hold the waiting timers as loaded or last saved (`_PROJECTED`): that trusts the rows to match the
    state, as every save keeps them. When the waiting timers are the same (no timer started, ended or moved in this
    run) nothing is read or written; otherwise only the changed rows are written, none read. A timer moved in the
    state (move_timers: reschedule, an undelivered letter's hold) differs and is written."""
    waiting = waiting_timer_instants(wf)
    before = getattr(wf, _PROJECTED, None)
    if before == waiting:
        return
    setattr(wf, _PROJECTED, waiting)  # what the rows hold once this transaction's flush is done
    if before is None:  # a workflow not from load_workflow or new_workflow: read what the rows hold
        before = {row.id: (row.bpmn_id, row.fire_at) for row in db.session.scalars(
            select(TimerJob).where(TimerJob.instance_id == instance.id, TimerJob.status == "pending"))}
    ended: dict[str, list[str]] = {"fired": [], "cancelled": []}
    for task_id in before:
        if task_id not in waiting:
            spiff_task = wf.get_task_from_id(UUID(task_id))
            fired = spiff_task is not None and spiff_task.state == TaskState.COMPLETED
            ended["fired" if fired else "cancelled"].append(task_id)
    for status, ids in ended.items():
        if ids:
            _write_timer_rows(ids, status=status, fired_at=current if status == "fired" else None)
    for task_id, (bpmn_id, fire_at) in waiting.items():
        if task_id not in before:
            db.session.add(TimerJob(id=task_id, instance_id=instance.id, bpmn_id=bpmn_id, fire_at=fire_at, status="pending"))
        elif before[task_id][1] != fire_at:  # a moved timer (reschedule) keeps its row and its id
            _write_timer_rows([task_id], fire_at=fire_at)


_TIMER_TABLE = TimerJob.__table__
_INSTANCE_TABLE = ProcessInstance.__table__
# save_workflow's write of the state, checked against the version read (a lost update changes no row).
_SAVE_STATE = (_INSTANCE_TABLE.update()
               .where(_INSTANCE_TABLE.c.id == bindparam("save_id"),
                      _INSTANCE_TABLE.c.lock_version == bindparam("save_version"))
               .values(state=bindparam("save_state"), status=bindparam("save_status"),
                       lock_version=_INSTANCE_TABLE.c.lock_version + 1,
                       serializer_version=bindparam("save_serializer"), updated_at=bindparam("save_at")))


@lru_cache(maxsize=None)
def _timer_rows_update(columns: tuple[str, ...]):
    """The UPDATE of pending timer rows by id setting these columns, built once per set of columns."""
    return (_TIMER_TABLE.update()
            .where(_TIMER_TABLE.c.id.in_(bindparam("timer_ids", expanding=True)), _TIMER_TABLE.c.status == "pending")
            .values({name: bindparam(f"set_{name}") for name in columns}))


def _write_timer_rows(ids: list[str], **values) -> None:
    """UPDATE the pending timer_job rows with these ids (execute_plain), and bring a row loaded in the session (the
    claimed timer) in line."""
    execute_plain(_timer_rows_update(tuple(sorted(values))),
                  {"timer_ids": list(ids), **{f"set_{name}": value for name, value in values.items()}})
    for task_id in ids:
        row = db.session.identity_map.get(identity_key(TimerJob, task_id))
        if row is not None:
            for key, value in values.items():
                set_committed_value(row, key, value)


def timer_variable(task) -> str | None:
    """The data variable a waiting timeDate timer reads (its expression is a bare name), else None."""
    event = getattr(task.task_spec, "event_definition", None)
    if not isinstance(event, TimeDateEventDefinition):
        return None
    expression = (event.expression or "").strip()
    return expression if expression.isidentifier() else None


def waiting_timers(wf: BpmnWorkflow, variable: str) -> list:
    """The WAITING timer tasks (boundary or intermediate catch) whose timeDate is the variable."""
    return [t for t in tasks_in_state(wf, TaskState.WAITING) if timer_variable(t) == variable]


def due_timers(wf: BpmnWorkflow, at: datetime) -> list[tuple[str, str]]:
    """(task id, variable) of the waiting variable timers whose instant has come by `at`."""
    found = []
    for task in tasks_in_state(wf, TaskState.WAITING):
        variable = timer_variable(task)
        value = task._get_internal_data("event_value") if variable else None
        if value and parse_instant(value) <= at:
            found.append((str(task.id), variable))
    return found


def move_timers(wf: BpmnWorkflow, variable: str, value: str, *, provisional: bool | None = None) -> list:
    """Set a data variable and move the waiting timers that read it.

    SpiffWorkflow evaluates timeDate once, when the event starts waiting, and keeps the result in the timer task's
    internal_data['event_value']: both that and the variable in the data of every live task are updated, so the
    timer fires at the new instant and later steps (and a dueVariable task) read the new value. Returns the moved
    timer tasks (none: nothing changed)."""
    timers = waiting_timers(wf, variable)
    if not timers:
        return []
    timer_ids = {t.id for t in timers}
    for task in tasks_in_state(wf, TaskState.READY | TaskState.WAITING | TaskState.STARTED):
        if variable in task.data or task.id in timer_ids:
            task.data[variable] = value
        if provisional is not None and f"{variable}_provisional" in task.data:
            task.data[f"{variable}_provisional"] = provisional
    for task in timers:
        task._set_internal_data(event_value=value)
    return timers


def task_property(wf: BpmnWorkflow, task_id: str, name: str) -> str | None:
    """A spiffworkflow:property of the task with this id (None when the task or the property is gone)."""
    task = wf.get_task_from_id(UUID(task_id))
    return task.task_spec.extensions.get("properties", {}).get(name) if task is not None else None


def parse_instant(value: str) -> datetime:
    """Read an ISO 8601 instant; a naive one is taken as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def ready_task(wf: BpmnWorkflow, task_id: str):
    """Return the READY user task with this id, or None when it is no longer open."""
    task = wf.get_task_from_id(UUID(task_id))
    if task is None or task.state != TaskState.READY or not task.task_spec.manual:
        return None
    return task


def completed_task_ids(wf: BpmnWorkflow) -> set[str]:
    """Ids of completed tasks (for drawing progress on the diagram)."""
    return {t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id}
