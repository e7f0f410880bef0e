"""Task queues: plain SQL over the human_task projection, never the workflows (ENGINE.md)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from app.core.clock import local_date, local_tz, now
from app.extensions import db
from app.models import TASK_IS_OPEN, Case, CreditRecord, HumanTask, Unit, User
from app.services import access, calendar, workdays
from app.services.inbox.display import InboxRow, display_rows

SCOPES = {"mine": _l("我的待办"), "group": _l("本组待领"), "due_soon": _l("即将到期"), "overdue": _l("已超期"), "done": _l("已办"),
          "all": _l("全部可见")}
TABS = ("mine", "group", "due_soon", "overdue", "done")
PAGE_SIZE = 50
DUE_SOON_DAYS = 2  # 即将到期: due within this many working days


@dataclass
class TaskPage:
    rows: list[HumanTask]
    next_after: str | None


@dataclass
class InboxPage:
    rows: list[InboxRow]
    next_after: str | None
    counts: dict[str, int]


class _Bounds:
    """The due-date bounds of one query set, each computed from the calendar at most once."""

    @cached_property
    def now(self):
        return now()

    @cached_property
    def calendar(self):
        return calendar.load_calendar()

    @cached_property
    def zone(self):
        return local_tz()

    @cached_property
    def today(self) -> date:
        return local_date(self.now)

    @cached_property
    def today_end(self):
        return workdays.deadline_after(self.calendar, self.now, 0, self.zone).due

    @cached_property
    def soon(self):
        """End of the 2nd working day from now (local time): the 即将到期 limit."""
        return workdays.deadline_after(self.calendar, self.now, DUE_SOON_DAYS, self.zone).due


def _filters(filters: dict, bounds: _Bounds):
    conditions = []
    if "process" in filters:
        conditions.append(HumanTask.case_type == filters["process"])
    if "unit" in filters:
        conditions.append(Case.applicant_unit_id == int(filters["unit"]))
    if "category" in filters:
        conditions.append(CreditRecord.category == filters["category"])
    if "severity" in filters:
        conditions.append(CreditRecord.severity == filters["severity"])
    band = filters.get("due")
    if band == "overdue":
        conditions.append(HumanTask.due_at < bounds.now)
    elif band == "today":
        conditions.append(and_(HumanTask.due_at >= bounds.now, HumanTask.due_at <= bounds.today_end))
    elif band == "soon":
        conditions.append(and_(HumanTask.due_at >= bounds.now, HumanTask.due_at <= bounds.soon))
    elif band == "later":
        conditions.append(HumanTask.due_at > bounds.soon)
    return conditions


def _scope_filter(user: User, scope: str, bounds: _Bounds):
    if scope == "done":
        return and_(HumanTask.status == "completed", HumanTask.completed_by_id == user.id)
    base = and_(TASK_IS_OPEN, access.task_filter(user))
    # A step of the applicant unit is the unit's own work, not a queue to claim from: it is in 我的待办 of every
    # applicant of that unit until one of them takes it (task_filter keeps it to that unit).
    unit_work = and_(HumanTask.assignee_id.is_(None), HumanTask.lane == "applicant")
    if scope == "mine":
        return and_(base, or_(HumanTask.assignee_id == user.id, unit_work))
    if scope == "group":
        return and_(base, HumanTask.assignee_id.is_(None), HumanTask.lane != "applicant")
    if scope == "due_soon":
        return and_(base, HumanTask.due_at >= bounds.now, HumanTask.due_at <= bounds.soon)
    if scope == "overdue":
        return and_(base, HumanTask.due_at < bounds.now)
    return base


def _query(user: User, scope: str, filters: dict | None, bounds: _Bounds | None = None):
    bounds = bounds or _Bounds()
    query = select(HumanTask).where(_scope_filter(user, scope, bounds))
    filters = dict(filters or {})
    if scope == "done":
        filters.pop("due", None)  # due bands describe open work; the 已办 tab is by completion
    # Join only what a filter needs: most views filter on the task alone.
    if filters.keys() & {"unit", "category", "severity"}:
        query = query.join(Case, Case.id == HumanTask.case_id)
    if filters.keys() & {"category", "severity"}:
        query = query.join(CreditRecord, CreditRecord.id == Case.record_id)
    conditions = _filters(filters, bounds)
    return query.where(*conditions) if conditions else query


def _paged(query, scope: str, after: str | None, limit: int):
    """Narrow the query to one keyset page (limit + 1 rows, to tell whether more follow)."""
    key, order = ((HumanTask.completed_at, (HumanTask.completed_at.desc(), HumanTask.id.desc())) if scope == "done"
                  else (HumanTask.due_at, (HumanTask.due_at, HumanTask.id)))
    if after:
        try:
            stamp_text, last_id = after.split("|", 1)
            stamp = datetime.fromisoformat(stamp_text)
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is None:
            stamp = None  # cursors carry an offset (_cursor); a naive one is forged and ignored like junk
        if stamp is not None:
            if scope == "done":
                query = query.where(or_(key < stamp, and_(key == stamp, HumanTask.id < last_id)))
            else:
                query = query.where(or_(key > stamp, and_(key == stamp, HumanTask.id > last_id)))
    return query.order_by(*order).limit(limit + 1)


def _cursor(rows: list, scope: str, limit: int) -> str | None:
    """Return the keyset cursor after a page's last row, or None when no row follows."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    stamp = last.completed_at if scope == "done" else last.due_at
    return f"{stamp.isoformat()}|{last.id}" if stamp else None


