"""The inbox's display text: one row's labels, local times and remaining working days, so templates only place them."""
from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from flask_babel import gettext as _

from app.core.clock import local_date, local_text, now
from app.models import CASE_TYPES, HumanTask
from app.services import calendar, workdays
from app.services.workflow import registry


class InboxRow(NamedTuple):
    """One inbox line with its display text worked out, so the template only places it."""

    id: str
    case_id: int
    number: str
    type_label: str
    unit_name: str
    title: str
    due_text: str
    due_provisional: bool
    remaining: str
    overdue: bool
    completed_text: str
    assignee_name: str | None
    status: str
    claimable: bool
    select_label: str


def display_rows(rows, at: datetime, today: date, cal: workdays.WorkCalendar) -> list[InboxRow]:
    """Work out the rows' display text: labels, step names, local times and remaining working days, each distinct
    value once."""
    types, steps, remaining = {}, {}, {}
    select_label = _("选择 %(number)s %(title)s")
    out = []
    for row in rows:
        if row.case_type not in types:
            types[row.case_type] = str(CASE_TYPES[row.case_type])
        step = (row.case_type, row.bpmn_id, row.title)
        if step not in steps:
            steps[step] = registry.step_name(*step)
        if row.due_at not in remaining:
            remaining[row.due_at] = _remaining(row.due_at, at, today, cal)
        text, overdue = remaining[row.due_at]
        out.append(InboxRow(
            id=row.id, case_id=row.case_id, number=str(row.number), type_label=types[row.case_type],
            unit_name=row.unit_name, title=steps[step], due_text=local_text(row.due_at),
            due_provisional=row.due_provisional, remaining=text, overdue=overdue,
            completed_text=local_text(row.completed_at), assignee_name=row.assignee_name, status=row.status,
            claimable=row.status == "open" and not row.assignee_id,
            select_label=select_label % {"number": row.number, "title": steps[step]},
        ))
    return out


def remaining_label(task: HumanTask, cal: workdays.WorkCalendar | None = None) -> tuple[str, bool]:
    """Say how many working days remain ("剩余 2 个工作日"), or how long it is overdue."""
    at = now()
    return _remaining(task.due_at, at, local_date(at), cal)


def _remaining(due_at: datetime | None, at: datetime, today: date,
               cal: workdays.WorkCalendar | None) -> tuple[str, bool]:
    """Label the time left until due_at as of the instant at (today: its local date)."""
    if due_at is None:
        return _("无期限"), False
    cal = cal or calendar.load_calendar()
    due_day = local_date(due_at)
    if at > due_at:
        return _("已超期 %(days)s 个工作日", days=max(1, workdays.working_days_between(cal, due_day, today))), True
    days = workdays.working_days_between(cal, today, due_day)
    return (_("剩余 %(days)s 个工作日", days=days) if days > 0 else _("今日到期")), False
