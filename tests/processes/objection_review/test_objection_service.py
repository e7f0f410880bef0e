"""objection_review through the service layer alone (no HTTP): what the views and the API stand on."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, HumanTask
from app.services import applications, attachments, objections, process
from app.core.errors import Conflict, Invalid
from tests.support.files import PDF_BYTES
from tests.support.flows import own_record


def open_task(case: Case) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))


def filed_case(users) -> Case:
    applicant = users["applicant1"]
    case = objections.create_objection(applicant, own_record("applicant1").id, "decision_revoked", "认定文书已撤销。")
    attachments.store_attachment(applicant, case, "evidence", "撤销决定.pdf", PDF_BYTES)
    attachments.store_attachment(applicant, case, "commitment", "承诺书.pdf", PDF_BYTES)
    applications.submit_case(applicant, case.id)
    db.session.commit()
    return case


def test_happy_path_revoke(users):
    case = filed_case(users)
    steps = [
        ("intake1", {"intake_choice": "accept"}),
        ("verifier1", {"verify_choice": "error_confirmed", "opinion": "认定文书已撤销。", "corrected_facts": "—"}),
        ("intake1", {"decision": "revoke", "reasons": "认定依据已撤销。"}),
        ("approver1", {"approval": "approve"}),
    ]
    for username, values in steps:
        process.complete_task(users[username], open_task(case).id, values)
        db.session.commit()
    assert case.status == "closed" and case.outcome == "revoke" and case.record.status == "revoked"
    assert [l.type for l in case.letters] == ["acceptance_notice", "objection_decision"]


def test_unhappy_inputs_change_nothing(users):
    case = filed_case(users)
    task = open_task(case)
    with pytest.raises(Invalid):
        process.complete_task(users["intake1"], task.id, {"intake_choice": "request_supplement"})  # items missing
    db.session.rollback()
    assert open_task(case).id == task.id and case.status == "in_progress"
    with pytest.raises(Conflict):
        applications.submit_case(users["applicant1"], case.id)
