"""objection_review through the Chinese web UI, as the people who use it would click through it."""
from __future__ import annotations

import io
import re

from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, Case, HumanTask
from tests.support.files import PDF_BYTES
from tests.support.flows import own_record


def open_task_id(case_id: int, bpmn_id: str) -> str:
    return db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id,
                                                        HumanTask.status == "open"))


def file_via_web(web, username="applicant1"):
    applicant = web(username)
    record = own_record(username)
    page = applicant.get(f"/portal/records/{record.id}").get_data(as_text=True)
    assert "提出异议" in page and record.basis_doc_no in page
    response = applicant.post(
        f"/portal/records/{record.id}",
        {"action": "objection", "objection-reason": "wrong_content", "objection-statement": "认定文书已被撤销。",
         "objection-evidence": [(io.BytesIO(PDF_BYTES), "撤销决定书.pdf")],
         "objection-commitment": (io.BytesIO(PDF_BYTES), "异议申诉信用承诺书.pdf")},
        content_type="multipart/form-data", follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "异议申请已提交" in text, text
    case = db.session.scalar(select(Case).where(Case.type != "registration", Case.record_id == record.id))
    return applicant, case


def work(web, username, case_id, bpmn_id, values):
    staff = web(username)
    task_id = open_task_id(case_id, bpmn_id)
    inbox = staff.get("/tasks/inbox?scope=group").get_data(as_text=True)
    assert task_id in inbox and "剩余" in inbox  # remaining working days shown
    staff.post(f"/tasks/{task_id}/claim", form_page="/tasks/inbox?scope=group")
    assert task_id in staff.get("/tasks/inbox?scope=mine").get_data(as_text=True)
    response = staff.post(f"/tasks/{task_id}", values, follow_redirects=True)
    assert "已办理" in response.get_data(as_text=True), response.get_data(as_text=True)


def test_web_happy_path(web, recorded_staff):
    applicant, case = file_via_web(web)
    names = sorted(a.display_name for a in db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)))
    assert names == ["异议申诉信用承诺书.pdf", "撤销决定书.pdf"]  # Chinese names kept as display text
    mine = applicant.get("/portal/cases").get_data(as_text=True)
    assert case.number in mine and "受理审查" in mine and "2026-12-01 23:59" in mine  # due date shown

    work(web, "intake1", case.id, "intake_review", {"intake_choice": "accept"})
    work(web, "verifier1", case.id, "verify_record", {"verify_choice": "no_error", "opinion": "核实无误。"})
    work(web, "intake1", case.id, "draft_decision", {"decision": "maintain", "reasons": "认定事实清楚。"})
    work(web, "approver1", case.id, "approve_decision", {"approval": "approve"})

    page = applicant.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "已办结" in page and "异议处理决定书" in page and "核实无误" not in page  # internal opinion hidden
    letter_links = re.findall(r'href="(/cases/letters/\d+\.pdf)"', page)
    assert len(letter_links) == 2
    pdf = applicant.get(letter_links[-1])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.headers["X-Content-Type-Options"] == "nosniff"


