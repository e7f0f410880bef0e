"""objection_review through the service layer alone (no HTTP): what the views and the API stand on."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, HumanTask
from app.core.errors import Conflict, Invalid
from app.services import applications, workflow
from tests.support.flows import own_record, submitted_objection


def open_task(case: Case) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))


@pytest.fixture()
def users(recorded_staff):
    """Here made by factories: the demo's accounts, deployed processes, and one record of applicant1's unit."""
    return recorded_staff


def filed_case(users) -> Case:
    return submitted_objection(users["applicant1"], own_record("applicant1"))


def test_happy_path_revoke(users):
    case = filed_case(users)
    steps = [
        ("intake1", {"intake_choice": "accept"}),
        ("verifier1", {"verify_choice": "error_confirmed", "opinion": "认定文书已撤销。", "proposal": "revoke"}),
        ("intake1", {"decision": "revoke", "reasons": "认定依据已撤销。"}),
        ("approver1", {"approval": "approve"}),
    ]
    for username, values in steps:
        workflow.complete_task(users[username], open_task(case).id, values)
        db.session.commit()
    assert case.status == "closed" and case.outcome == "revoke" and case.record.status == "revoked"
    assert [l.type for l in case.letters] == ["acceptance_notice", "objection_decision"]


def test_unhappy_inputs_change_nothing(users):
    case = filed_case(users)
    task = open_task(case)
    with pytest.raises(Invalid):
        workflow.complete_task(users["intake1"], task.id, {"intake_choice": "request_supplement"})  # items missing
    db.session.rollback()
    assert open_task(case).id == task.id and case.status == "in_progress"
    with pytest.raises(Conflict):
        applications.submit_case(users["applicant1"], case.id)
