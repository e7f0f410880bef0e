"""Reviewers see what they sign: the draft letter from the form as it stands, the record's facts to correct, the
materials and the history beside the form."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Case, CaseEvent, HumanTask
from tests.support.clients import WebClient
from tests.support.files import pdf_text
from tests.support.flows import do_task, file_objection


def _task(case_id: int, bpmn_id: str) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id,
                                                     HumanTask.status == "open"))


def _claimed(app, username: str, task: HumanTask) -> WebClient:
    client = WebClient(app, username)
    client.post(f"/tasks/{task.id}/claim", form_page=f"/tasks/{task.id}")
    return client


def test_intake_previews_the_letter_its_choice_drafts_without_completing(app, api, recorded_staff):
    case = file_objection(api)
    task = _task(case["id"], "intake_review")
    intake = _claimed(app, "intake1", task)
    assert "预览按所选结论拟出具的文书（草稿）" in intake.get(f"/tasks/{task.id}").get_data(as_text=True)
    draft = intake.post(f"/tasks/{task.id}/preview.pdf", {"intake_choice": "reject", "reason": "申请超过规定期限"},
                        form_page=f"/tasks/{task.id}")
    text = pdf_text(draft.data)
    assert "不予受理通知书" in text and "经审查，申请超过规定期限，不符合" in text
    accepted = intake.post(f"/tasks/{task.id}/preview.pdf", {"intake_choice": "accept"}, form_page=f"/tasks/{task.id}")
    assert "受理通知书" in pdf_text(accepted.data) and "不予受理" not in pdf_text(accepted.data)
    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).status == "open" and db.session.get(Case, case["id"]).number


def test_the_verifier_corrects_from_the_current_facts(app, api, recorded_staff):
    case = file_objection(api)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    task = _task(case["id"], "verify_record")
    record = db.session.get(Case, case["id"]).record
    verifier = _claimed(app, "verifier1", task)
    page = verifier.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert f"{record.facts}</textarea>" in page
    assert f'name="corrected_basis_date" rows="4" type="text" value="{record.basis_date.isoformat()}"' in page
    assert re.search(f'<input checked id="corrected_severity-\\d" name="corrected_severity" type="radio" '
                     f'value="{record.severity}">', page)
    # Submitted unchanged, the prefilled content is no correction: the history keeps only what was given.
    assert verifier.post(f"/tasks/{task.id}", {"verify_choice": "no_error", "opinion": "核实无误。",
                                               "corrected_facts": record.facts,
                                               "corrected_basis_date": record.basis_date.isoformat()}).status_code == 302
    values = db.session.scalar(select(CaseEvent.details).where(CaseEvent.case_id == case["id"],
                                                               CaseEvent.action == "task_completed",
                                                               CaseEvent.step == "verify_record"))["values"]
    assert values["verify_choice"] == "no_error"
    assert values["corrected_facts"] == "" and values["corrected_basis_date"] == ""


def test_the_task_page_shows_the_materials_to_preview_and_the_history(app, api, recorded_staff):
    case = file_objection(api)
    task = _task(case["id"], "intake_review")
    page = WebClient(app, "intake1").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert page.count("/preview\" target=\"_blank\"") == 2  # evidence and commitment, each with its preview
    history = page.split("办理过程（")[1]
    assert "evidence材料.pdf" in history and "提交" in history
