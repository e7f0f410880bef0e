"""Completing a step does only the work it must (issue 15): the state serialized once and still the same text, the
shared spec of a version read afresh when its row changes, the projection writing only the rows that changed,
nothing read twice — and a lost update still refused."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event, select, update

from app.core.errors import Conflict
from app.engine import runtime
from app.engine.definitions import SERIALIZER, latest_definition
from app.extensions import db
from app.models import Case, HumanTask, ProcessDefinition, ProcessInstance, User
from app.services import workflow
from app.services.workflow import run
from tests.support.flows import open_order, overdue, own_record, submitted_objection


@contextmanager
def statements():
    """The statements sent to the database inside the block, each as (one-line SQL, parameters)."""
    seen: list[tuple[str, object]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append((" ".join(statement.split()), parameters))

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def instance_of(case_id: int) -> ProcessInstance:
    return db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))


def row_in_database(instance_id: int):
    return db.session.execute(select(ProcessInstance.lock_version, ProcessInstance.state)
                              .where(ProcessInstance.id == instance_id)).one()


def library_text(wf) -> str:
    """What the state was before issue 15: the library's JSON, parsed, its specs dropped, dumped compact."""
    dct = json.loads(SERIALIZER.serialize_json(wf))
    dct.pop("spec")
    dct.pop("subprocess_specs")
    return json.dumps(dct, ensure_ascii=False, separators=(",", ":"))


def no_description(task):
    raise AssertionError(f"a task already projected was described again: {task.task_spec.bpmn_id}")


@pytest.fixture()
def objection(recorded_staff) -> Case:
    """A submitted objection: its 受理审查 is open."""
    return submitted_objection(recorded_staff["applicant1"], own_record("applicant1"))


def test_the_state_is_the_serializers_text_without_the_spec_and_round_trips(objection):
    wf = runtime.load_workflow(instance_of(objection.id), runtime.RunContext())
    [task] = wf.get_tasks(state=TaskState.READY, manual=True)
    when, ref = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc), uuid.UUID(int=7)
    task.data.update({"when": when, "ref": ref, "note": "补正材料"})
    text = runtime.dump_state(wf)
    assert text == library_text(wf)  # same keys, order, encoder and form as serialize_json → loads → dumps
    assert "补正材料" in text and "spec" not in json.loads(text)
    again = runtime.load_workflow(ProcessInstance(definition_id=instance_of(objection.id).definition_id, state=text),
                                  runtime.RunContext())
    assert runtime.dump_state(again) == text
    assert {t.id: (t.task_spec.name, t.state) for t in again.get_tasks()} == \
        {t.id: (t.task_spec.name, t.state) for t in wf.get_tasks()}
    restored = again.get_task_from_id(task.id).data
    assert (restored["when"], restored["ref"], restored["note"]) == (when, ref, "补正材料")


def test_a_version_row_under_a_known_id_with_other_content_is_read_afresh(objection):
    objection_def, repair_def = latest_definition("objection_review"), latest_definition("credit_repair")
    assert runtime._spec_objects(objection_def.id)[0].name == "objection_review"
    # Emptied and deployed anew, a database may give the same id to other files (the tests do so).
    db.session.execute(update(ProcessDefinition).where(ProcessDefinition.id == objection_def.id)
                       .values(file_hash="0" * 64, spec_json=repair_def.spec_json))
    assert runtime._spec_objects(objection_def.id)[0].name == "credit_repair"
    db.session.rollback()


def test_a_save_that_changes_no_task_writes_the_state_row_alone_and_reads_nothing_back(objection):
    instance = runtime.lock_instance(instance_of(objection.id).id, wait=True)
    before = instance.lock_version
    wf = runtime.load_workflow(instance, runtime.RunContext())
    with statements() as seen:
        opened = runtime.save_workflow(instance, wf, no_description)
    writes = [sql for sql, _params in seen if not sql.startswith("SELECT")]
    assert len(writes) == 1 and writes[0].startswith("UPDATE process_instance")
    assert not [sql for sql, _params in seen if sql.startswith("SELECT") and "FROM process_instance" in sql]
    assert opened == [] and [t.bpmn_id for t in opened.open] == ["intake_review"]
    # The object holds what the row holds, so a second save in the same transaction passes the version check.
    assert (instance.lock_version, instance.state) == tuple(row_in_database(instance.id)) == (before + 1, instance.state)
    runtime.save_workflow(instance, wf, no_description)
    assert row_in_database(instance.id).lock_version == before + 2


