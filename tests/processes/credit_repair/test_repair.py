"""credit_repair (SPEC §4.3): every path, its DMN table, rule-set boundaries."""
from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.engine import decisions
from app.extensions import db
from app.models import Case, CreditRecord, OutboxMessage
from app.core import clock
from app.services import eligibility, rules
from app.services.worker import sweep
from config import Config
from tests.support.constants import PROCESSES
from tests.support.files import PDF_BYTES
from tests.support.flows import (case_of, deliver_letters, do_task, file_repair, open_order, repairable,
                                 run_timers_at, timer)

TZ = ZoneInfo(Config.TIMEZONE)


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
    result = decisions.evaluate("repair_eligibility", (PROCESSES / "credit_repair" / "repair_eligibility.dmn").read_text(),
                                dict(zip(names, facts)))
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


def test_eligibility_day_before_and_day_of_minimum_period(api, recorded_staff):
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


def test_filed_at_seven_beijing_on_the_first_eligible_day_passes_both_checks(api, recorded_staff):
    """07:00 in Beijing is 23:00 UTC the day before: the form's check and the process's DMN both count the local day."""
    record = repairable()
    earliest = record.earliest_repair_date
    clock.set_frozen(datetime.combine(earliest, time(7), TZ))
    assert clock.now().date() == earliest - timedelta(days=1)  # the UTC date is still the day before
    assert eligibility.repair_verdict(record).eligible
    case = file_repair(api, record)  # created (the form's check) and submitted (the process's check)
    assert case["status"] == "in_progress" and [t["bpmn_id"] for t in case["open_tasks"]] == ["intake_review"]


# --- credit_repair paths --------------------------------------------------------------------

def test_repair_approved(api, recorded_staff):
    record = repairable()
    case = file_repair(api, record)
    assert case["number"].startswith("XF-2026-") and [t["bpmn_id"] for t in case["open_tasks"]] == ["intake_review"]
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "agree", "opinion": "已履行义务。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "approve", "reasons": "符合修复条件。"})
    final = case_of(api, "applicant1", case["id"])
    assert final["status"] == "closed" and final["outcome"] == "repaired"
    assert [l["title"] for l in final["letters"]] == ["修复受理通知书", "信用修复决定书"]
    db.session.expire_all()
    assert db.session.get(CreditRecord, record.id).status == "repaired"
    push = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "push"))
    assert push.payload["action"] == "withdraw" and push.payload["record_id"] == record.id


def test_repair_refused(api, recorded_staff):
    record = repairable()
    case = file_repair(api, record)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "disagree", "opinion": "尚未履行。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "refuse", "reasons": "未履行判决义务。"})
    final = case_of(api, "applicant1", case["id"])
    assert final["outcome"] == "refused" and [l["title"] for l in final["letters"]] == ["修复受理通知书", "不予修复决定书"]
    db.session.expire_all()
    assert db.session.get(CreditRecord, record.id).status == "published"


def test_repair_rejected_at_intake(api, recorded_staff):
    case = file_repair(api, repairable())
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "reject", "reason": "材料与申请事项不符"})
    final = case_of(api, "applicant1", case["id"])
    assert final["status"] == "rejected" and [l["title"] for l in final["letters"]] == ["不予受理通知书"]


def test_repair_supplement_timeout(api, recorded_staff):
    case = file_repair(api, repairable())
    do_task(api, "intake1", case["id"], "intake_review",
            {"intake_choice": "request_supplement", "supplement_items": "缴款凭证", "reason": "缺少凭证"})
    job = timer(case["id"], "supplement_timeout")
    run_timers_at(job.fire_at + timedelta(seconds=1))  # the 补正通知书 not delivered: its deadline has not begun
    assert case_of(api, "applicant1", case["id"])["status"] == "supplement"
    deliver_letters(case["id"])
    run_timers_at(timer(case["id"], "supplement_timeout").fire_at + timedelta(seconds=1))
    assert case_of(api, "applicant1", case["id"])["status"] == "withdrawn"


def test_in_process_dmn_catches_a_change_after_the_precheck(api, recorded_staff):
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
    assert applications.missing_materials(db.session.get(Case, case_id)) == {}


def test_expired_records_are_withdrawn(recorded_staff):
    record = db.session.scalars(select(CreditRecord).where(CreditRecord.status == "published")
                                .order_by(CreditRecord.auto_end_date)).first()
    record_id = record.id
    clock.set_frozen(datetime.combine(record.auto_end_date + timedelta(days=1), time(1), TZ))
    assert sweep().expired >= 1
    assert db.session.get(CreditRecord, record_id).status == "expired"
    keys = db.session.scalars(select(OutboxMessage.idempotency_key)).all()
    assert f"push:withdraw:record:{record_id}:status:expired" in keys
