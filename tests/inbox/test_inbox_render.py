"""The inbox page from display rows: every tab's columns, links and actions, in a fixed number of queries."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import event, select

from app.extensions import db
from app.models import HumanTask
from app.core import clock
from app.services import workflow
from app.services.inbox import queries as tasks
from tests.support.constants import T0
from tests.support.flows import file_objection, file_repair, own_record, repairable


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_group_mine_and_done_rows(api, web, both_applicants, users):
    first = file_objection(api)
    second = file_objection(api, "applicant2", record=own_record("applicant2"))
    intake = users["intake1"]
    client = web("intake1")

    empty = client.get("/tasks/inbox?scope=mine").get_data(as_text=True)
    assert "暂无任务。" in empty and "本组待领（2）" in empty and "我的待办（0）" in empty  # counts without rows
    group = client.get("/tasks/inbox?scope=group").get_data(as_text=True)
    assert "本组待领（2）" in group and "即将到期（2）" in group and "已超期（0）" in group
    rows = _rows(group)
    assert len(rows) == 2
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == first["id"]))
    row = next(r for r in rows if task.id in r)
    assert f'href="/cases/{first["id"]}">{first["number"]}</a>' in row
    assert "<small>异议处理 · " in row and f'href="/tasks/{task.id}">受理审查</a>' in row
    assert f'aria-label="选择 {first["number"]} 受理审查"' in row
    assert f'action="/tasks/{task.id}/claim"' in row and 'name="csrf_token"' in row and ">领取</button>" in row
    assert "剩余 2 个工作日" in row and '<td data-label="办理人">未领取</td>' in row and f'href="/tasks/{task.id}">办理</a>' in row
    assert task.due_at.astimezone(clock.local_tz()).strftime("%Y-%m-%d %H:%M") in row

    workflow.claim_task(intake, task.id)
    db.session.commit()
    mine = _rows(client.get("/tasks/inbox?scope=mine").get_data(as_text=True))
    assert len(mine) == 1 and task.id in mine[0]
    # Claimed: the claimant's name in its cell, no claim button.
    assert f'<td data-label="办理人">{intake.display_name}</td>' in mine[0] and "/claim" not in mine[0]

    workflow.complete_task(intake, task.id, {"intake_choice": "accept"})
    db.session.commit()
    done_page = client.get("/tasks/inbox?scope=done").get_data(as_text=True)
    done = _rows(done_page)
    assert len(done) == 1 and task.id in done[0]
    assert 'type="checkbox"' not in done[0] and f'href="/tasks/{task.id}">查看</a>' in done[0]
    db.session.refresh(task)
    completed = task.completed_at.astimezone(clock.local_tz()).strftime("%Y-%m-%d %H:%M")
    assert f'<td data-label="办结时间" class="date">{completed}</td>' in done[0]
    assert "已办（1）" in done_page and "本组待领（1）" in done_page and "我的待办（0）" in done_page

    clock.set_frozen(T0 + timedelta(days=10))
    overdue = _rows(web("intake1").get("/tasks/inbox?scope=overdue").get_data(as_text=True))  # sessions idle out
    assert len(overdue) == 1 and str(second["number"]) in overdue[0]
    assert 'class="overdue">⚠ 已超期' in overdue[0]


def test_english_rows(api, web, both_applicants):
    case = file_objection(api)
    client = web("intake1")
    client.get("/lang/en")
    row = _rows(client.get("/tasks/inbox?scope=group").get_data(as_text=True))[0]
    # The step's name comes from its slice's STEPS through the catalogue; the BPMN's Chinese title is not shown.
    assert case["number"] in row and "Intake review" in row and "受理审查" not in row
    assert "领取" not in row and "未领取" not in row and "剩余" not in row


def test_inbox_queries_do_not_grow_with_rows(api, web, both_applicants):
    client = web("intake1")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def queries() -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/tasks/inbox?scope=group").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    file_objection(api)
    queries()  # the process caches reference data (app/services/reference.py) at its first page; then compare
    one = queries()
    file_objection(api, "applicant2", record=own_record("applicant2"))
    file_repair(api, repairable("applicant2"), "applicant2")
    assert queries() == one  # no query per row (case, unit or assignee are joined to the page)


def test_the_unread_badge_counts_to_99_plus(web, staff):
    from app.models import Notification
    from app.services import notifications

    user = staff["applicant1"]
    db.session.add_all([Notification(unit_id=user.unit_id, user_id=user.id, kind="new_task", title=f"消息{i}", body="",
                                     created_at=clock.now()) for i in range(100)])
    db.session.commit()
    assert notifications.unread_count(user) == 100  # counted no further than the cap + 1
    client = web("applicant1")
    assert '<span class="badge" aria-label="99+ 条未读">99+</span>' in client.get("/portal/records").get_data(as_text=True)
    db.session.delete(db.session.scalars(select(Notification).where(Notification.user_id == user.id)).first())
    db.session.commit()
    assert notifications.unread_count(user) == 99
    assert '<span class="badge" aria-label="99 条未读">99</span>' in client.get("/portal/records").get_data(as_text=True)
