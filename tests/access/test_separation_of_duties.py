"""Separation of duties for every decision pair: whoever filed, reviewed, verified or drafted a case may not approve it.

The table is read from the BPMN files themselves: every user task outside the approver lane, paired with every
approver task of the same process. A new step or a new process is covered without editing this file.
"""
from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import select

from app.engine.definitions import latest_definition
from app.extensions import db
from app.models import Case, CreditRecord, HumanTask, ProcessInstance, UserRole
from app.core import clock
from app.services import rules, workflow
from processes import SLICES
from app.core.errors import Forbidden
from app.services.auth import create_user
from tests.support.clients import enrol_second_factor_for_tests
from tests.support.constants import PASSWORD

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
PROCESS_KEYS = {piece.case_type: piece.key for piece in SLICES}
SLICE_OF = {piece.key: piece for piece in SLICES}


def _user_tasks_by_lane(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    lane_of = {ref.text: lane.get("name") for lane in root.iter(f"{BPMN}lane")
               for ref in lane.iter(f"{BPMN}flowNodeRef")}
    return {task.get("id"): lane_of[task.get("id")] for task in root.iter(f"{BPMN}userTask")}


def _pairs():
    for case_type, key in sorted(PROCESS_KEYS.items()):
        tasks = _user_tasks_by_lane(SLICE_OF[key].folder / f"{key}.bpmn")
        for approving, lane in tasks.items():
            if lane != workflow.DECIDING_LANE:
                continue
            for step, step_lane in tasks.items():
                if step_lane != workflow.DECIDING_LANE:
                    yield pytest.param(case_type, step, step_lane, approving, id=f"{key}:{step}->{approving}")


PAIRS = list(_pairs())
# Processes without a deciding (approver) step, each with the reason: listed so that leaving the approver out is a
# decision, not an accident. The office registers what the recording unit reported, or applies the change the
# recording unit made at the source (谁认定、谁更正): the content is the recording unit's, there is nothing to approve.
WITHOUT_DECIDING_STEP = {
    "registration": "信用办审核登记认定单位报送的记录",
    "source_change": "信用办照认定单位撤销或变更的文书办理",
}
DECIDED = sorted({p.values[0] for p in PAIRS})


def test_the_table_covers_every_process():
    assert set(DECIDED) == set(PROCESS_KEYS) - set(WITHOUT_DECIDING_STEP)
    assert set(WITHOUT_DECIDING_STEP) <= set(PROCESS_KEYS)
    assert len(PAIRS) >= 10


def _case_with_tasks(case_type: str, steps: list[tuple[str, str, int | None, str]]) -> tuple[Case, dict]:
    """A case of the type with human-task rows as the engine projects them: (bpmn_id, lane, completed_by, status)."""
    record = db.session.scalars(select(CreditRecord).order_by(CreditRecord.id)).first()
    case = Case(type=case_type, status="in_progress", record_id=record.id, applicant_unit_id=record.subject_unit_id,
                rule_set_id=rules.rule_set_on(record.basis_date).id, form={}, query_code="TEST",
                created_at=clock.now(), submitted_at=clock.now())
    db.session.add(case)
    db.session.flush()
    instance = ProcessInstance(definition_id=latest_definition(PROCESS_KEYS[case_type]).id, case_id=case.id,
                               state="{}", serializer_version="test", updated_at=clock.now())
    db.session.add(instance)
    db.session.flush()
    rows = {}
    for bpmn_id, lane, done_by, status in steps:
        rows[bpmn_id] = HumanTask(id=str(uuid.uuid4()), instance_id=instance.id, case_id=case.id, bpmn_id=bpmn_id,
                                  case_type=case_type, title=bpmn_id, form_key=bpmn_id, lane=lane, status=status,
                                  completed_by_id=done_by, created_at=clock.now(),
                                  completed_at=clock.now() if status == "completed" else None)
        db.session.add(rows[bpmn_id])
    db.session.flush()
    return case, rows


@pytest.mark.parametrize("case_type,step,lane,approving", PAIRS)
def test_who_did_a_step_may_not_approve(seeded, users, case_type, step, lane, approving):
    worker, other = users["approver1"], users["intake1"]
    db.session.add(UserRole(user_id=other.id, role="approver"))  # a second approver who did nothing here
    db.session.flush()
    case, rows = _case_with_tasks(case_type, [(step, lane, worker.id, "completed"),
                                              (approving, workflow.DECIDING_LANE, None, "open")])
    assert workflow.separation_conflict(worker, case, rows[approving]) is True
    assert workflow.separation_conflict(other, case, rows[approving]) is False
    # The rule binds the deciding lane only: doing the step itself again (rework) is no conflict.
    assert workflow.separation_conflict(worker, case, rows[step]) is False


@pytest.mark.parametrize("case_type", DECIDED)
def test_the_filer_may_not_approve(seeded, users, case_type):
    approving = next(p.values[3] for p in PAIRS if p.values[0] == case_type)
    case, rows = _case_with_tasks(case_type, [(approving, workflow.DECIDING_LANE, None, "open")])
    case.created_by_id = users["approver1"].id
    db.session.flush()
    assert workflow.separation_conflict(users["approver1"], case, rows[approving]) is True
    case.created_by_id = None  # a case the system opened (a repair's follow-up, a term ending) has no filer
    assert workflow.separation_conflict(users["approver1"], case, rows[approving]) is False


def test_an_intake_and_approver_cannot_review_and_approve_a_restoration(seeded, users, api):
    """The hole that was: one account with both roles reviewed and then approved an honour restoration."""
    from app.models import Sanction
    from processes.honor_restoration import service as restoration

    both = create_user("intake_approver", "受理兼负责人", users["intake1"].unit_id, ["intake", "approver"], PASSWORD)
    enrol_second_factor_for_tests()
    record = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == users["applicant1"].unit_id)
                                .order_by(CreditRecord.id)).first()
    sanction = Sanction(kind="honor_disqualification", unit_id=record.subject_unit_id, status="active",
                        start_date=clock.now().date(), term_end=clock.now().date(), created_at=clock.now())
    sanction.records = [record]
    db.session.add(sanction)
    db.session.flush()
    for other in db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == record.subject_unit_id)):
        other.status = "repaired"  # set-up: the unit's records were repaired, so restoration can succeed
    case = restoration.apply_for_restoration(users["applicant1"], sanction.id)
    db.session.commit()
    client = api("intake_approver")

    def open_task(bpmn_id):
        items = client.get("/api/v1/tasks?scope=all").get_json()["items"]
        return next(t for t in items if t["case_id"] == case.id and t["bpmn_id"] == bpmn_id)

    review = open_task("review_restoration")
    assert client.post(f"/api/v1/tasks/{review['id']}/claim").status_code == 200
    done = client.post(f"/api/v1/tasks/{review['id']}/complete",
                       json={"restoration_review": "agree", "opinion": "经审核符合恢复条件。"})
    assert done.status_code == 200, done.get_json()
    approve = open_task("approve_restoration")
    for call in (f"/api/v1/tasks/{approve['id']}/claim", f"/api/v1/tasks/{approve['id']}/complete"):
        refused = client.post(call, json={"restoration_approval": "approve"})
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "separation_of_duties"
    db.session.expire_all()
    assert db.session.get(HumanTask, approve["id"]).status == "open"
    assert db.session.get(Case, case.id).status == "in_progress"