def test_a_lost_update_is_refused_as_stale(objection):
    instance = runtime.lock_instance(instance_of(objection.id).id, wait=True)
    wf = runtime.load_workflow(instance, runtime.RunContext())
    state = instance.state
    # Another writer saved in between (behind this session's back).
    db.session.execute(update(ProcessInstance).where(ProcessInstance.id == instance.id)
                       .values(lock_version=ProcessInstance.lock_version + 1)
                       .execution_options(synchronize_session=False))
    with pytest.raises(Conflict) as refused:
        runtime.save_workflow(instance, wf, no_description)
    assert refused.value.code == "stale"
    assert row_in_database(instance.id).state == state


def test_a_completion_reads_the_instance_once_and_its_spec_not_at_all(objection, recorded_staff):
    intake = recorded_staff["intake1"]
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == objection.id, HumanTask.status == "open"))
    runtime._spec_objects(instance_of(objection.id).definition_id)  # the version's specs are built once per process
    db.session.commit()
    with statements() as seen:
        workflow.complete_task(db.session.get(User, intake.id), task.id, {"intake_choice": "accept"})
    selects = [sql for sql, _params in seen if sql.startswith("SELECT")]
    assert len([sql for sql in selects if "FROM process_instance" in sql]) == 1  # the lock's read, no refresh
    assert not [sql for sql in selects if "spec_json" in sql or "process_definition.sources" in sql]
    assert not [sql for sql in selects if sql.startswith("SELECT human_task.title")]  # titles from the projection
    assert objection.current_step == "认定单位核查"


def test_the_credit_office_is_looked_up_once_per_save_whatever_the_tasks(objection):
    describe = run._describer(objection)

    def office_task(n):
        spec = SimpleNamespace(lane="intake", extensions={"properties": {"dueVariable": "step_due"}}, bpmn_id=f"t{n}")
        return SimpleNamespace(task_spec=spec, data={"step_due": "2026-12-04T15:59:59+00:00"})

    with statements() as seen:
        units = {describe(office_task(n)).candidate_unit_id for n in range(3)}
    assert len([sql for sql, _params in seen if "is_credit_office" in sql]) == 1
    assert units == {run.credit_office_id()}


def test_two_open_tasks_the_untouched_one_is_not_written_and_both_are_the_current_step(api, recorded_staff):
    case_id = open_order(api, days=3)["id"]
    overdue(api, case_id)  # the deadline cancels 整改 and opens 陈述申辩 and 逾期提交 side by side
    case = db.session.get(Case, case_id)
    rows = {t.bpmn_id: t for t in db.session.scalars(select(HumanTask).where(HumanTask.case_id == case_id))}
    assert (rows["submit_rectification"].status, rows["submit_rectification"].completed_by_id) == ("cancelled", None)
    assert set(case.current_step.split("、")) == {rows["state_case"].title, rows["submit_late"].title}
    applicant = recorded_staff["applicant1"]
    untouched = rows["state_case"].id
    db.session.commit()
    with statements() as seen:
        workflow.complete_task(db.session.get(User, applicant.id), rows["submit_late"].id,
                               {"explanation": "逾期说明", "report": "整改报告"})
    task_writes = [(sql, params) for sql, params in seen if sql.startswith("UPDATE human_task")]
    assert len(task_writes) == 1 and rows["submit_late"].id in str(task_writes[0][1])
    assert untouched not in str([params for sql, params in seen if "human_task" in sql and not sql.startswith("SELECT")])
    db.session.commit()
    done = db.session.get(HumanTask, rows["submit_late"].id)
    assert (done.status, done.completed_by_id) == ("completed", applicant.id)
    assert db.session.get(HumanTask, untouched).status == "open"
    # The one still open comes first (older), then the step just opened.
    assert db.session.get(Case, case_id).current_step == "陈述申辩、审核整改情况"
