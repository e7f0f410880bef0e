"""Repair cases started on the first diagram (before issue 13) keep running on it after the new one is deployed, and
its steps now decide lawfully too: the recording unit's 不同意 still bars an approval; no return is offered there."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.engine.definitions import deploy_directory, latest_definition
from app.extensions import db
from app.models import Case, CreditRecord, Letter, ProcessInstance
from tests.support.constants import PROCESSES
from tests.support.versions import deploy_version
from tests.support.flows import do_task, file_repair, repairable

FIXTURE = Path(__file__).parent / "fixtures" / "credit_repair_v1.bpmn"
SLICE = PROCESSES / "credit_repair"


def _deploy(folder: Path, bpmn: bytes) -> int:
    return deploy_version(folder, "credit_repair", bpmn)


@pytest.mark.parametrize("opinion, decision, http, outcome, titles", [
    ("agree", "approve", 200, "repaired", ["信用修复决定书"]),
    ("disagree", "approve", 422, None, []),  # never an approval against the recording unit
    ("disagree", "return_applicant", 422, None, []),  # the old diagram has no return flow
    ("disagree", "refuse", 200, "refused", ["不予修复决定书"]),
])
def test_a_case_on_the_old_version_runs_to_its_end(api, recorded_staff, tmp_path, opinion, decision, http, outcome,
                                                   titles):
    old_id = _deploy(tmp_path / "v1", FIXTURE.read_bytes())
    record = repairable()
    case = file_repair(api, record)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case["id"]))
    assert instance.definition_id == old_id
    # The new diagram is deployed (a fresh version of it) while the case runs.
    new_id = _deploy(tmp_path / "v3", (SLICE / "credit_repair.bpmn").read_bytes() + b"\n<!-- redeployed -->\n")
    assert latest_definition("credit_repair").id == new_id != old_id
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": opinion, "opinion": "意见。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": decision, "reasons": "理由。"},
            expect=http)
    db.session.expire_all()
    row = db.session.get(Case, case["id"])
    assert db.session.get(ProcessInstance, instance.id).definition_id == old_id
    assert row.outcome == outcome and row.status == ("closed" if outcome else "in_progress")
    assert [l.title for l in db.session.scalars(select(Letter).where(Letter.case_id == row.id))] == titles
    assert db.session.get(CreditRecord, record.id).status == ("repaired" if outcome == "repaired" else "published")
