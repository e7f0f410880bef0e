"""A restoration started on the first diagram (before issue 13) keeps running on it after the new one is deployed."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.engine.definitions import deploy_directory, latest_definition
from app.extensions import db
from app.models import Case, CreditRecord, ProcessInstance, Sanction, User
from processes.honor_restoration import service as restoration
from tests.support.constants import PROCESSES
from tests.support.versions import deploy_version
from tests.support.flows import case_of, clear_other_serious, disqualify, do_task, repairable

FIXTURE = Path(__file__).parent / "fixtures" / "honor_restoration_v1.bpmn"
SLICE = PROCESSES / "honor_restoration"


def _deploy(folder: Path, bpmn: bytes) -> int:
    return deploy_version(folder, "honor_restoration", bpmn)


def test_a_restoration_on_the_old_version_runs_to_its_end(api, recorded_staff, tmp_path):
    record = repairable()
    clear_other_serious(record)
    sanction_id = disqualify(api, record)
    record = db.session.get(CreditRecord, record.id)
    record.status = "repaired"  # set-up: the record is cleared by a repair handled elsewhere
    db.session.commit()
    old_id = _deploy(tmp_path / "v1", FIXTURE.read_bytes())
    case = restoration.apply_for_restoration(db.session.scalar(select(User).where(User.username == "applicant1")),
                                             sanction_id)
    db.session.commit()
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    assert instance.definition_id == old_id
    new_id = _deploy(tmp_path / "v3", (SLICE / "honor_restoration.bpmn").read_bytes() + b"\n<!-- redeployed -->\n")
    assert latest_definition("honor_restoration").id == new_id
    do_task(api, "intake1", case.id, "review_restoration", {"restoration_review": "agree", "opinion": "同意"})
    do_task(api, "approver1", case.id, "approve_restoration", {"restoration_approval": "approve"})
    final = case_of(api, "applicant1", case.id)
    assert final["status"] == "closed" and final["outcome"] == "restored"
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance.id).definition_id == old_id
    assert db.session.get(Sanction, sanction_id).status == "lifted"
    assert db.session.get(Case, case.id).closed_at is not None
