"""honor_restoration (SPEC §4.4): every path and its DMN table; restored after a repair, on application, at term end."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.core import clock
from app.engine import decisions
from app.extensions import db
from app.models import Case, CreditRecord, Letter, Sanction, User
from app.services.worker import sweep
from app.services.letters import challenge_sentence
from config import Config
from tests.support.constants import PROCESSES
from tests.support.flows import case_of, clear_other_serious, disqualify, do_task, file_repair, records_of, repairable

TZ = ZoneInfo(Config.TIMEZONE)


# --- the DMN table, from a table of cases ---------------------------------------------------

@pytest.mark.parametrize("facts, expected", [
    ((False, False), (False, "records_active")),
    ((False, True), (False, "records_active")),
    ((True, True), (False, "other_serious")),
    ((True, False), (True, "eligible")),
])
def test_restoration_dmn(facts, expected):
    result = decisions.evaluate("restoration_eligibility", (PROCESSES / "honor_restoration" / "restoration_eligibility.dmn").read_text(),
                                {"records_cleared": facts[0], "other_serious_active": facts[1]})
    assert (result["eligible"], result["ineligible_reason"]) == expected


# --- honour restoration ---------------------------------------------------------------------

def test_repair_lifts_a_disqualification_resting_on_its_record_alone(api, recorded_staff):
    """令第36号第三条: the repair lifts the measure itself, in the same transaction; no restoration case is needed."""
    record = repairable()
    clear_other_serious(record)
    sanction_id = disqualify(api, record)
    t_day = (clock.now() + timedelta(days=1)).astimezone(TZ).date()
    unit_id = record.subject_unit_id
    before = api("intake1").get(f"/api/v1/units/{unit_id}/honor-eligibility?date={t_day}").get_json()
    assert before["eligible"] is False and [s["id"] for s in before["sanctions"]] == [sanction_id]
    case = _repaired(api, db.session.get(CreditRecord, record.id))
    db.session.expire_all()
    sanction = db.session.get(Sanction, sanction_id)
    assert sanction.status == "lifted" and sanction.lifted_by_case_id == case["id"]
    assert db.session.scalar(select(Case).where(Case.type == "restoration")) is None
    after = api("intake1").get(f"/api/v1/units/{unit_id}/honor-eligibility?date=2027-06-01").get_json()
    assert after["eligible"] is True and after["sanctions"] == []


def test_repair_starts_restoration_for_a_disqualification_on_several_records(api, recorded_staff):
    record = repairable()
    clear_other_serious(record)
    other = _copy(record, days=40)
    other.status = "repaired"  # set-up: the other record was cleared before
    sanction = Sanction(kind="honor_disqualification", unit_id=record.subject_unit_id, status="active",
                        start_date=clock.local_today(), term_end=record.auto_end_date, created_at=clock.now())
    sanction.records = [record, other]
    db.session.add(sanction)
    db.session.commit()
    sanction_id = sanction.id
    _repaired(api, record)
    # The approved repair started a restoration case for the disqualification, in the same transaction.
    restoration = db.session.scalar(select(Case).where(Case.type == "restoration"))
    assert restoration.form == {"sanction_id": sanction_id, "trigger": "repair"}
    do_task(api, "intake1", restoration.id, "review_restoration", {"restoration_review": "agree", "opinion": "同意"})
    do_task(api, "approver1", restoration.id, "approve_restoration", {"restoration_approval": "approve"})
    final = case_of(api, "applicant1", restoration.id)
    assert final["status"] == "closed" and final["outcome"] == "restored"
    db.session.expire_all()
    sanction = db.session.get(Sanction, sanction_id)
    assert sanction.status == "lifted" and sanction.lifted_by_case_id == restoration.id
    letter = db.session.scalar(select(Letter).where(Letter.case_id == restoration.id))
    assert letter.title == "荣誉评选资格恢复决定书"
    # The organisation and HR departments, then the recording unit of each record the measure rested on.
    assert letter.data["cc"] == ["中共随州市委组织部", "随州市人力资源和社会保障局",
                                 *dict.fromkeys(r.recording_unit.name for r in sanction.records)]


def _repaired(api, record) -> dict:
    case = file_repair(api, record)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "agree", "opinion": "同意"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "approve", "reasons": "符合条件"})
    return case


def _copy(record: CreditRecord, *, days: int) -> CreditRecord:
    """Another record of the same unit and category, `days` later (set-up)."""
    other = CreditRecord(**{c.name: getattr(record, c.name) for c in CreditRecord.__table__.columns
                            if c.name not in ("id", "subject_key", "basis_doc_no", "basis_date")},
                         basis_doc_no=f"另案〔2026〕{days}号", basis_date=record.basis_date + timedelta(days=days),
                         subject_key=f"{record.subject_key}-{days}")
    db.session.add(other)
    db.session.flush()
    return other


def test_applicant_restoration_refused_with_reason_while_record_stands(api, recorded_staff):
    record = repairable()
    sanction_id = disqualify(api, record)
    response = api("applicant1").post("/api/v1/cases", json={"type": "restoration", "sanction_id": sanction_id})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "not_eligible_records_active"
    assert api("applicant2").post("/api/v1/cases", json={"type": "restoration",
                                                         "sanction_id": sanction_id}).status_code == 404


@pytest.mark.parametrize("steps, reason", [
    ([("intake1", "review_restoration", {"restoration_review": "disagree", "opinion": "材料不实"})], "材料不实。"),
    ([("intake1", "review_restoration", {"restoration_review": "agree", "opinion": "同意"}),
      ("approver1", "approve_restoration", {"restoration_approval": "refuse", "comment": "整改未见实效"})],
     "整改未见实效。"),
])
def test_review_disagree_closes_without_restoring(api, recorded_staff, steps, reason):
    from processes.honor_restoration import service as restoration

    record = repairable()
    clear_other_serious(record)
    sanction_id = disqualify(api, record)
    record = db.session.get(CreditRecord, record.id)
    record.status = "repaired"  # set-up: the record is cleared by a repair handled elsewhere
    db.session.commit()
    case = restoration.apply_for_restoration(db.session.scalar(select(User).where(User.username == "applicant1")),
                                             sanction_id)
    db.session.commit()
    for username, step, values in steps:
        do_task(api, username, case.id, step, values)
    assert case_of(api, "applicant1", case.id)["outcome"] == "not_restored"
    assert db.session.get(Sanction, sanction_id).status == "active"
    letter = db.session.scalar(select(Letter).where(Letter.case_id == case.id))
    assert letter.title == "不予恢复决定书" and "经审查，" + reason in "".join(letter.data["paragraphs"])
    assert letter.data["paragraphs"][-1] == challenge_sentence(db.session.get(Case, case.id))


def test_term_end_restores_automatically_without_a_human_task(api, recorded_staff):
    record = repairable()
    clear_other_serious(record)
    record_id = record.id
    sanction_id = disqualify(api, record)
    end = db.session.get(Sanction, sanction_id).term_end
    assert end == record.auto_end_date
    clock.set_frozen(datetime.combine(end + timedelta(days=1), time(1), TZ))
    result = sweep()
    assert result.expired >= 1 and result.restorations == 1
    assert db.session.get(CreditRecord, record_id).status == "expired"
    case = db.session.scalar(select(Case).where(Case.type == "restoration"))
    assert case.status == "closed" and case.outcome == "restored" and case.form["trigger"] == "timer"
    assert db.session.get(Sanction, sanction_id).status == "lifted"
    clock.set_frozen(datetime.combine(end + timedelta(days=2), time(1), TZ))  # the rules run again the next day
    again = sweep()
    assert again.daily_ran and again.restorations == 0  # never twice


def test_term_end_with_other_serious_record_is_not_restored(api, seeded):
    record = repairable()
    others = [r for r in records_of("applicant1", severity="serious") if r.id != record.id]
    assert others, "demo data: the unit has another serious record"
    sanction_id = disqualify(api, record)
    end = db.session.get(Sanction, sanction_id).term_end
    for other in others:  # keep the other serious records published past the term end
        other.auto_end_date = end + timedelta(days=400)
    db.session.commit()
    clock.set_frozen(datetime.combine(end + timedelta(days=1), time(1), TZ))
    assert sweep().restorations == 1
    case = db.session.scalar(select(Case).where(Case.type == "restoration"))
    assert case.status == "rejected" and case.outcome == "other_serious"
    assert db.session.get(Sanction, sanction_id).status == "active"
    letter = db.session.scalar(select(Letter).where(Letter.case_id == case.id))
    assert letter.title == "不予恢复决定书" and "另有严重失信记录正在公示" in "".join(letter.data["paragraphs"])
    assert "惩戒期限届满" in "".join(letter.data["paragraphs"])
    clock.set_frozen(datetime.combine(end + timedelta(days=2), time(1), TZ))  # the rules run again the next day
    again = sweep()
    assert again.daily_ran and again.restorations == 0  # a refused term is not reopened
