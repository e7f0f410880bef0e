"""objection_review through the JSON API: the happy path and every unhappy path of the BPMN file."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, CreditRecord, HumanTask, OutboxMessage, RecordHistory, TimerJob, Unit
from app.core import clock
from tests.support.clients import enrol_second_factor_for_tests
from tests.support.flows import case_of, do_task, file_objection, own_record


def test_happy_path_correct(api, recorded_staff):
    case = file_objection(api)
    case_id = case["id"]
    assert case["status"] == "in_progress" and case["number"].startswith("YY-2026-")
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["intake_review"]
    assert case["open_tasks"][0]["due_at"]  # every task shows its due date
    record = db.session.get(CreditRecord, case["record_id"])
    db.session.refresh(record)
    assert record.status == "disputed"  # flagged at receipt (the submission), same transaction

    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    after_accept = case_of(api, "applicant1", case_id)
    assert [l["title"] for l in after_accept["letters"]] == ["受理通知书"]

    do_task(api, "verifier1", case_id, "verify_record",
            {"verify_choice": "error_confirmed", "opinion": "经核查，金额有误。", "proposal": "correct",
             "corrected_facts": "更正后的事实。"})
    do_task(api, "intake1", case_id, "draft_decision", {"decision": "correct", "reasons": "认定单位确认信息有误。"})
    do_task(api, "approver1", case_id, "approve_decision", {"approval": "approve"})

    final = case_of(api, "applicant1", case_id)
    assert final["status"] == "closed" and final["outcome"] == "correct"
    assert [l["title"] for l in final["letters"]] == ["受理通知书", "异议处理决定书"]
    assert final["letters"][1]["doc_number"] == "随信用异决〔2026〕1号"
    assert not final["open_tasks"]
    db.session.expire_all()
    record = db.session.get(CreditRecord, case["record_id"])
    assert record.status == "corrected" and record.facts == "更正后的事实。"
    history = db.session.scalars(select(RecordHistory).where(RecordHistory.record_id == record.id)).all()
    assert [h.to_status for h in history][-2:] == ["disputed", "corrected"]
    assert history[-1].changes["facts"][1] == "更正后的事实。"
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "push")).payload["record_id"] == record.id
    pdf = api("applicant1").get(final["letters"][1]["pdf"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    # Internal opinions stay with staff: the applicant's history has no verifier opinion.
    assert all(not h["internal"] for h in final["history"])
    assert any(h["internal"] for h in case_of(api, "intake1", case_id)["history"])


@pytest.mark.parametrize("answer, decision, status", [
    ({"verify_choice": "error_confirmed", "proposal": "revoke"}, "revoke", "revoked"),
    ({"verify_choice": "no_error"}, "maintain", "published"),
    ({"verify_choice": "cannot_confirm"}, "annotate", "published"),
])
def test_other_decisions(api, recorded_staff, answer, decision, status):
    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case_id, "verify_record", {**answer, "opinion": "核查意见。"})
    do_task(api, "intake1", case_id, "draft_decision", {"decision": decision, "reasons": "理由。"})
    do_task(api, "approver1", case_id, "approve_decision", {"approval": "approve"})
    record = db.session.get(Case, case_id).record
    db.session.refresh(record)
    assert record.status == status
    if decision == "annotate":
        assert "理由" in record.annotation


def test_approval_return_loop(api, recorded_staff):
    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case_id, "verify_record", {"verify_choice": "no_error", "opinion": "无误。"})
    do_task(api, "intake1", case_id, "draft_decision", {"decision": "maintain", "reasons": "初稿。"})
    do_task(api, "approver1", case_id, "approve_decision", {"approval": "return"}, expect=422)  # comment required
    do_task(api, "approver1", case_id, "approve_decision", {"approval": "return", "comment": "请补充依据。"})
    assert [t["bpmn_id"] for t in case_of(api, "intake1", case_id)["open_tasks"]] == ["draft_decision"]
    do_task(api, "intake1", case_id, "draft_decision", {"decision": "maintain", "reasons": "补充依据后维持。"})
    do_task(api, "approver1", case_id, "approve_decision", {"approval": "approve"})
    final = case_of(api, "applicant1", case_id)
    assert final["status"] == "closed" and final["outcome"] == "maintain"


def test_reject_issues_rejection_notice(api, recorded_staff):
    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "reject"}, expect=422)  # reason required
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "reject", "reason": "异议事项不属于本办受理范围"})
    final = case_of(api, "applicant1", case_id)
    assert final["status"] == "rejected"
    assert [l["title"] for l in final["letters"]] == ["不予受理通知书"]
    record = db.session.get(CreditRecord, final["record_id"])
    db.session.refresh(record)
    assert record.status == "published"  # flagged at receipt, the flag removed with the refusal


def test_supplement_then_resubmit(api, recorded_staff):
    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review",
            {"intake_choice": "request_supplement", "supplement_items": "撤销决定书原件扫描件", "reason": "材料不全"})
    asked = case_of(api, "applicant1", case_id)
    assert asked["status"] == "supplement" and [l["title"] for l in asked["letters"]] == ["补正通知书"]
    do_task(api, "applicant1", case_id, "supplement_materials", {"statement": "已补充撤销决定书。"})
    state = case_of(api, "intake1", case_id)
    assert state["status"] == "in_progress" and [t["bpmn_id"] for t in state["open_tasks"]] == ["intake_review"]
    # The boundary timer of the finished supplement task was cancelled, not left to fire.
    assert db.session.scalars(select(TimerJob.status).where(TimerJob.bpmn_id == "supplement_timeout")).all() == ["cancelled"]


def test_supplement_timeout_closes_as_withdrawn(api, recorded_staff):
    from app.services.workflow.run import due_timer_ids, fire_timer

    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review",
            {"intake_choice": "request_supplement", "supplement_items": "承诺书", "reason": "材料不全"})
    # The applicant opens the 补正通知书 in the app the same day: delivered, its 5 working days run from then.
    letter = case_of(api, "applicant1", case_id)["letters"][0]
    assert api("applicant1").get(letter["pdf"]).status_code == 200
    job = db.session.scalar(select(TimerJob).where(TimerJob.bpmn_id == "supplement_timeout", TimerJob.status == "pending"))
    # 5 working days after Friday 2026-11-27 is Friday 2026-12-04, 23:59:59 Beijing time.
    assert job.fire_at.isoformat() == "2026-12-04T15:59:59+00:00"
    assert due_timer_ids() == []
    clock.set_frozen(job.fire_at + timedelta(seconds=1))
    assert due_timer_ids() == [job.id]
    assert fire_timer(job.id) is True
    db.session.commit()
    assert fire_timer(job.id) is False  # fires exactly once
    final = case_of(api, "applicant1", case_id)
    assert final["status"] == "withdrawn" and final["outcome"] == "supplement_overdue"
    assert not final["open_tasks"]
    assert [l["title"] for l in final["letters"]] == ["补正通知书", "视为撤回告知书"]
    record = db.session.get(CreditRecord, final["record_id"])
    db.session.refresh(record)
    assert record.status == "published"  # the 异议中 flag removed: deemed withdrawn


def test_verification_overdue_escalates(api, recorded_staff):
    from app.models import Notification
    from app.services.workflow.run import due_timer_ids, fire_timer

    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    job = db.session.scalar(select(TimerJob).where(TimerJob.bpmn_id == "verify_overdue"))
    clock.set_frozen(job.fire_at + timedelta(minutes=1))
    for job_id in due_timer_ids():
        fire_timer(job_id)
    db.session.commit()
    kinds = set(db.session.scalars(select(Notification.kind).where(Notification.case_id == case_id)))
    assert {"overdue", "escalation"} <= kinds
    # Non-interrupting: the verifier can still verify.
    assert [t["bpmn_id"] for t in case_of(api, "intake1", case_id)["open_tasks"]] == ["verify_record"]


def test_submit_names_missing_materials(api, recorded_staff):
    client = api("applicant1")
    record = own_record("applicant1")
    case_id = client.post("/api/v1/cases", json={"type": "objection", "record_id": record.id, "reason": "duplicate",
                                                 "statement": "重复公示。"}).get_json()["id"]
    response = client.post(f"/api/v1/cases/{case_id}/submit")
    assert response.status_code == 422
    body = response.get_json()["error"]
    assert body["code"] == "missing_materials" and "承诺书" in body["message"] and "证据" in body["message"]
    assert "evidence" not in body["message"] and set(body["fields"]) == {"evidence", "commitment"}
    assert db.session.get(Case, case_id).status == "draft"


def test_one_open_objection_per_record(api, recorded_staff):
    first = file_objection(api)
    client = api("applicant1")
    response = client.post("/api/v1/cases", json={"type": "objection", "record_id": first["record_id"],
                                                  "reason": "duplicate", "statement": "再次异议。"})
    assert response.status_code == 409
    assert first["number"] in response.get_json()["error"]["message"]


def test_duplicate_submit_is_409(api, recorded_staff):
    case = file_objection(api)
    again = api("applicant1").post(f"/api/v1/cases/{case['id']}/submit")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "duplicate_submission"


def test_completed_task_answers_409(api, recorded_staff):
    case_id = file_objection(api)["id"]
    task_id = do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    again = api("intake1").post(f"/api/v1/tasks/{task_id}/complete", json={"intake_choice": "reject", "reason": "x"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "task_closed"


def test_task_held_by_someone_else_is_409(api, recorded_staff):
    from app.services.auth import create_user

    office = db.session.scalar(select(Unit.id).where(Unit.is_credit_office.is_(True)))
    create_user("intake2", "受理员二", office, ["intake"], "Xinyong@2026")
    db.session.commit()
    case_id = file_objection(api)["id"]
    task_id = api("intake1").get("/api/v1/tasks?scope=group").get_json()["items"][0]["id"]
    assert api("intake1").post(f"/api/v1/tasks/{task_id}/claim").status_code == 200
    other = api("intake2")
    assert other.post(f"/api/v1/tasks/{task_id}/claim").status_code == 409
    held = other.post(f"/api/v1/tasks/{task_id}/complete", json={"intake_choice": "accept"})
    assert held.status_code == 409 and held.get_json()["error"]["code"] == "task_held"
    assert db.session.get(Case, case_id).status == "in_progress"


def test_bad_task_input_changes_nothing(api, recorded_staff):
    case_id = file_objection(api)["id"]
    client = api("intake1")
    task_id = client.get("/api/v1/tasks?scope=group").get_json()["items"][0]["id"]
    for payload in ({"intake_choice": "maybe"}, {"intake_choice": 3}, {"nonsense": "x"}, ["accept"], {}):
        response = client.post(f"/api/v1/tasks/{task_id}/complete", json=payload)
        assert response.status_code == 422, payload
    assert db.session.get(HumanTask, task_id).status == "open"
    assert db.session.get(Case, case_id).letters == []


def test_approver_cannot_approve_own_draft(api, recorded_staff):
    from app.models import UserRole

    db.session.add(UserRole(user_id=recorded_staff["intake1"].id, role="approver"))
    db.session.flush()
    enrol_second_factor_for_tests()  # an approver signs in with a TOTP code
    db.session.commit()
    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case_id, "verify_record", {"verify_choice": "no_error", "opinion": "无误。"})
    do_task(api, "intake1", case_id, "draft_decision", {"decision": "maintain", "reasons": "维持。"})
    client = api("intake1")
    task = next(t for t in client.get("/api/v1/tasks?scope=all").get_json()["items"] if t["bpmn_id"] == "approve_decision")
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"approval": "approve"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "separation_of_duties"


def test_calendar_deadline_endpoint(api, recorded_staff):
    client = api("intake1")
    body = client.get("/api/v1/calendar/deadline?start=2026-09-30&working_days=3").get_json()
    # 10-01..10-07 are rest days; 10-08, 10-09 and the make-up Saturday 10-10 count.
    assert body["due_date"] == "2026-10-10" and body["provisional"] is False
    late = client.get("/api/v1/calendar/deadline?start=2026-12-28&working_days=10").get_json()
    assert late["provisional"] is True
    assert client.get("/api/v1/calendar/deadline?start=bad&working_days=x").status_code == 422


def test_verify_extension_through_the_api(api, recorded_staff):
    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    task = next(t for t in api("verifier1").get("/api/v1/tasks?scope=all").get_json()["items"]
                if t["case_id"] == case_id)
    before = db.session.scalar(select(TimerJob.fire_at).where(TimerJob.bpmn_id == "verify_overdue"))
    assert api("applicant1").post(f"/api/v1/tasks/{task['id']}/extension", json={"reason": "x"}).status_code == 404
    assert api("verifier1").post(f"/api/v1/tasks/{task['id']}/extension", json={"reason": 3}).status_code == 422
    asked = api("verifier1").post(f"/api/v1/tasks/{task['id']}/extension", json={"reason": "需调取档案原件"})
    assert asked.status_code == 200 and asked.get_json()["extension"] == "requested"
    again = api("verifier1").post(f"/api/v1/tasks/{task['id']}/extension", json={"reason": "再次"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "extension_once"
    assert api("verifier1").post(f"/api/v1/cases/{case_id}/extension", json={"approve": True}).status_code == 404
    approved = api("intake1").post(f"/api/v1/cases/{case_id}/extension", json={"approve": True, "comment": "同意"})
    assert approved.status_code == 200, approved.get_json()
    db.session.expire_all()
    after = db.session.scalar(select(TimerJob.fire_at).where(TimerJob.bpmn_id == "verify_overdue",
                                                             TimerJob.status == "pending"))
    assert after > before
    history = case_of(api, "intake1", case_id)["history"]
    assert any("同意延长核查期限" in (h.get("comment") or "") for h in history)
