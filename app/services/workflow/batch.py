"""Start one process for many cases at once (the bulk import's 10,000 reviews): one real start, then copies.

Starting a BPMN instance costs 20–50 ms (parse the spec, run to the first wait, serialize, project). Cases that
start the same process at the same instant with the same start data reach the same first wait with the same
open tasks, due dates and timers; only the case id in the data and the task ids differ. So the first case is
started for real (``start_process``: effects, projections, history, notification, audit), and every other case
gets a copy of its serialized state in which each task UUID is replaced by a fresh one and the case id by its own,
with its ProcessInstance, HumanTask and TimerJob rows, its ``task_opened`` history and its current step written
by bulk inserts. A copy is an ordinary instance: its tasks are claimed and completed like any other.

A start that applies effects or finishes at once is not copied (its effects belong to each case): those cases are
started one by one. Task candidates follow the lanes as ``run._describer`` assigns them (the applicant lane to the
case's applicant unit, the verifier lane to the record's recording unit, the office lanes to the credit office).
"""
from __future__ import annotations

import re
import uuid

from sqlalchemy import insert, select, update

from app.extensions import db
from app.models import Case, CaseEvent, CreditRecord, HumanTask, ProcessInstance, TimerJob, User
from app.services import audit, notifications
from app.services.inbox import facts
from app.services.workflow import run

CHUNK = 1000
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _columns(row) -> dict:
    return {c.key: getattr(row, c.key) for c in type(row).__table__.columns}


def _template(state: str, case_id: int) -> list[str]:
    """Split a serialized state at every UUID and every ``"case_id": <id>``: literal text at even positions, the
    UUID (or the marker ``#case``) at odd ones, so a copy is one join."""
    pattern = re.compile(rf'({_UUID})|("case_id":\s*{case_id})(?![0-9])')
    pieces, last = [], 0
    for match in pattern.finditer(state):
        pieces.append(state[last:match.start()])
        pieces.append(match.group(1) or "#case")
        last = match.end()
    pieces.append(state[last:])
    return pieces


def _copy_state(pieces: list[str], case_id: int) -> tuple[str, dict[str, str]]:
    """A template's state for another case: every UUID fresh (the same old one maps to the same new one)."""
    mapping: dict[str, str] = {}
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            out.append(piece)
        elif piece == "#case":
            out.append(f'"case_id":{case_id}')
        else:
            new = mapping.get(piece)
            if new is None:
                new = mapping[piece] = str(uuid.uuid4())
            out.append(new)
    return "".join(out), mapping


def start_processes(case_ids: list[int], user: User | None, data: dict | None = None) -> list[int]:
    """Start the process of each case (all of one type) with the same start data; return the instance ids in the
    order of ``case_ids`` (flushes only). One audit event names the copied cases; the first is audited by its own
    start."""
    if not case_ids:
        return []
    first = db.session.get(Case, case_ids[0])
    instance, had_effects = run._start(first, user, data)
    rest = case_ids[1:]
    if had_effects:  # effects are per case: no copying
        return [instance.id] + [run.start_process(db.session.get(Case, i), user, data).id for i in rest]
    if not rest:
        return [instance.id]
    tasks = [_columns(t) for t in db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))]
    timers = [_columns(t) for t in db.session.scalars(select(TimerJob).where(TimerJob.instance_id == instance.id))]
    opened = [_columns(e) for e in db.session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == first.id, CaseEvent.action == "task_opened"))]
    pieces = _template(instance.state, first.id)
    units = _units_by_case(rest)
    base = {k: v for k, v in _columns(instance).items() if k not in ("id", "case_id", "state")}
    base["lock_version"] = 0
    instance_ids = [instance.id]
    told: dict[tuple, int] = {}  # (unit, lane, title): copies with that new task
    for start in range(0, len(rest), CHUNK):
        chunk = rest[start:start + CHUNK]
        states = [_copy_state(pieces, case_id) for case_id in chunk]
        ids = list(db.session.scalars(
            insert(ProcessInstance).returning(ProcessInstance.id, sort_by_parameter_order=True),
            [{**base, "case_id": case_id, "state": state} for case_id, (state, _m) in zip(chunk, states)]))
        task_rows, timer_rows, event_rows = [], [], []
        for case_id, instance_id, (_state, mapping) in zip(chunk, ids, states):
            applicant_unit, recording_unit = units[case_id]
            for task in tasks:
                unit = {"applicant": applicant_unit, "verifier": recording_unit}.get(task["lane"],
                                                                                     task["candidate_unit_id"])
                told[(unit, task["lane"], task["title"])] = told.get((unit, task["lane"], task["title"]), 0) + 1
                task_rows.append({**task, "id": mapping[task["id"]], "instance_id": instance_id, "case_id": case_id,
                                  "candidate_unit_id": unit, "assignee_id": None})
            for timer in timers:
                timer_rows.append({**timer, "id": mapping[timer["id"]], "instance_id": instance_id})
            for event in opened:
                details = dict(event["details"])
                details["task_id"] = mapping.get(details.get("task_id"), details.get("task_id"))
                event_rows.append({k: v for k, v in event.items() if k != "id"} | {"case_id": case_id,
                                                                                   "details": details})
        for model, rows in ((HumanTask, task_rows), (TimerJob, timer_rows), (CaseEvent, event_rows)):
            if rows:
                db.session.execute(insert(model), rows)
        facts.fill_task_facts(db.session, chunk)  # the copies took the first case's unit, category and severity
        db.session.execute(update(Case).where(Case.id.in_(chunk)).values(current_step=first.current_step)
                           .execution_options(synchronize_session=False))
        instance_ids.extend(ids)
    # The first start told its lane of its new task; the copies are told once per unit and lane, with their number.
    for (unit, lane, title), count in told.items():
        notifications.notify(unit, lane, kind="new_task", title=f"新待办：{title}（同批 {count} 件）",
                             body=f"与办件 {first.number or first.id} 同批启动，办理期限见待办列表。")
    audit.record("process.start_batch", object_type="case", object_id=first.id,
                 details={"process": instance.definition.process_key, "version": instance.definition.version,
                          "template_case_id": first.id, "case_ids": rest})
    return instance_ids


def _units_by_case(case_ids: list[int]) -> dict[int, tuple[int, int]]:
    units = {}
    for start in range(0, len(case_ids), CHUNK):
        chunk = case_ids[start:start + CHUNK]
        units.update({row.id: (row.applicant_unit_id, row.recording_unit_id) for row in db.session.execute(
            select(Case.id, Case.applicant_unit_id, CreditRecord.recording_unit_id)
            .join(CreditRecord, CreditRecord.id == Case.record_id).where(Case.id.in_(chunk)))})
    return units
