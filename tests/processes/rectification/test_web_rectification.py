"""Rectification, sanctions, notifications and the outbox page through the web UI."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Case, HumanTask, OutboxMessage
from app.core import clock
from app.services import training_clock
from app.services import outbox
from tests.support.constants import T0
from tests.support.flows import do_task, overdue, run_timers_at, timer, unit_record


def decide_measures_until_approval(api, case_id):
    run_timers_at(timer(case_id, "statement_window").fire_at + timedelta(seconds=1))
    do_task(api, "intake1", case_id, "review_statement", {"outcome": "confirm", "reasons": "未按期整改。"})


def open_via_web(web):
    intake = web("intake1")
    record = unit_record()
    page = intake.get(f"/records/{record.id}").get_data(as_text=True)
    assert "发起限期整改" in page
    response = intake.post(f"/records/{record.id}", {"deadline_days": "3", "requirements": "追回资金，完善制度"},
                           follow_redirects=True)
    assert "已发起限期整改" in response.get_data(as_text=True)
    case = db.session.scalar(select(Case).where(Case.type == "rectification"))
    # applicant1 opens the notice at once: delivered on the issue day, its deadline runs (送达).
    assert web("applicant1").get(f"/cases/letters/{case.letters[0].id}.pdf").status_code == 200
    return intake, case


def test_open_order_and_see_sanction_and_notification(web, recorded_staff):
    _, case = open_via_web(web)
    applicant = web("applicant1")
    sanctions_page = applicant.get("/sanctions").get_data(as_text=True)
    assert "限期整改" in sanctions_page and "实施中" in sanctions_page and case.record.basis_doc_no in sanctions_page
    assert "限期整改" not in web("applicant2").get("/sanctions").get_data(as_text=True)
    home = applicant.get("/notifications").get_data(as_text=True)
    assert "新待办：提交书面说明和整改报告" in home and "● 未读" in home
    assert 'class="badge"' in home  # unread count in the navigation
    applicant.post("/notifications", {})
    assert "● 未读" not in applicant.get("/notifications").get_data(as_text=True)
    case_page = applicant.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "追回资金，完善制度" in case_page and "限期整改通知书" in case_page
    assert "上传材料" in case_page  # the applicant can add evidence while its task is open


def test_bad_deadline_is_refused_on_the_page(web, recorded_staff):
    intake = web("intake1")
    record = unit_record()
    text = intake.post(f"/records/{record.id}", {"deadline_days": "0", "requirements": "x"}).get_data(as_text=True)
    assert "应在 1–120 个工作日之间" in text
    assert db.session.scalar(select(Case)) is None


def test_approver_previews_the_decision_draft(web, api, recorded_staff):
    _, case = open_via_web(web)
    overdue(api, case.id)
    decide_measures_until_approval(api, case.id)
    task = db.session.scalar(select(HumanTask).where(HumanTask.bpmn_id == "approve_measures"))
    approver = web("approver1")
    page = approver.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "预览拟出具的《失信惩戒决定书》" in page
    pdf = approver.get(f"/tasks/{task.id}/preview.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert web("applicant2").get(f"/tasks/{task.id}/preview.pdf").status_code == 404


def test_shifted_clock_shows_a_banner(web, recorded_staff, app):
    clock.set_frozen(None)
    try:
        training_clock.save_shared_offset(timedelta(days=10))
        db.session.commit()
        assert "培训/测试时钟已调整" in web("intake1").get("/tasks/inbox").get_data(as_text=True)
        training_clock.save_shared_offset(None)
        db.session.commit()
        assert "培训/测试时钟已调整" not in web("intake1").get("/tasks/inbox").get_data(as_text=True)
    finally:
        clock.set_frozen(T0)


def test_admin_sees_failed_messages_and_can_retry(web, recorded_staff):
    outbox.enqueue("push", "push:record:9:case:9", {"action": "update"})
    db.session.commit()
    message = db.session.scalar(select(OutboxMessage))
    message.status, message.attempts, message.last_error = "failed", 8, "URLError: refused"
    db.session.commit()
    admin = web("admin1")
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "push:record:9:case:9" in page and "失败" in page and "URLError" in page
    admin.post(f"/admin/outbox/{message.id}/retry", {}, form_page="/admin/outbox")
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == "pending"
    assert web("intake1").get("/admin/outbox").status_code == 404
