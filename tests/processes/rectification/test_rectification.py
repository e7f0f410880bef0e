"""rectification (SPEC §4.2): every path of the BPMN file, sanctions, reminder and deadline timers."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, CreditRecord, Letter, Notification, Sanction
from tests.support.flows import (case_of, decide_measures, do_task, open_order, overdue, run_timers_at, sanctions_of,
                                 timer, unit_record)


def test_on_time_submission_accepted(api, recorded_staff):
    case = open_order(api)
    assert case["status"] == "in_progress" and case["number"].startswith("ZG-2026-")
    assert [l["title"] for l in case["letters"]] == ["限期整改通知书"]
    assert sanctions_of(case["id"]) == {"rectification_order": "active"}
    task = case_of(api, "applicant1", case["id"])["open_tasks"][0]
    # 20 working days from Friday 2026-11-27 is Friday 2026-12-25 (no holidays in between).
    assert task["bpmn_id"] == "submit_rectification" and task["due_at"] == "2026-12-25T15:59:59+00:00"
    do_task(api, "applicant1", case["id"], "submit_rectification",
            {"explanation": "因内控制度不健全导致。", "report": "已追回资金并修订制度。"})
    do_task(api, "intake1", case["id"], "review_rectification", {"review": "accept", "opinion": "整改到位。"})
    final = case_of(api, "applicant1", case["id"])
    assert final["status"] == "closed" and final["outcome"] == "accepted"
    assert sanctions_of(case["id"]) == {"rectification_order": "lifted"}
    record = db.session.get(CreditRecord, final["record_id"])
    assert record.rectified_at is not None
    lifted = db.session.scalar(select(Sanction).where(Sanction.created_by_case_id == case["id"]))
    assert lifted.lifted_by_case_id == case["id"] and lifted.lifted_reason == "整改已通过审核"
    assert [h.to_status for h in lifted.history] == ["active", "lifted"]
    titles = [l.title for l in db.session.scalars(select(Letter).where(Letter.case_id == case["id"]).order_by(Letter.id))]
    assert titles == ["限期整改通知书", "整改验收（解除限期整改）通知书"]
    # No timer is left to fire for a finished case.
    assert timer(case["id"], "rectification_deadline") is None and timer(case["id"], "rectification_reminder") is None


def test_return_for_rework_sets_a_new_deadline(api, recorded_staff):
    case = open_order(api, days=10)
    do_task(api, "applicant1", case["id"], "submit_rectification", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", case["id"], "review_rectification", {"review": "return_for_rework", "opinion": "不到位"},
            expect=422)  # a new deadline is required
    do_task(api, "intake1", case["id"], "review_rectification",
            {"review": "return_for_rework", "opinion": "整改不到位", "new_deadline_days": "5"})
    again = case_of(api, "applicant1", case["id"])["open_tasks"]
    assert [t["bpmn_id"] for t in again] == ["submit_rectification"]
    assert again[0]["due_at"] == "2026-12-04T15:59:59+00:00"
    assert timer(case["id"], "rectification_deadline").fire_at.isoformat() == "2026-12-04T15:59:59+00:00"
    letters = db.session.scalars(select(Letter).where(Letter.case_id == case["id"]).order_by(Letter.id)).all()
    assert [l.title for l in letters] == ["限期整改通知书", "重新整改通知书"]
    assert "最后一日为2026年12月4日（含）" in "".join(letters[1].data["paragraphs"]) and "整改不到位" in letters[1].data["paragraphs"][0]


def test_reminder_three_working_days_before(api, recorded_staff):
    case = open_order(api, days=20)
    reminder = timer(case["id"], "rectification_reminder")
    # Deadline Friday 12-25 → reminder Tuesday 12-22, 09:00 Beijing time.
    assert reminder.fire_at.isoformat() == "2026-12-22T01:00:00+00:00"
    assert run_timers_at(reminder.fire_at + timedelta(seconds=1)) == 1
    kinds = db.session.scalars(select(Notification.kind).where(Notification.case_id == case["id"])).all()
    assert "reminder" in kinds
    # Non-interrupting: the submission is still open, with the same deadline.
    assert [t["bpmn_id"] for t in case_of(api, "applicant1", case["id"])["open_tasks"]] == ["submit_rectification"]


def test_overdue_imposes_nothing_and_the_unit_can_still_submit_late(api, recorded_staff):
    case = open_order(api, days=3)
    overdue(api, case["id"])
    assert sanctions_of(case["id"]) == {"rectification_order": "active", "honor_disqualification": "proposed",
                                        "public_criticism": "proposed"}
    proposed = db.session.scalars(select(Sanction).where(Sanction.status == "proposed")).all()
    assert all(s.start_date is None for s in proposed)
    open_steps = sorted(t["bpmn_id"] for t in case_of(api, "intake1", case["id"])["open_tasks"])
    assert open_steps == ["state_case", "submit_late"]
    titles = [l.title for l in db.session.scalars(select(Letter).where(Letter.case_id == case["id"]).order_by(Letter.id))]
    assert titles == ["限期整改通知书", "拟惩戒告知书"]
    # The unit can still submit late; acceptance lifts the order, the proposals wait for their decision.
    do_task(api, "applicant1", case["id"], "submit_late", {"explanation": "逾期说明", "report": "整改报告"})
    do_task(api, "intake1", case["id"], "review_rectification", {"review": "accept", "opinion": "同意"})
    assert sanctions_of(case["id"]) == {"rectification_order": "lifted", "honor_disqualification": "proposed",
                                        "public_criticism": "proposed"}
    assert case_of(api, "intake1", case["id"])["status"] == "in_progress"  # the measures are still to be decided
    decide_measures(api, case["id"], outcome="exempt")
    final = case_of(api, "intake1", case["id"])
    assert final["status"] == "closed" and final["outcome"] == "accepted"
    assert sanctions_of(case["id"]) == {"rectification_order": "lifted", "honor_disqualification": "declined",
                                        "public_criticism": "declined"}


@pytest.mark.parametrize("payload, code", [
    ({"deadline_days": 0}, 422), ({"deadline_days": "abc"}, 422), ({"deadline_days": 500}, 422),
    ({"requirements": ""}, 422),
])
def test_bad_orders_change_nothing(api, recorded_staff, payload, code):
    record = unit_record()
    body = {"type": "rectification", "record_id": record.id, "deadline_days": 20, "requirements": "要求", **payload}
    assert api("intake1").post("/api/v1/cases", json=body).status_code == code
    assert db.session.scalar(select(Case)) is None and db.session.scalar(select(Sanction)) is None


def test_only_intake_opens_and_only_unit_subjects(api, seeded):
    record = unit_record()
    body = {"type": "rectification", "record_id": record.id, "deadline_days": 20, "requirements": "要求"}
    assert api("applicant1").post("/api/v1/cases", json=body).status_code == 422
    person = db.session.scalar(select(CreditRecord).where(CreditRecord.subject_type == "person"))
    assert api("intake1").post("/api/v1/cases", json={**body, "record_id": person.id}).status_code == 409
    open_order(api, record=record)
    assert api("intake1").post("/api/v1/cases", json=body).status_code == 409  # one open order per record


def test_sanctions_visible_to_own_unit_and_staff_only(api, recorded_staff):
    case = open_order(api)
    mine = api("applicant1").get("/api/v1/sanctions").get_json()["items"]
    assert [s["kind"] for s in mine] == ["rectification_order"] and mine[0]["created_by_case_id"] == case["id"]
    assert api("applicant2").get("/api/v1/sanctions").get_json()["items"] == []
    assert len(api("approver1").get("/api/v1/sanctions").get_json()["items"]) == 1
