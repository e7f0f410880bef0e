"""Completing a step does only the work it must (issue 15): the state serialized once and still the same text, the
shared spec of a version read afresh when its row changes, the projection writing only the rows that changed,
nothing read twice — and a lost update still refused."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event, select, update

from app.core.errors import Conflict
from app.engine import runtime
from app.engine.definitions import SERIALIZER, latest_definition
from app.extensions import db
from app.models import Case, HumanTask, ProcessDefinition, ProcessInstance, TimerJob, User
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
    # Nothing read: neither the state back nor the open tasks, which are those it had (the workflow knows them).
    assert not [sql for sql, _params in seen if sql.startswith("SELECT")]
    assert opened == [] and opened.open is None
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
    assert not [sql for sql in selects if sql.startswith("SELECT process_definition")]  # its hash came with the lock
    assert not [sql for sql in selects if sql.startswith("SELECT human_task.title")]  # titles from the projection
    assert objection.current_step == "认定单位核查"


def test_the_credit_office_is_looked_up_once_per_save_whatever_the_tasks(objection):
    from app.services import reference

    reference.forget()  # not cached yet in this process (it is reference data: see the next test)
    describe = run._describer(objection)

    def office_task(n):
        spec = SimpleNamespace(lane="intake", extensions={"properties": {"dueVariable": "step_due"}}, bpmn_id=f"t{n}")
        return SimpleNamespace(task_spec=spec, data={"step_due": "2026-12-04T15:59:59+00:00"})

    with statements() as seen:
        units = {describe(office_task(n)).candidate_unit_id for n in range(3)}
    assert len([sql for sql, _params in seen if "is_credit_office" in sql]) == 1
    assert units == {run.credit_office_id()}


def test_the_credit_office_is_cached_until_a_unit_changes(objection, recorded_staff):
    from app.models import Unit
    from app.services import reference

    office = run.credit_office_id()
    db.session.commit()
    with statements() as seen:
        assert run.credit_office_id() == office
    assert not [sql for sql, _params in seen if "is_credit_office" in sql]  # the units' version only
    db.session.get(Unit, office).is_credit_office = False
    other = db.session.get(Unit, recorded_staff["verifier1"].unit_id)
    other.is_credit_office = True
    db.session.flush()
    assert run.credit_office_id() == other.id  # this transaction's own view
    db.session.commit()
    assert run.credit_office_id() == other.id  # and every later one's, under the new version
    assert reference.credit_office_id() == other.id


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


# --- issue 15, points 1 and 2: the task scans, the timer projection, the worker's claim --------------------------

# A fired 核查超期 reminder, worker's claim to commit, on either database (the same statements: the rows are plain
# INSERTs, several rows of a table in one): see the test that counts them.
STATEMENTS_PER_REMINDER = 12

LIVE = (TaskState.READY, TaskState.WAITING, TaskState.READY | TaskState.WAITING | TaskState.STARTED)


def assert_scans_match_the_walk(wf) -> None:
    """The flat scans find the tasks get_tasks finds, in its order."""
    for state in LIVE:
        assert runtime.tasks_in_state(wf, state) == wf.get_tasks(state=state)
    assert runtime.ready_user_tasks(wf) == wf.get_tasks(state=TaskState.READY, manual=True)
    walked = wf.get_next_task(state=TaskState.NOT_FINISHED_MASK) is None  # what wf.is_completed() looks for
    remembered, wf.completed = wf.completed, False
    assert runtime.is_completed(wf) is walked
    wf.completed = remembered or walked


def test_a_workflow_run_to_its_end_is_completed_by_the_flat_scan_too(objection, recorded_staff):
    complete_open(objection.id, recorded_staff["intake1"].id, {"intake_choice": "reject", "reason": "不属于受理范围。"})
    wf = runtime.load_workflow(instance_of(objection.id), runtime.RunContext())
    assert wf.get_next_task(state=TaskState.NOT_FINISHED_MASK) is None
    assert_scans_match_the_walk(wf)
    assert instance_of(objection.id).status == "completed"


def complete_open(case_id: int, username_id: int, values: dict) -> None:
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open"))
    workflow.complete_task(db.session.get(User, username_id), task.id, values)
    db.session.commit()


ACCEPT = {"intake_choice": "accept"}
NO_ERROR = {"verify_choice": "no_error", "opinion": "经核查，认定无误。"}
DRAFT = {"decision": "maintain", "reasons": "认定事实清楚。"}


def timer_rows(case_id: int) -> list[tuple]:
    instance_id = instance_of(case_id).id
    return [tuple(row) for row in db.session.execute(
        select(TimerJob.bpmn_id, TimerJob.status, TimerJob.fire_at, TimerJob.fired_at)
        .where(TimerJob.instance_id == instance_id).order_by(TimerJob.bpmn_id))]


def test_the_flat_scans_find_what_the_tree_walk_finds_on_a_real_case(objection, recorded_staff):
    assert_scans_match_the_walk(runtime.load_workflow(instance_of(objection.id), runtime.RunContext()))
    complete_open(objection.id, recorded_staff["intake1"].id, ACCEPT)  # 核查 with its waiting 核查超期 timer
    wf = runtime.load_workflow(instance_of(objection.id), runtime.RunContext())
    assert [t.task_spec.bpmn_id for t in runtime.tasks_in_state(wf, TaskState.WAITING)
            if runtime.timer_variable(t)] == ["verify_overdue"]
    assert_scans_match_the_walk(wf)


def test_the_flat_scans_keep_the_walks_order_for_two_tasks_open_side_by_side(api, recorded_staff):
    case_id = open_order(api, days=3)["id"]
    overdue(api, case_id)  # 陈述申辩 and 逾期提交 open side by side
    wf = runtime.load_workflow(instance_of(case_id), runtime.RunContext())
    assert len(runtime.ready_user_tasks(wf)) == 2
    assert_scans_match_the_walk(wf)


SUBPROCESS_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="with_sub" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="outer"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:subProcess id="sub"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:startEvent id="sub_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:parallelGateway id="sub_split"><bpmn:incoming>s1</bpmn:incoming>
        <bpmn:outgoing>s2</bpmn:outgoing><bpmn:outgoing>s3</bpmn:outgoing></bpmn:parallelGateway>
      <bpmn:userTask id="inner"><bpmn:incoming>s2</bpmn:incoming><bpmn:outgoing>s4</bpmn:outgoing></bpmn:userTask>
      <bpmn:intermediateCatchEvent id="inner_wait"><bpmn:incoming>s3</bpmn:incoming><bpmn:outgoing>s5</bpmn:outgoing>
        <bpmn:timerEventDefinition><bpmn:timeDate xsi:type="bpmn:tFormalExpression">"2030-01-01T00:00:00+00:00"</bpmn:timeDate>
        </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
      <bpmn:parallelGateway id="sub_join"><bpmn:incoming>s4</bpmn:incoming><bpmn:incoming>s5</bpmn:incoming>
        <bpmn:outgoing>s6</bpmn:outgoing></bpmn:parallelGateway>
      <bpmn:endEvent id="sub_end"><bpmn:incoming>s6</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="sub_split"/>
      <bpmn:sequenceFlow id="s2" sourceRef="sub_split" targetRef="inner"/>
      <bpmn:sequenceFlow id="s3" sourceRef="sub_split" targetRef="inner_wait"/>
      <bpmn:sequenceFlow id="s4" sourceRef="inner" targetRef="sub_join"/>
      <bpmn:sequenceFlow id="s5" sourceRef="inner_wait" targetRef="sub_join"/>
      <bpmn:sequenceFlow id="s6" sourceRef="sub_join" targetRef="sub_end"/>
    </bpmn:subProcess>
    <bpmn:parallelGateway id="join"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming>
      <bpmn:outgoing>f6</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/>
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="outer"/>
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="sub"/>
    <bpmn:sequenceFlow id="f4" sourceRef="outer" targetRef="join"/>
    <bpmn:sequenceFlow id="f5" sourceRef="sub" targetRef="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.mark.database_free
def test_the_flat_scans_look_into_subprocesses_in_the_walks_order():
    from lxml import etree
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(etree.fromstring(SUBPROCESS_BPMN.encode()), filename="with_sub.bpmn")
    wf = BpmnWorkflow(parser.get_spec("with_sub"), parser.get_subprocess_specs("with_sub"))
    wf.do_engine_steps()
    assert {t.task_spec.bpmn_id for t in runtime.ready_user_tasks(wf)} == {"outer", "inner"}
    assert [t.task_spec.bpmn_id for t in runtime.tasks_in_state(wf, TaskState.WAITING)
            if t.task_spec.bpmn_id] == ["inner_wait"]
    assert_scans_match_the_walk(wf)
    again = SERIALIZER.from_dict(json.loads(SERIALIZER.serialize_json(wf)))  # loaded: the maps in the tree's order
    assert_scans_match_the_walk(again)
    runtime.ready_user_tasks(again)[0].run()
    again.do_engine_steps()
    assert_scans_match_the_walk(again)


def timer_statements(seen) -> list[str]:
    return [sql for sql, _params in seen if "timer_job" in sql]


def test_a_completion_writes_only_the_timer_rows_it_changes_and_reads_none(objection, recorded_staff):
    """The rows hold the timers as loaded (the workflow remembers them): a started timer is one INSERT, an ended
    one an UPDATE; a completion that starts, moves or ends no timer neither reads nor writes a timer row."""
    intake, verifier = recorded_staff["intake1"].id, recorded_staff["verifier1"].id
    with statements() as seen:
        complete_open(objection.id, intake, ACCEPT)  # 核查 opens with its 核查超期 timer
    assert [sql.split(" ")[0] for sql in timer_statements(seen)] == ["INSERT"]
    [(bpmn_id, status, fire_at, _fired)] = timer_rows(objection.id)
    assert (bpmn_id, status) == ("verify_overdue", "pending")
    with statements() as seen:
        complete_open(objection.id, verifier, NO_ERROR)  # 核查 done: its timer is cancelled
    assert [sql.split(" ")[0] for sql in timer_statements(seen)] == ["UPDATE"]
    assert timer_rows(objection.id) == [("verify_overdue", "cancelled", fire_at, None)]
    with statements() as seen:
        complete_open(objection.id, intake, DRAFT)  # 拟定处理意见 → 审批处理决定: no timer before or after
    assert timer_statements(seen) == []
    assert db.session.scalar(select(HumanTask.bpmn_id).where(HumanTask.case_id == objection.id,
                                                             HumanTask.status == "open")) == "approve_decision"


def test_a_saved_workflow_remembers_its_timers_so_a_second_save_reads_no_timer_row(objection, recorded_staff):
    complete_open(objection.id, recorded_staff["intake1"].id, ACCEPT)
    instance = runtime.lock_instance(instance_of(objection.id).id, wait=True)
    wf = runtime.load_workflow(instance, runtime.RunContext())
    with statements() as seen:
        runtime.save_workflow(instance, wf, no_description)
    assert timer_statements(seen) == []
    [timer_task] = runtime.waiting_timers(wf, "verify_due")
    runtime.move_timers(wf, "verify_due", "2026-12-31T08:00:00+00:00")
    with statements() as seen:
        runtime.save_workflow(instance, wf, no_description)  # moved: the row follows
        runtime.save_workflow(instance, wf, no_description)  # and then it is in line again
    assert [sql.split(" ")[0] for sql in timer_statements(seen)] == ["UPDATE"]
    db.session.commit()
    assert db.session.get(TimerJob, str(timer_task.id)).fire_at == datetime(2026, 12, 31, 8, tzinfo=timezone.utc)


def test_a_rescheduled_timer_moves_its_row(objection, recorded_staff):
    complete_open(objection.id, recorded_staff["intake1"].id, ACCEPT)
    due = datetime(2027, 1, 8, 15, 59, 59, tzinfo=timezone.utc)
    assert run.reschedule(objection, "verify_due", due, user_id=None, reason="测试改期")
    db.session.commit()
    assert timer_rows(objection.id) == [("verify_overdue", "pending", due, None)]


def test_a_fired_timer_is_claimed_with_its_instance_in_one_statement_and_its_row_marked_fired(objection,
                                                                                             recorded_staff):
    from app.core import clock
    from app.services import worker

    complete_open(objection.id, recorded_staff["intake1"].id, ACCEPT)
    [(_bpmn, _status, fire_at, _fired)] = timer_rows(objection.id)
    runtime._spec_objects(instance_of(objection.id).definition_id)  # built once per process
    db.session.commit()
    clock.set_frozen(fire_at + timedelta(seconds=1))
    result = worker.SweepResult()
    with statements() as seen:
        worker.fire_due_timers(5, result)
    assert result.fired == 1
    # SQLite's BEGIN and PostgreSQL's lock of the audit chain aside (one database each), the same statements.
    sent = [sql for sql, _params in seen
            if sql != "BEGIN IMMEDIATE" and not sql.startswith("SELECT pg_advisory_xact_lock")]
    claims = [sql for sql in sent if "FROM process_instance" in sql]
    # The claim: the due timer and its instance (with the definition's hash), then once more to find none due.
    assert len(claims) == 2 and all("JOIN timer_job" in sql and "process_definition.file_hash" in sql
                                    for sql in claims)
    assert not [sql for sql in sent if "WHERE timer_job.id =" in sql and sql.startswith("SELECT")]  # no re-read
    assert not [sql for sql in sent if sql.startswith("SELECT process_definition")]
    # The projection reads the pending rows once (a timer ended) and marks this one fired.
    assert [sql.split(" ")[0] for sql in timer_statements(seen) if sql not in claims] == ["UPDATE"]
    assert timer_rows(objection.id) == [("verify_overdue", "fired", fire_at, fire_at + timedelta(seconds=1))]
    # Every statement of the firing: the claim (with its case); the history's 期限届满 event; the open 核查 task;
    # the credit office's version; both notifications' recipients (one query) and their two rows (one INSERT); the
    # escalation event; the state; the timer marked fired (no read: the workflow knows its rows, and its open tasks,
    # which did not change); the audit chain's head and the event, at the commit; the claim that finds none due.
    assert len(sent) == STATEMENTS_PER_REMINDER, "\n".join(sent)
    written = [sql.split(" (")[0] for sql in sent if sql.startswith("INSERT")]
    assert written == ["INSERT INTO case_event", "INSERT INTO notification", "INSERT INTO case_event",
                       "INSERT INTO audit_event"]


def test_a_timer_that_fails_is_passed_over_and_the_next_due_one_fires(objection, recorded_staff, monkeypatch):
    """The claim skips the timers that failed in this sweep (their ids a bound list): one broken instance costs one
    error, the next due timer fires, and the broken one stays pending for the next sweep."""
    from app.core import clock
    from app.services import worker

    from tests.support import factories

    applicant = recorded_staff["applicant1"]
    record = factories.record(applicant.unit, recorded_staff["verifier1"].unit)  # a second record of the unit
    db.session.commit()
    second = submitted_objection(applicant, record)
    complete_open(objection.id, recorded_staff["intake1"].id, ACCEPT)
    complete_open(second.id, recorded_staff["intake1"].id, ACCEPT)
    [(_b, _s, first_at, _f)] = timer_rows(objection.id)
    [(_b, _s, second_at, _f)] = timer_rows(second.id)
    assert first_at <= second_at  # the broken one is claimed first
    broken = instance_of(objection.id).id
    fire = workflow.fire_locked_timer

    def fire_or_break(job, instance, *rest):
        if instance.id == broken:
            raise RuntimeError("a broken instance")
        return fire(job, instance, *rest)

    monkeypatch.setattr(workflow, "fire_locked_timer", fire_or_break)
    clock.set_frozen(second_at + timedelta(seconds=1))
    result = worker.SweepResult()
    worker.fire_due_timers(5, result)
    assert (result.fired, result.timer_errors) == (1, 1)
    assert [row[1] for row in timer_rows(objection.id)] == ["pending"]
    assert [row[1] for row in timer_rows(second.id)] == ["fired"]


def test_history_rows_written_plain_keep_the_order_they_were_made_in(objection):
    """case_events.append writes its rows in one INSERT, after a history object still pending in the session."""
    from app.core.clock import now
    from app.models import CaseEvent
    from app.services import case_events

    db.session.commit()
    db.session.add(CaseEvent(case_id=objection.id, at=now(), action="first", comment="对象"))
    with statements() as seen:
        case_events.append(case_events.row(objection.id, "second", comment="行一"),
                           case_events.row(objection.id, "third", step="s", internal=True))
    db.session.commit()
    assert [sql.split(" (")[0] for sql, _params in seen if sql.startswith("INSERT")] == [
        "INSERT INTO case_event", "INSERT INTO case_event"]  # the pending object's, then both rows at once
    made = ["first", "second", "third"]
    rows = db.session.execute(select(CaseEvent.action, CaseEvent.step, CaseEvent.internal, CaseEvent.details)
                              .where(CaseEvent.case_id == objection.id, CaseEvent.action.in_(made))
                              .order_by(CaseEvent.id)).all()
    assert [tuple(row) for row in rows] == [("first", "", False, {}), ("second", "", False, {}),
                                            ("third", "s", True, {})]
    with pytest.raises(TypeError):
        case_events.row(objection.id, "x", colour="red")


@pytest.mark.sqlite
def test_sqlite_runs_wal_with_normal_sync(app):
    # WAL with synchronous=NORMAL: a commit is all or nothing after any crash, and costs no fsync (app/__init__.py).
    from sqlalchemy import text

    assert db.session.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.database_free
@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_only_inside_and_left_as_it_was(enabled):
    import gc

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with runtime._gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(ZeroDivisionError), runtime._gc_paused():
            1 / 0
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_decision_step_that_issues_a_letter_reads_each_thing_once(objection, recorded_staff):
    """审批处理决定: the decision applied to the record and its 异议处理决定书 issued, in one completion. The record
    and its units come with the case; each earlier step's values are read once however often the hook, the effect
    and the letter ask; the audit chain is locked once, and its four events are written at the commit."""
    staff = {name: recorded_staff[name].id for name in ("intake1", "verifier1", "approver1")}
    complete_open(objection.id, staff["intake1"], ACCEPT)
    complete_open(objection.id, staff["verifier1"], NO_ERROR)
    complete_open(objection.id, staff["intake1"], DRAFT)
    approver = db.session.get(User, staff["approver1"])
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == objection.id, HumanTask.status == "open"))
    assert task.bpmn_id == "approve_decision"
    with statements() as seen:
        workflow.complete_task(approver, task.id, {"approval": "approve"})
        db.session.commit()
    sent = [sql for sql, _params in seen if sql != "BEGIN IMMEDIATE"]
    assert db.session.get(Case, objection.id).status == "closed"
    assert [sql for sql in sent if sql.startswith("SELECT credit_record") or sql.startswith("SELECT unit")] == []
    assert len([sql for sql in sent if sql.startswith("SELECT") and "FROM case_event" in sql]) == 2  # two steps' values
    assert len([sql for sql in sent if "pg_advisory_xact_lock(7071001)" in sql]) == (
        db.engine.dialect.name == "postgresql")
    audit_sql = [sql.split(" ")[0] for sql in sent if "audit_event" in sql]
    assert audit_sql[0] == "SELECT" and audit_sql.count("SELECT") == 1 and sent.index(
        next(sql for sql in sent if "audit_event" in sql)) > max(i for i, sql in enumerate(sent) if "process_instance" in sql)
    # Its four audit rows in one INSERT; PostgreSQL: and the chain's lock.
    assert len([sql for sql in sent if sql.startswith("INSERT INTO audit_event")]) == 1
    expected = STATEMENTS_PER_DECISION_WITH_LETTER + (db.engine.dialect.name == "postgresql")
    assert len(sent) == expected, "\n".join(sent)


# 审批处理决定 with its letter, on SQLite (39 before the audit chain was written at the commit, each step's values
# read once and the record came with the case; 28 before the audit rows went in one plain INSERT): see the test above.
STATEMENTS_PER_DECISION_WITH_LETTER = 25