def test_web_form_errors_are_shown_and_change_nothing(web, recorded_staff):
    applicant = web("applicant1")
    record = own_record("applicant1")
    response = applicant.post(f"/portal/records/{record.id}",
                              {"action": "objection", "objection-reason": "wrong_content", "objection-statement": "缺少承诺书。",
                               "objection-evidence": [(io.BytesIO(PDF_BYTES), "证据.pdf")]},
                              content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert "材料不全" in text and "承诺书" in text
    assert db.session.scalar(select(Case).where(Case.type != "registration", Case.record_id == record.id)) is None
    assert db.session.scalar(select(Attachment)) is None


def test_web_task_form_requires_reason(web, recorded_staff):
    _, case = file_via_web(web)
    staff = web("intake1")
    task_id = open_task_id(case.id, "intake_review")
    text = staff.post(f"/tasks/{task_id}", {"intake_choice": "reject"}).get_data(as_text=True)
    assert "请填写“理由”" in text
    assert db.session.get(HumanTask, task_id).status == "open"


def test_html_in_case_text_is_escaped(web, recorded_staff):
    applicant = web("applicant1")
    record = own_record("applicant1")
    applicant.post(f"/portal/records/{record.id}",
                   {"action": "objection", "objection-reason": "wrong_content", "objection-statement": '<script>alert(1)</script><img src=x onerror=alert(2)>',
                    "objection-evidence": [(io.BytesIO(PDF_BYTES), "<b>证据</b>.pdf")],
                    "objection-commitment": (io.BytesIO(PDF_BYTES), "承诺书.pdf")},
                   content_type="multipart/form-data")
    case = db.session.scalar(select(Case).where(Case.type != "registration", Case.record_id == record.id))
    task_id = open_task_id(case.id, "intake_review")
    page = web("intake1").get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>证据</b>" not in page


def test_security_headers(web, recorded_staff):
    response = web().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_internal_opinions_are_kept_apart_and_drafts_previewable(web, api, recorded_staff):
    from tests.support.flows import do_task

    _, case = file_via_web(web)
    do_task(api, "intake1", case.id, "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case.id, "verify_record", {"verify_choice": "no_error", "opinion": "内部核查意见甲"})
    do_task(api, "intake1", case.id, "draft_decision", {"decision": "maintain", "reasons": "拟维持"})
    staff_page = web("intake1").get(f"/cases/{case.id}").get_data(as_text=True)
    public_part, internal_part = staff_page.split("内部意见与操作")
    assert "内部核查意见甲" in internal_part and "内部核查意见甲" not in public_part
    applicant_page = web("applicant1").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "内部意见与操作" not in applicant_page and "内部核查意见甲" not in applicant_page
    task_id = open_task_id(case.id, "approve_decision")
    approver = web("approver1")
    assert "预览拟出具的《异议处理决定书》" in approver.get(f"/tasks/{task_id}").get_data(as_text=True)
    draft = approver.get(f"/tasks/{task_id}/preview.pdf")
    assert draft.status_code == 200 and draft.data.startswith(b"%PDF")


def test_portal_lists_are_paged(web, seeded, users):
    """A unit with many records and cases gets them 50 at a time, newest first, with page links."""
    from sqlalchemy import func

    from app.models import Unit
    from app.demo.bulk import seed_cases

    units = db.session.scalar(select(func.count()).select_from(Unit).where(Unit.is_credit_office.is_(False)))
    seed_cases(60 * units)  # spread over the units at random: well over 50 for applicant1's unit
    client = web("applicant1")
    for path in ("/portal/records", "/portal/cases"):
        first = client.get(path).get_data(as_text=True)
        assert "下一页" in first and "上一页" not in first and "第 1 /" in first, path
        second = client.get(path + "?page=2").get_data(as_text=True)
        assert "上一页" in second, path
        assert client.get(path + "?page=9999").status_code == 200  # past the end: an empty page, not an error
    own_cases = db.session.scalar(select(func.count()).select_from(Case)
                                  .where(Case.applicant_unit_id == users["applicant1"].unit_id))
    page = client.get("/portal/cases").get_data(as_text=True)
    assert f"共 {own_cases} 条" in page
    assert page.count('href="/cases/') == 50


def test_the_verifier_asks_for_an_extension_and_the_office_answers_on_the_web(web, recorded_staff):
    from app.models import CaseEvent, TimerJob

    _applicant, case = file_via_web(web)
    work(web, "intake1", case.id, "intake_review", {"intake_choice": "accept"})
    verifier, task_id = web("verifier1"), open_task_id(case.id, "verify_record")
    page = verifier.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "申请延长核查期限" in page and "5 个工作日" in page
    empty = verifier.post(f"/tasks/{task_id}/extension", {"reason": "  "}, follow_redirects=True).get_data(as_text=True)
    assert "请写明申请延长核查期限的理由" in empty
    assert db.session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case.id,
                                                        CaseEvent.action == "verify_extension_requested")) is None
    asked = verifier.post(f"/tasks/{task_id}/extension", {"reason": "需调取档案原件核对"}, follow_redirects=True)
    assert "待信用办审批" in asked.get_data(as_text=True)
    assert web("verifier1").post(f"/cases/{case.id}/extension", {"decision": "approve"}).status_code == 404  # role
    office = web("intake1")
    shown = office.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "需调取档案原件核对" in shown and "提交审批意见" in shown
    refused = office.post(f"/cases/{case.id}/extension", {"decision": "refuse", "comment": ""}, follow_redirects=True)
    assert "不同意延长的，请写明理由" in refused.get_data(as_text=True)
    before = db.session.scalar(select(TimerJob.fire_at).where(TimerJob.instance_id.is_not(None),
                                                              TimerJob.bpmn_id == "verify_overdue",
                                                              TimerJob.status == "pending"))
    done = office.post(f"/cases/{case.id}/extension", {"decision": "approve"}, follow_redirects=True)
    assert "已同意延长核查期限" in done.get_data(as_text=True)
    db.session.expire_all()
    after = db.session.scalar(select(TimerJob.fire_at).where(TimerJob.bpmn_id == "verify_overdue",
                                                             TimerJob.status == "pending"))
    assert after > before
    again = verifier.post(f"/tasks/{task_id}/extension", {"reason": "仍需时间"}, follow_redirects=True)
    assert "只能延长一次" in again.get_data(as_text=True)
