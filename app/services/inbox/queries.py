"""Task queues: plain SQL over the human_task projection, never the workflows (ENGINE.md)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, tuple_, union_all
from sqlalchemy.orm import aliased

from app.core.clock import local_date, local_tz, now
from app.extensions import db
from app.models import TASK_IS_OPEN, Case, HumanTask, Unit, User
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
    counts: dict[str, int] | None = None  # every tab's capped count, when asked for


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
    # Unit, category and severity are the case's and record's facts copied onto the task (inbox.facts): each has an
    # index of its own in due order, so a value rare in the lane is a short range, not a walk of the lane.
    conditions = []
    if "process" in filters:
        conditions.append(HumanTask.case_type == filters["process"])
    if "unit" in filters:
        conditions.append(HumanTask.applicant_unit_id == int(filters["unit"]))
    if "category" in filters:
        conditions.append(HumanTask.category == filters["category"])
    if "severity" in filters:
        conditions.append(HumanTask.severity == filters["severity"])
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
        if not user.has_role("applicant"):
            # task_filter keeps the applicant lane out: a plain equality lets the planner read the claimed tasks'
            # index instead of walking the lane through an OR that can never hold.
            return and_(base, HumanTask.assignee_id == user.id)
        return and_(base, or_(HumanTask.assignee_id == user.id, unit_work))
    if scope == "group":
        return and_(base, HumanTask.assignee_id.is_(None), HumanTask.lane != "applicant")
    if scope == "due_soon":
        return and_(base, HumanTask.due_at >= bounds.now, HumanTask.due_at <= bounds.soon)
    if scope == "overdue":
        return and_(base, HumanTask.due_at < bounds.now)
    return base


def _query(user: User, scope: str, filters: dict | None, bounds: _Bounds | None = None):
    """The tab's tasks with the filters: conditions on human_task alone, no join."""
    bounds = bounds or _Bounds()
    query = select(HumanTask).where(_scope_filter(user, scope, bounds))
    filters = dict(filters or {})
    if scope == "done":
        filters.pop("due", None)  # due bands describe open work; the 已办 tab is by completion
    conditions = _filters(filters, bounds)
    return query.where(*conditions) if conditions else query


NULL_STAMP = "-"  # the cursor's stamp after a task without a due instant (those come after every dated one)


def _decode(after: str | None) -> tuple[datetime | None, str] | None:
    """Return a cursor's (stamp, id), stamp None for NULL_STAMP; None for no cursor or junk (the first page)."""
    if not after or "|" not in after:
        return None
    stamp_text, last_id = after.split("|", 1)
    if stamp_text == NULL_STAMP:
        return None, last_id
    try:
        stamp = datetime.fromisoformat(stamp_text)
    except ValueError:
        return None
    # Cursors carry an offset (_cursor); a naive one is forged and ignored like junk.
    return (stamp, last_id) if stamp.tzinfo is not None else None


def _paged(query, scope: str, after: str | None, limit: int):
    """Narrow the query to one keyset page (limit + 1 rows, to tell whether more follow), as a subquery.

    The keyset is a row-value comparison, `(due_at, id) > (s, i)`: both databases read it as a range of the
    (…, due_at, id) index, where `due_at > s OR (due_at = s AND id > i)` used the index for the lane only and
    filtered every row before the cursor, so a middle page cost four times the first. Tasks without a due instant
    come last on both databases (their NULLs sort first on SQLite, last on PostgreSQL): they are a second range,
    by id, of the same index.
    """
    cursor = _decode(after)
    if scope == "done":
        key = tuple_(HumanTask.completed_at, HumanTask.id)
        if cursor is not None and cursor[0] is not None:
            # completed_at <= s is the range the index reads; the row value breaks ties by id.
            query = query.where(HumanTask.completed_at <= cursor[0], key < tuple_(cursor[0], cursor[1]))
        return query.order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()).limit(limit + 1).subquery()
    dated = undated = None
    if cursor is None:
        dated = query.where(HumanTask.due_at.is_not(None))
        undated = query.where(HumanTask.due_at.is_(None))
    elif cursor[0] is not None:
        dated = query.where(HumanTask.due_at >= cursor[0],
                            tuple_(HumanTask.due_at, HumanTask.id) > tuple_(cursor[0], cursor[1]))
        undated = query.where(HumanTask.due_at.is_(None))
    else:
        undated = query.where(HumanTask.due_at.is_(None), HumanTask.id > cursor[1])
    parts = []
    if dated is not None:
        parts.append(select(dated.order_by(HumanTask.due_at, HumanTask.id).limit(limit + 1).subquery()))
    parts.append(select(undated.order_by(HumanTask.id).limit(limit + 1).subquery()))
    return union_all(*parts).subquery()


