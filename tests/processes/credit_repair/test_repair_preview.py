"""The approver's 草稿 of a repair's decision carries the reasons being typed in the approval form itself."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask
from tests.support.clients import WebClient
from tests.support.files import pdf_text
from tests.support.flows import do_task, file_repair, repairable


def test_the_approvers_draft_carries_the_reasons_being_typed(app, api, recorded_staff):
    case = file_repair(api, repairable())
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "agree", "opinion": "已履行。"})
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case["id"], HumanTask.status == "open"))
    approver = WebClient(app, "approver1")
    approver.post(f"/tasks/{task.id}/claim", form_page=f"/tasks/{task.id}")
    draft = approver.post(f"/tasks/{task.id}/preview.pdf", {"repair_decision": "approve",
                                                            "reasons": "已全额履行法定义务并完成整改"},
                          form_page=f"/tasks/{task.id}")
    text = pdf_text(draft.data)
    assert "信用修复决定书" in text and "理由：已全额履行法定义务并完成整改" in text
    refusal = approver.post(f"/tasks/{task.id}/preview.pdf", {"repair_decision": "refuse", "reasons": "尚未缴清"},
                            form_page=f"/tasks/{task.id}")
    assert "不予修复决定书" in pdf_text(refusal.data) and "尚未缴清" in pdf_text(refusal.data)
    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).status == "open"