def task_page(user: User, scope: str, *, after: str | None = None, filters: dict | None = None,
              limit: int = PAGE_SIZE) -> TaskPage:
    """One page of tasks with a keyset cursor: open tasks by due date, done ones newest first."""
    rows = db.session.scalars(_paged(_query(user, scope, filters), scope, after, limit)).all()
    return TaskPage(rows[:limit], _cursor(rows, scope, limit))


def inbox_page(user: User, scope: str, *, after: str | None = None, filters: dict | None = None,
               limit: int = PAGE_SIZE) -> InboxPage:
    """Return the inbox as shown: one page of display rows and every tab's count, in one statement."""
    bounds = _Bounds()
    page = _paged(_query(user, scope, filters, bounds).with_only_columns(
        HumanTask.id, HumanTask.case_id, HumanTask.bpmn_id, HumanTask.title, HumanTask.case_type, HumanTask.status,
        HumanTask.due_at, HumanTask.due_provisional, HumanTask.completed_at, HumanTask.assignee_id,
    ), scope, after, limit).subquery()
    # Join the case, unit and assignee to the page's rows only, whatever plan the filters led to. The tab counts
    # ride along as uncorrelated scalar subqueries, which both databases compute once: one round trip fewer.
    order = (page.c.completed_at.desc(), page.c.id.desc()) if scope == "done" else (page.c.due_at, page.c.id)
    counted = [_capped_count(user, tab, filters, bounds).label(f"count_{tab}") for tab in TABS]
    rows = db.session.execute(
        select(page, Case.number, Unit.name.label("unit_name"), User.display_name.label("assignee_name"), *counted)
        .join(Case, Case.id == page.c.case_id).join(Unit, Unit.id == Case.applicant_unit_id)
        .outerjoin(User, User.id == page.c.assignee_id).order_by(*order)
    ).all()
    counts = ({tab: rows[0]._mapping[f"count_{tab}"] for tab in TABS} if rows
              else count_tabs(user, filters, bounds))  # an empty page carries no counts
    return InboxPage(display_rows(rows[:limit], bounds.now, bounds.today, bounds.calendar), _cursor(rows, scope, limit),
                     counts)


COUNT_CAP = 99


def _capped_count(user: User, scope: str, filters: dict | None, bounds: _Bounds | None = None):
    capped = _query(user, scope, filters, bounds).with_only_columns(HumanTask.id).limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()


def count_tasks(user: User, scope: str, filters: dict | None = None) -> int:
    """Count a tab's tasks up to COUNT_CAP (the tab shows "99+": counting 100,000 rows per page view is waste)."""
    return db.session.scalar(select(_capped_count(user, scope, filters)))


def count_tabs(user: User, filters: dict | None = None, bounds: _Bounds | None = None) -> dict[str, int]:
    """Every tab's capped count in one statement (one round trip per page view)."""
    bounds = bounds or _Bounds()
    row = db.session.execute(select(*(_capped_count(user, scope, filters, bounds) for scope in TABS))).one()
    return dict(zip(TABS, row))


def task_context(case: Case, user: User) -> dict:
    """What a reviewer needs beside the form: the record, the application, its materials, earlier opinions and the
    rest of the case's history (internal steps only for those who may see them, as on the case page)."""
    internal = access.can_see_internal(user)
    events = [e for e in case.events if internal or not e.internal]
    return {"record": case.record, "form": case.form, "attachments": case.attachments,
            "opinions": [e for e in events if e.action == "task_completed"],
            "history": [e for e in events if e.action != "task_completed"]}
