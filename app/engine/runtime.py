"""Run process instances: load, step, save and project tasks and timers in one transaction."""
from __future__ import annotations

from flask_babel import gettext as _
import json
from collections.abc import Callable
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
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.attributes import set_committed_value

from app.engine.definitions import SERIALIZER
from app.extensions import db
from app.models.workflow import HumanTask, ProcessDefinition, ProcessInstance, TimerJob
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


def _spec_objects(definition_id: int) -> tuple:
    """(spec, subprocess specs) of a deployed version: one small query for its hash, the objects from the cache."""
    file_hash = db.session.scalar(select(ProcessDefinition.file_hash).where(ProcessDefinition.id == definition_id))
    spec, subs = _cached_specs(definition_id, file_hash)
    return spec, dict(subs)  # the workflow keeps the mapping: its own, over the shared specs


def new_workflow(definition: ProcessDefinition, data: dict, ctx: RunContext) -> BpmnWorkflow:
    """Create a workflow for a definition with initial data and run it to its first wait."""
    spec, subs = _spec_objects(definition.id)
    wf = BpmnWorkflow(spec, subs, script_engine=_script_engine(ctx))
    wf.data.update(data)
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(data)
    wf.do_engine_steps()
    return wf


def load_workflow(instance: ProcessInstance, ctx: RunContext) -> BpmnWorkflow:
    """Deserialize an instance's state onto its version's shared spec objects, with a fresh script engine."""
    dct = json.loads(instance.state)
    if dct.get(SERIALIZER.VERSION_KEY) == SERIALIZER.VERSION:
        spec, subs = _spec_objects(instance.definition_id)
        dct["spec"], dct["subprocess_specs"] = _ref(spec), {name: _ref(sub) for name, sub in subs.items()}
    else:  # an older format: its migration may rewrite the specs too, so it gets the definition's own dicts
        parsed = json.loads(db.session.scalar(
            select(ProcessDefinition.spec_json).where(ProcessDefinition.id == instance.definition_id)))
        dct["spec"], dct["subprocess_specs"] = parsed["spec"], parsed["subprocess_specs"]
    SERIALIZER.migrate(dct)
    wf = SERIALIZER.from_dict(dct)
    wf.script_engine = _script_engine(ctx)  # the engine is never serialized
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
        dct = WorkflowConverter.to_dict(_WORKFLOW_CONVERTER, wf)
        dct["subprocesses"] = _WORKFLOW_CONVERTER.mapping_to_dict(wf.subprocesses)
        dct["bpmn_events"] = registry.convert(wf.bpmn_events)
        dct["typename"] = _WORKFLOW_CONVERTER.typename
        dct[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
        return json.dumps(dct, cls=SERIALIZER._encoder_cls, ensure_ascii=False, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def lock_instance(instance_id: int, *, wait: bool) -> ProcessInstance:
    """Lock an instance row for this transaction and read it afresh; NOWAIT turns a held lock into Conflict."""
    lock = None
    if db.session.get_bind().dialect.name == "postgresql":
        lock = {"nowait": not wait}  # the read itself takes the lock: SELECT ... FOR UPDATE [NOWAIT]
    # SQLite: every write transaction is BEGIN IMMEDIATE, so writers are already serialized;
    # save_workflow's version check still catches a lost update.
    try:
        return db.session.get(ProcessInstance, instance_id, populate_existing=True, with_for_update=lock)
    except OperationalError as exc:
        if lock is None:
            raise
        db.session.rollback()
        raise Conflict(_("该办件正由他人处理，请稍后重试。"), code="locked") from exc


@dataclass(frozen=True)
class TaskInfo:
    """What the domain says about a newly ready user task."""

    candidate_unit_id: int | None
    due_at: datetime | None
    due_provisional: bool
    due_days: int | None
    case_type: str


class Opened(list):
    """The tasks a save opened (the list itself), and `open`: every task open after it, oldest first."""

    open: list[HumanTask]


def save_workflow(
    instance: ProcessInstance, wf: BpmnWorkflow, describe: Callable[[object], TaskInfo], *, actor_id: int | None = None
) -> Opened:
    """Store state and bring human_task and timer_job in line with it; return newly opened tasks."""
    current = clock.now()
    state = dump_state(wf)
    status = "completed" if wf.is_completed() else "running"
    result = db.session.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == instance.id, ProcessInstance.lock_version == instance.lock_version)
        .values(
            state=state,
            status=status,
            lock_version=ProcessInstance.lock_version + 1,
            serializer_version=SERIALIZER.VERSION,
            updated_at=current,
        )
        .execution_options(synchronize_session=False)
    )
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
    task; rows still open are not written."""
    ready = {str(t.id): t for t in wf.get_tasks(state=TaskState.READY, manual=True)}
    open_rows = db.session.scalars(
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
    waiting = {}
    for task in wf.get_tasks(state=TaskState.WAITING):
        event = getattr(task.task_spec, "event_definition", None)
        if isinstance(event, TimerEventDefinition):
            value = task._get_internal_data("event_value")
            if value:
                waiting[str(task.id)] = (task.task_spec.bpmn_id, parse_instant(value))
    rows = db.session.scalars(select(TimerJob).where(TimerJob.instance_id == instance.id, TimerJob.status == "pending")).all()
    for row in rows:
        if row.id not in waiting:
            spiff_task = wf.get_task_from_id(UUID(row.id))
            fired = spiff_task is not None and spiff_task.state == TaskState.COMPLETED
            row.status = "fired" if fired else "cancelled"
            row.fired_at = current if fired else None
    for row in rows:
        if row.id in waiting and row.fire_at != waiting[row.id][1]:
            row.fire_at = waiting[row.id][1]  # a moved timer (reschedule) keeps its row and its id
    known = {r.id for r in rows}
    for task_id, (bpmn_id, fire_at) in waiting.items():
        if task_id not in known:
            db.session.add(TimerJob(id=task_id, instance_id=instance.id, bpmn_id=bpmn_id, fire_at=fire_at, status="pending"))


def timer_variable(task) -> str | None:
    """The data variable a waiting timeDate timer reads (its expression is a bare name), else None."""
    event = getattr(task.task_spec, "event_definition", None)
    if not isinstance(event, TimeDateEventDefinition):
        return None
    expression = (event.expression or "").strip()
    return expression if expression.isidentifier() else None


def waiting_timers(wf: BpmnWorkflow, variable: str) -> list:
    """The WAITING timer tasks (boundary or intermediate catch) whose timeDate is the variable."""
    return [t for t in wf.get_tasks(state=TaskState.WAITING) if timer_variable(t) == variable]


def due_timers(wf: BpmnWorkflow, at: datetime) -> list[tuple[str, str]]:
    """(task id, variable) of the waiting variable timers whose instant has come by `at`."""
    found = []
    for task in wf.get_tasks(state=TaskState.WAITING):
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
    for task in wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
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
