"""Fixtures of the access tests: one filed objection whose every object another unit must not reach."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, HumanTask, Letter
from tests.support.flows import do_task, file_objection


@pytest.fixture()
def filed(api, seeded):
    """applicant1's objection, accepted: its case, record, attachment, acceptance letter and open task ids."""
    case = file_objection(api, "applicant1")
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    db.session.expire_all()
    return {
        "case": case["id"],
        "record": case["record_id"],
        "attachment": db.session.scalar(select(Attachment.id).where(Attachment.case_id == case["id"])),
        "letter": db.session.scalar(select(Letter.id).where(Letter.case_id == case["id"])),
        "task": db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case["id"], HumanTask.status == "open")),
    }
