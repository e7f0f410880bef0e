"""credit_repair and honor_restoration (SPEC §4.3–4.4): every path, DMN tables, rule-set boundaries."""
from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.engine import decisions
from app.extensions import db
from app.models import Case, CreditRecord, Letter, OutboxMessage, Sanction, User
from app.core import clock
from app.services import eligibility, rules
from app.services.worker import sweep
from config import Config
from tests.conftest import PDF_BYTES, T0
from tests.test_objection_api import case_of, do_task
from tests.test_rectification import open_order, run_timers_at, timer

TZ = ZoneInfo(Config.TIMEZONE)
ROOT_DMN = __import__("pathlib").Path(__file__).resolve().parent.parent / "processes"


def records_of(username: str, **where) -> list[CreditRecord]:
    user = db.session.scalar(select(User).where(User.username == username))
    query = select(CreditRecord).where(CreditRecord.subject_unit_id == user.unit_id, CreditRecord.subject_type == "unit")
    for key, value in where.items():
        query = query.where(getattr(CreditRecord, key) == value)
    return list(db.session.scalars(query.order_by(CreditRecord.id)))


def repairable(username="applicant1") -> CreditRecord:
    today = T0.astimezone(TZ).date()
    return next(r for r in records_of(username) if r.earliest_repair_date <= today and r.status == "published"
                and eligibility.repair_verdict(r).eligible)


def file_repair(api, record: CreditRecord, username="applicant1") -> dict:
    client = api(username)
    created = client.post("/api/v1/cases", json={"type": "repair", "record_id": record.id,
                                                 "statement": "已全额支付拖欠款项，并完善了内控制度。"})
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    for kind in ("evidence", "commitment"):
        r = client.post(f"/api/v1/cases/{case_id}/attachments", content_type="multipart/form-data",
                        data={"kind": kind, "file": (io.BytesIO(PDF_BYTES), f"{kind}.pdf")})
        assert r.status_code == 201
    submitted = client.post(f"/api/v1/cases/{case_id}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    return submitted.get_json()


# --- DMN tables, from a table of cases --------------------------------------------------------

REPAIR_TABLE = [
    # (min_period_passed, rectification_ok, open_case, barred) -> (eligible, reason)
    ((False, True, False, False), (False, "min_period")),
    ((False, False, True, True), (False, "min_period")),  # the earliest obstacle is named first
    ((True, False, False, False), (False, "rectification")),
    ((True, True, True, False), (False, "open_case")),
    ((True, True, False, True), (False, "barred")),
    ((True, True, False, False), (True, "eligible")),
]


@pytest.mark.parametrize("facts, expected", REPAIR_TABLE)
def test_repair_dmn(facts, expected):
    names = ("min_period_passed", "rectification_ok", "open_case", "barred")
    result = decisions.evaluate("repair_eligibility", (ROOT_DMN / "credit_repair" / "repair_eligibility.dmn").read_text(),
                                dict(zip(names, facts)))
    assert (result["eligible"], result["ineligible_reason"]) == expected


@pytest.mark.parametrize("facts, expected", [
    ((False, False), (False, "records_active")),
    ((False, True), (False, "records_active")),
    ((True, True), (False, "other_serious")),
    ((True, False), (True, "eligible")),
])
def test_restoration_dmn(facts, expected):
    result = decisions.evaluate("restoration_eligibility", (ROOT_DMN / "honor_restoration" / "restoration_eligibility.dmn").read_text(),
                                {"records_cleared": facts[0], "other_serious_active": facts[1]})
    assert (result["eligible"], result["ineligible_reason"]) == expected


# --- rule-set boundaries --------------------------------------------------------------------

def test_rule_set_by_basis_date(app):
    rules.seed_rule_sets()
    assert rules.rule_set_on(date(2026, 3, 31)).code == "NDRC-58"
    assert rules.rule_set_on(date(2026, 4, 1)).code == "NDRC-36"
    old, new = rules.rule_set_on(date(2026, 3, 31)), rules.rule_set_on(date(2026, 4, 1))
    assert rules.publication_dates(old, "minor", date(2026, 3, 31)) == (date(2026, 6, 30), date(2027, 3, 31))
    assert rules.publication_dates(new, "minor", date(2026, 4, 1)) == (date(2026, 4, 1), date(2026, 7, 1))
    assert rules.publication_dates(new, "serious", date(2026, 4, 1)) == (date(2027, 4, 1), date(2029, 4, 1))


def test_eligibility_day_before_and_day_of_minimum_period(api, seeded):
    record = repairable()
    earliest = record.earliest_repair_date
    clock.set_frozen(datetime.combine(earliest - timedelta(days=1), time(10), TZ))
    verdict = eligibility.repair_verdict(record)
    assert not verdict.eligible and verdict.code == "min_period" and verdict.earliest == earliest
    response = api("applicant1").post("/api/v1/cases", json={"type": "repair", "record_id": record.id,
                                                             "statement": "x"})
    body = response.get_json()["error"]
    assert response.status_code == 422 and body["code"] == "not_eligible_min_period"
    assert f"{earliest.year}年{earliest.month}月{earliest.day}日" in body["message"]
    assert body["fields"]["earliest_repair_date"] == earliest.isoformat()
    assert db.session.scalar(select(Case)) is None
    clock.set_frozen(datetime.combine(earliest, time(10), TZ))
    assert eligibility.repair_verdict(record).eligible


def test_filed_at_seven_beijing_on_the_first_eligible_day_passes_both_checks(api, seeded):
    """07:00 in Beijing is 23:00 UTC the day before: the form's check and the process's DMN both count the local day."""
    record = repairable()
    earliest = record.earliest_repair_date
    clock.set_frozen(datetime.combine(earliest, time(7), TZ))
    assert clock.now().date() == earliest - timedelta(days=1)  # the UTC date is still the day before
    assert eligibility.repair_verdict(record).eligible
    case = file_repair(api, record)  # created (the form's check) and submitted (the process's check)
    assert case["status"] == "in_progress" and [t["bpmn_id"] for t in case["open_tasks"]] == ["intake_review"]


# --- credit_repair paths --------------------------------------------------------------------

def test_repair_approved(api, seeded):
    record = repairable()
    case = file_repair(api, record)
    assert case["number"].startswith("XF-2026-") and [t["bpmn_id"] for t in case["open_tasks"]] == ["intake_review"]
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "agree", "opinion": "已履行义务。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "approve", "reasons": "符合修复条件。"})
    final = case_of(api, "applicant1", case["id"])
    assert final["status"] == "closed" and final["outcome"] == "repaired"
    assert [l["title"] for l in final["letters"]] == ["信用修复决定书"]
    db.session.expire_all()
    assert db.session.get(CreditRecord, record.id).status == "repaired"
    push = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "push"))
    assert push.payload["action"] == "withdraw" and push.payload["record_id"] == record.id


