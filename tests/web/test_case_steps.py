"""The applicant's next step on the case page (去办理, the 补正 request) and progress by steps, public and own."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.core import clock
from app.extensions import db
from app.models import HumanTask
from app.services import workflow
from tests.support.clients import fresh_g
from tests.support.constants import T0
from tests.support.flows import own_record, submitted_objection


def _open(case) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))


def test_the_case_page_leads_to_the_step_the_viewer_can_do_and_says_what_to_supply(web, recorded_staff):
    case = submitted_objection(recorded_staff["applicant1"], own_record("applicant1"))
    intake_task = _open(case)
    applicant, intake = web("applicant1"), web("intake1")
    own = applicant.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "去办理" not in own and "请补正材料" not in own  # 受理审查 is the office's step
    assert f'href="/tasks/{intake_task.id}">去办理：受理审查' in intake.get(f"/cases/{case.id}").get_data(as_text=True)
    workflow.complete_task(recorded_staff["intake1"], intake_task.id, {
        "intake_choice": "request_supplement", "supplement_items": "撤销决定书原件扫描件", "reason": "缺少盖章页"})
    db.session.commit()
    supplement = _open(case)
    own = applicant.get(f"/cases/{case.id}").get_data(as_text=True)
    box = own.split('class="card flash-info supplement-request"')[1].split("</section>")[0]
    assert "撤销决定书原件扫描件" in box and "缺少盖章页" in box
    assert f"补正期限：{clock.local_text(supplement.due_at)}" in box
    assert f'href="/tasks/{supplement.id}">去补正' in box
    assert "去补正" not in intake.get(f"/cases/{case.id}").get_data(as_text=True)  # the unit's step, not the office's


def test_progress_shows_the_steps_with_dates_and_never_an_opinion(app, web, recorded_staff):
    case = submitted_objection(recorded_staff["applicant1"], own_record("applicant1"))
    clock.set_frozen(T0 + timedelta(days=1))
    workflow.complete_task(recorded_staff["intake1"], _open(case).id, {"intake_choice": "accept"})
    clock.set_frozen(T0 + timedelta(days=2))
    workflow.complete_task(recorded_staff["verifier1"], _open(case).id,
                           {"verify_choice": "no_error", "opinion": "内部核查意见：经办人甲认为证据不足"})
    db.session.commit()
    drafting = _open(case)
    client = app.test_client()
    fresh_g()
    token = client.get("/public/progress").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    fresh_g()
    public = client.post("/public/progress", data={"csrf_token": token, "number": case.number,
                                                   "code": case.query_code}).get_data(as_text=True)
    own = web("applicant1").get(f"/cases/{case.id}").get_data(as_text=True)
    for page in (public, own):
        steps = page.split('<ol class="timeline steps">')[1].split("</ol>")[0]
        assert f"{clock.local_text(T0)}</time> <strong>已提交，收到申请" in steps
        assert f"{clock.local_text(T0 + timedelta(days=1))}</time> <strong>受理审查</strong> 已完成" in steps
        assert f"{clock.local_text(T0 + timedelta(days=2))}</time> <strong>认定单位核查</strong> 已完成" in steps
        assert "<strong>拟定处理意见</strong> <span class=\"tag\">当前环节</span>" in steps
        assert f"办理期限：{clock.local_text(drafting.due_at)}" in steps
        assert "经办人甲" not in page