def _ordered(page, scope: str) -> tuple:
    """The order of a page's rows: newest first on 已办, else by due instant (undated last), ties by id."""
    return ((page.c.completed_at.desc(), page.c.id.desc()) if scope == "done"
            else (page.c.due_at.is_(None), page.c.due_at, page.c.id))


def _cursor(rows: list, scope: str, limit: int) -> str | None:
    """Return the keyset cursor after a page's last row, or None when no row follows."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    stamp = last.completed_at if scope == "done" else last.due_at
    return f"{stamp.isoformat() if stamp else NULL_STAMP}|{last.id}"


def page_statement(user: User, scope: str, filters: dict | None = None, after: str | None = None,
                   limit: int = PAGE_SIZE, bounds: _Bounds | None = None):
    """The page query alone: one keyset page of the tab's task rows in order (limit + 1 rows)."""
    page = _paged(_query(user, scope, filters, bounds), scope, after, limit)
    return select(page).order_by(*_ordered(page, scope)).limit(limit + 1)


def task_page(user: User, scope: str, *, after: str | None = None, filters: dict | None = None,
              limit: int = PAGE_SIZE, counts: bool = False) -> TaskPage:
    """One page of tasks with a keyset cursor: open tasks by due date, done ones newest first; with counts, every
    tab's capped count too, in the same statement (as the inbox page has them)."""
    bounds = _Bounds()
    page = _paged(_query(user, scope, filters, bounds), scope, after, limit)
    task = aliased(HumanTask, page)
    counted = [_capped_count(user, tab, filters, bounds).label(f"count_{tab}") for tab in TABS] if counts else []
    rows = db.session.execute(select(task, *counted).order_by(*_ordered(page, scope)).limit(limit + 1)).all()
    tasks = [row[0] for row in rows]
    tab_counts = None
    if counts:
        tab_counts = _counts(rows, counted)
    return TaskPage(tasks[:limit], _cursor(tasks, scope, limit), tab_counts)


def inbox_page(user: User, scope: str, *, after: str | None = None, filters: dict | None = None,
               limit: int = PAGE_SIZE) -> InboxPage:
    """Return the inbox as shown: one page of display rows and every tab's count, in one statement."""
    bounds = _Bounds()
    page = _paged(_query(user, scope, filters, bounds).with_only_columns(
        HumanTask.id, HumanTask.case_id, HumanTask.bpmn_id, HumanTask.title, HumanTask.case_type, HumanTask.status,
        HumanTask.due_at, HumanTask.due_provisional, HumanTask.completed_at, HumanTask.assignee_id,
    ), scope, after, limit)
    # Join the case, unit and assignee to the page's rows only, whatever plan the filters led to. The tab counts
    # ride along as uncorrelated scalar subqueries, which both databases compute once: one round trip fewer.
    counted = [_capped_count(user, tab, filters, bounds).label(f"count_{tab}") for tab in TABS]
    rows = db.session.execute(
        select(page, Case.number, Unit.name.label("unit_name"), User.display_name.label("assignee_name"), *counted)
        .join(Case, Case.id == page.c.case_id).join(Unit, Unit.id == Case.applicant_unit_id)
        .outerjoin(User, User.id == page.c.assignee_id).order_by(*_ordered(page, scope)).limit(limit + 1)
    ).all()
    counts = _counts(rows, counted)
    return InboxPage(display_rows(rows[:limit], bounds.now, bounds.today, bounds.calendar), _cursor(rows, scope, limit),
                     counts)


def _counts(rows, counted) -> dict[str, int]:
    """The tab counts that rode along with the page's rows; an empty page carries none, so ask for them alone (the
    same expressions: building them costs more than running them)."""
    if rows:
        return {tab: rows[0]._mapping[f"count_{tab}"] for tab in TABS}
    return dict(zip(TABS, db.session.execute(select(*counted)).one()))


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
