"""A form refused for its expired CSRF token (page left open, signed out meanwhile) comes back as typed."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Case, HumanTask
from tests.support.clients import WebClient, fresh_g
from tests.support.flows import file_objection, own_record

STATEMENT = "该记录与 2025 年的记录重复，请核查。"


def _stale_objection(client: WebClient, page: str):
    fresh_g()
    return client.client.post(page, data={"csrf_token": "expired", "action": "objection",
                                           "objection-reason": "duplicate", "objection-statement": STATEMENT})


def test_a_stale_objection_is_shown_again_as_typed_and_nothing_is_filed(app, recorded_staff):
    page = f"/portal/records/{own_record('applicant1').id}"
    response = _stale_objection(WebClient(app, "applicant1"), page)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "页面已过期，请重新提交。" in body
    assert f"{STATEMENT}</textarea>" in body and '<option selected value="duplicate">' in body
    assert db.session.scalar(select(func.count()).select_from(Case).where(Case.type == "objection")) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "security.csrf_failed")) == 1


def test_a_stale_form_of_a_signed_out_browser_signs_in_and_comes_back(app, recorded_staff):
    page = f"/portal/records/{own_record('applicant1').id}"
    client = WebClient(app, "applicant1")
    client.post("/logout", form_page="/portal/records")
    response = _stale_objection(client, page)
    assert response.status_code == 302 and response.headers["Location"] == f"/login?next={page.replace('/', '%2F')}"


def test_a_stale_form_is_no_way_around_the_roles(app, recorded_staff):
    response = _stale_objection(WebClient(app, "intake1"), f"/portal/records/{own_record('applicant1').id}")
    assert response.status_code == 404


def test_a_stale_task_form_keeps_the_reasons_typed_and_the_task_open(app, api, recorded_staff):
    case = file_objection(api)
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case["id"], HumanTask.status == "open"))
    intake = WebClient(app, "intake1")
    intake.post(f"/tasks/{task.id}/claim", form_page=f"/tasks/{task.id}")
    fresh_g()
    body = intake.client.post(f"/tasks/{task.id}", data={"csrf_token": "expired", "intake_choice": "reject",
                                                          "reason": "申请超过规定期限"}).get_data(as_text=True)
    assert "页面已过期，请重新提交。" in body and "申请超过规定期限</textarea>" in body
    assert 'checked id="intake_choice-2" name="intake_choice" type="radio" value="reject"' in body
    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).status == "open"
