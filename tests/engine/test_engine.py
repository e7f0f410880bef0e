"""Engine layer: deploy by hash with lint, state stored without the spec, SQL projections."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.engine.definitions import DeployError, deploy_directory, lint_bpmn, parse_process
from app.extensions import db
from app.models import HumanTask, ProcessDefinition, ProcessInstance
from tests.support.constants import PROCESSES
from tests.support.flows import file_objection

SOURCE = (PROCESSES / "objection_review" / "objection_review.bpmn").read_bytes()


def test_shipped_processes_pass_the_lint():
    for path in PROCESSES.rglob("*.bpmn"):
        assert lint_bpmn(path.name, path.read_bytes()) == []


@pytest.mark.parametrize("old, new, finding", [
    (b'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">supplement_due</bpmn:timeDate>',
     b'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">P14D</bpmn:timeDate>', "timer expression"),
    (b'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">supplement_due</bpmn:timeDate>',
     b'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">__import__("os").system("id")</bpmn:timeDate>',
     "timer expression"),
    (b'<spiffworkflow:property name="formKey" value="verify_record" />', b"", "no formKey"),
    (b'<bpmn:lane id="lane_verifier" name="verifier">', b'<bpmn:lane id="lane_verifier" name="checkers">', "lane"),
    (b'emit("flag_disputed")', b'import os; os.system("id")', "script line"),
])
def test_lint_findings(old, new, finding):
    assert old in SOURCE
    problems = lint_bpmn("x.bpmn", SOURCE.replace(old, new))
    assert any(finding in p for p in problems), problems
    with pytest.raises(DeployError):
        parse_process("objection_review", {"objection_review.bpmn": SOURCE.replace(old, new)})


def test_lint_refuses_event_gateway_with_two_timers():
    xml = b"""<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><bpmn:process id="p">
      <bpmn:eventBasedGateway id="g"/>
      <bpmn:sequenceFlow id="a" sourceRef="g" targetRef="t1"/><bpmn:sequenceFlow id="b" sourceRef="g" targetRef="t2"/>
      <bpmn:intermediateCatchEvent id="t1"><bpmn:timerEventDefinition><bpmn:timeDate>"P1D"</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
      <bpmn:intermediateCatchEvent id="t2"><bpmn:timerEventDefinition><bpmn:timeDate>"P2D"</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
      </bpmn:process></bpmn:definitions>"""
    assert any("two" in p or "2 timers" in p for p in lint_bpmn("g.bpmn", xml))


def test_deploy_is_keyed_by_hash(app, tmp_path):
    (tmp_path / "objection_review.bpmn").write_bytes(SOURCE)
    [(first, created)] = deploy_directory(tmp_path)
    assert created and first.version == 1
    [(again, created)] = deploy_directory(tmp_path)
    assert not created and again.id == first.id
    (tmp_path / "objection_review.bpmn").write_bytes(SOURCE.replace("受理审查".encode(), "受理审查（新）".encode()))
    [(second, created)] = deploy_directory(tmp_path)
    assert created and second.version == 2
    assert db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.version == 1)).sources == first.sources


def test_instance_state_has_no_spec_and_running_cases_keep_their_version(api, seeded, tmp_path):
    case_id = file_objection(api)["id"]
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    state = json.loads(instance.state)
    assert "spec" not in state and "subprocess_specs" not in state
    assert len(instance.state) < 20_000
    (tmp_path / "objection_review.bpmn").write_bytes(SOURCE.replace("受理审查".encode(), "受理审查（新）".encode()))
    deploy_directory(tmp_path)
    db.session.commit()
    assert db.session.get(ProcessInstance, instance.id).definition_id == instance.definition_id
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case_id))
    assert task.title == "受理审查" and task.lane == "intake" and task.form_key == "objection_intake_review"
    assert task.due_at is not None and task.due_days == 2