def test_repair_refused(api, seeded):
    record = repairable()
    case = file_repair(api, record)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "disagree", "opinion": "尚未履行。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "refuse", "reasons": "未履行判决义务。"})
    final = case_of(api, "applicant1", case["id"])
    assert final["outcome"] == "refused" and [l["title"] for l in final["letters"]] == ["不予修复决定书"]
    db.session.expire_all()
    assert db.session.get(CreditRecord, record.id).status == "published"


def test_repair_rejected_at_intake(api, seeded):
    case = file_repair(api, repairable())
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "reject", "reason": "材料与申请事项不符"})
    final = case_of(api, "applicant1", case["id"])
    assert final["status"] == "rejected" and [l["title"] for l in final["letters"]] == ["不予受理通知书"]


def test_repair_supplement_timeout(api, seeded):
    case = file_repair(api, repairable())
    do_task(api, "intake1", case["id"], "intake_review",
            {"intake_choice": "request_supplement", "supplement_items": "缴款凭证", "reason": "缺少凭证"})
    job = timer(case["id"], "supplement_timeout")
    run_timers_at(job.fire_at + timedelta(seconds=1))
    assert case_of(api, "applicant1", case["id"])["status"] == "withdrawn"


def test_in_process_dmn_catches_a_change_after_the_precheck(api, seeded):
    """Eligibility is checked again inside the process, on facts as of submission."""
    from app.services import applications

    record = repairable()
    client = api("applicant1")
    case_id = client.post("/api/v1/cases", json={"type": "repair", "record_id": record.id,
                                                 "statement": "说明"}).get_json()["id"]
    for kind in ("evidence", "commitment"):
        client.post(f"/api/v1/cases/{case_id}/attachments", content_type="multipart/form-data",
                    data={"kind": kind, "file": (io.BytesIO(PDF_BYTES), "a.pdf")})
    # A rectification ordered meanwhile (not yet accepted) makes the record ineligible.
    open_order(api, record=record)
    response = client.post(f"/api/v1/cases/{case_id}/submit")
    assert response.status_code == 409 and "整改" in response.get_json()["error"]["message"]
    assert db.session.get(Case, case_id).status == "draft"
    assert applications.missing_materials(db.session.get(Case, case_id)) == []


