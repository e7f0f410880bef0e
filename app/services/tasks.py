"""Task queues: plain SQL over the human_task projection, never the workflows (ENGINE.md)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from app.extensions import db
from app.models import Case, CaseEvent, HumanTask, User
from app.services import access, calendar, workdays
from app.services.clock import now

SCOPES = {"mine": "我的待办", "group": "本组待领", "all": "全部可见"}
PAGE_SIZE = 50
_FAR = datetime(9999, 12, 31).astimezone()


@dataclass
class TaskPage:
    rows: list[HumanTask]
    next_after: str | None


def _scope_filter(user: User, scope: str):
    base = and_(HumanTask.status == "open", access.task_filter(user))
    if scope == "mine":
        return and_(base, HumanTask.assignee_id == user.id)
    if scope == "group":
        return and_(base, HumanTask.assignee_id.is_(None))
    return base


def task_page(user: User, scope: str, *, after: str | None = None, limit: int = PAGE_SIZE) -> TaskPage:
    """Return one page of open tasks sorted by due date, with a keyset cursor for the next page."""
    query = select(HumanTask).where(_scope_filter(user, scope))
    if after:
        try:
            due_text, last_id = after.split("|", 1)
            due = datetime.fromisoformat(due_text)
        except ValueError:
            due, last_id = None, None
        if due is not None:
            query = query.where(or_(HumanTask.due_at > due, and_(HumanTask.due_at == due, HumanTask.id > last_id)))
    rows = db.session.scalars(query.order_by(HumanTask.due_at, HumanTask.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = f"{rows[-1].due_at.isoformat()}|{rows[-1].id}" if more and rows and rows[-1].due_at else None
    return TaskPage(rows, cursor)


def count_tasks(user: User, scope: str) -> int:
    return db.session.scalar(select(func.count()).select_from(HumanTask).where(_scope_filter(user, scope)))


def remaining_label(task: HumanTask, cal: workdays.WorkCalendar | None = None) -> tuple[str, bool]:
    """Say how many working days remain ("剩余 2 个工作日"), or how long it is overdue."""
    if task.due_at is None:
        return "无期限", False
    cal = cal or calendar.load_calendar()
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    today = now().astimezone(tz).date()
    due_day = task.due_at.astimezone(tz).date()
    if now() > task.due_at:
        return f"已超期 {max(1, workdays.working_days_between(cal, due_day, today))} 个工作日", True
    days = workdays.working_days_between(cal, today, due_day)
    return (f"剩余 {days} 个工作日" if days > 0 else "今日到期"), False


def task_context(case: Case) -> dict:
    """What a reviewer needs beside the form: the record, the application and earlier opinions."""
    events = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "task_completed").order_by(CaseEvent.id)
    ).all()
    return {"record": case.record, "form": case.form, "opinions": events, "attachments": case.attachments}
