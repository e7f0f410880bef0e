"""The applicant unit's own steps are in 我的待办 of each of its applicants, without claiming, and nobody else's."""
from __future__ import annotations

from app.extensions import db
from app.services.inbox import queries as tasks
from tests.support import factories
from tests.support.flows import open_order


def test_unit_step_is_in_my_inbox_for_every_applicant_of_the_unit(api, web, recorded_staff):
    colleague = factories.user("applicant", recorded_staff["applicant1"].unit)
    db.session.commit()
    open_order(api)  # 提交书面说明和整改报告 opens for applicant1's unit
    for who in (recorded_staff["applicant1"], colleague):
        assert tasks.count_tabs(who)["mine"] == 1 and tasks.count_tabs(who)["group"] == 0
    assert tasks.count_tabs(recorded_staff["applicant2"])["mine"] == 0  # another unit's applicant
    assert tasks.count_tasks(recorded_staff["intake1"], "mine") == 0  # the office does not hold it
    page = web(colleague.username).get("/tasks/inbox").get_data(as_text=True)
    assert "我的待办（1）" in page and "提交书面说明和整改报告" in page
    assert "暂无任务" in web("applicant2").get("/tasks/inbox").get_data(as_text=True)


def test_a_claimed_unit_step_leaves_the_colleagues_inbox(api, recorded_staff):
    colleague = factories.user("applicant", recorded_staff["applicant1"].unit)
    db.session.commit()
    open_order(api)
    task = tasks.task_page(colleague, "mine").rows[0]
    assert api("applicant1").post(f"/api/v1/tasks/{task.id}/claim").status_code == 200
    assert tasks.count_tasks(colleague, "mine") == 0
    assert tasks.count_tasks(recorded_staff["applicant1"], "mine") == 1