# --- honour restoration ---------------------------------------------------------------------

def disqualify(api, record: CreditRecord) -> int:
    """Run a rectification past its deadline (disqualification), then accept the late report."""
    order = open_order(api, days=3, record=record)
    run_timers_at(timer(order["id"], "rectification_deadline").fire_at + timedelta(seconds=1))
    do_task(api, "approver1", order["id"], "approve_public_criticism", {"criticism": "decline", "comment": "不予"})
    do_task(api, "applicant1", order["id"], "submit_late", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", order["id"], "review_rectification", {"review": "accept", "opinion": "同意"})
    return db.session.scalar(select(Sanction.id).where(Sanction.kind == "honor_disqualification"))


def clear_other_serious(record: CreditRecord) -> None:
    """Test set-up: the unit's other serious records are revoked (so only this record stands)."""
    for other in db.session.scalars(select(CreditRecord).where(
            CreditRecord.subject_unit_id == record.subject_unit_id, CreditRecord.severity == "serious",
            CreditRecord.id != record.id)):
        other.status = "revoked"
    db.session.commit()


def test_repair_lifts_disqualification_end_to_end(api, seeded):
    record = repairable()
    clear_other_serious(record)
    sanction_id = disqualify(api, record)
    t_day = (clock.now() + timedelta(days=1)).astimezone(TZ).date()
    unit_id = record.subject_unit_id
    before = api("intake1").get(f"/api/v1/units/{unit_id}/honor-eligibility?date={t_day}").get_json()
    assert before["eligible"] is False and [s["id"] for s in before["sanctions"]] == [sanction_id]
    # Repair is possible now that the rectification was accepted.
    case = file_repair(api, db.session.get(CreditRecord, record.id))
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "agree", "opinion": "同意"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "approve", "reasons": "符合条件"})
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
    assert letter.data["cc"] == ["中共随州市委组织部", "随州市人力资源和社会保障局"]
    after = api("intake1").get(f"/api/v1/units/{unit_id}/honor-eligibility?date=2027-06-01").get_json()
    assert after["eligible"] is True and after["sanctions"] == []


def test_applicant_restoration_refused_with_reason_while_record_stands(api, seeded):
    record = repairable()
    sanction_id = disqualify(api, record)
    response = api("applicant1").post("/api/v1/cases", json={"type": "restoration", "sanction_id": sanction_id})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "not_eligible_records_active"
    assert api("applicant2").post("/api/v1/cases", json={"type": "restoration",
                                                         "sanction_id": sanction_id}).status_code == 404


def test_review_disagree_closes_without_restoring(api, seeded):
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
    do_task(api, "intake1", case.id, "review_restoration", {"restoration_review": "disagree", "opinion": "材料不实"})
    assert case_of(api, "applicant1", case.id)["outcome"] == "not_restored"
    assert db.session.get(Sanction, sanction_id).status == "active"


def test_term_end_restores_automatically_without_a_human_task(api, seeded):
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
    assert sweep().restorations == 0  # never twice


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
    assert sweep().restorations == 0


def test_expired_records_are_withdrawn(seeded):
    record = db.session.scalars(select(CreditRecord).where(CreditRecord.status == "published")
                                .order_by(CreditRecord.auto_end_date)).first()
    record_id = record.id
    clock.set_frozen(datetime.combine(record.auto_end_date + timedelta(days=1), time(1), TZ))
    assert sweep().expired >= 1
    assert db.session.get(CreditRecord, record_id).status == "expired"
    keys = db.session.scalars(select(OutboxMessage.idempotency_key)).all()
    assert f"push:withdraw:record:{record_id}:status:expired" in keys
