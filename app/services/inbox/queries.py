"""Task queues: plain SQL over the human_task projection, never the workflows (ENGINE.md)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import BindParameter, and_, bindparam, func, or_, select, tuple_, union_all
from sqlalchemy.sql import visitors
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


# The queue's statements are built once per shape — the viewer's roles, the tab, which filters are set (and the due
# band), the kind of cursor — and kept: building one with its five tab counts cost more CPU than running it (about
# forty subquery columns a request). Every value that differs between requests of one shape is a named bound
# parameter, filled from the request by _values; SQLAlchemy memoizes a kept statement's cache key, so a request of a
# known shape builds nothing and finds its compiled form at once.
_NOW = bindparam("now", type_=HumanTask.due_at.type)
_TODAY_END = bindparam("today_end", type_=HumanTask.due_at.type)
_SOON = bindparam("soon", type_=HumanTask.due_at.type)
_USER = bindparam("user_id", type_=HumanTask.assignee_id.type)
_UNIT = bindparam("unit_id", type_=HumanTask.candidate_unit_id.type)
_AFTER_AT = bindparam("after_at", type_=HumanTask.due_at.type)
_AFTER_ID = bindparam("after_id", type_=HumanTask.id.type)
# Each business filter: the human_task column it compares, its parameter (named f_<key>) and how the request's
# value is read.
_FILTERS = {key: (column, bindparam(f"f_{key}", type_=column.type), read) for key, column, read in (
    ("process", HumanTask.case_type, str), ("unit", HumanTask.applicant_unit_id, int),
    ("category", HumanTask.category, str), ("severity", HumanTask.severity, str))}


@dataclass(frozen=True)
class _Viewer:
    """What a queue's statement depends on of the user: the roles; the user's and unit's ids are parameters."""

    roles: frozenset[str]
    id = _USER
    unit_id = _UNIT

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


@dataclass(frozen=True)
class _Shape:
    """One kind of queue statement: everything that changes its SQL, nothing that only changes a value."""

    roles: frozenset[str]
    scope: str
    filters: tuple[str, ...]  # the filter keys set, in FILTER order
    due: str | None  # the due band, which picks the condition's form (the 已办 tab leaves it out: _filters)
    cursor: str  # "first", "dated" (after a due instant) or "undated" (after an undated task, by id)
    limit: int

    @classmethod
    def of(cls, user: User, scope: str, filters: dict | None, cursor, limit: int) -> _Shape:
        filters = filters or {}
        kind = "first" if cursor is None else "undated" if cursor[0] is None else "dated"
        return cls(frozenset(user.roles), scope, tuple(k for k in _FILTERS if k in filters), filters.get("due"),
                   kind, limit)

    def with_scope(self, scope: str) -> _Shape:
        """The same filters on another tab, for that tab's count."""
        return _Shape(self.roles, scope, self.filters, self.due, "first", self.limit)


def _filters(shape: _Shape):
    # Unit, category and severity are the case's and record's facts copied onto the task (inbox.facts): each has an
    # index of its own in due order, so a value rare in the lane is a short range, not a walk of the lane.
    conditions = []
    for key in shape.filters:
        column, parameter, _read = _FILTERS[key]
        conditions.append(column == parameter)
    band = None if shape.scope == "done" else shape.due  # due bands describe open work; 已办 is by completion
    if band == "overdue":
        conditions.append(HumanTask.due_at < _NOW)
    elif band == "today":
        conditions.append(and_(HumanTask.due_at >= _NOW, HumanTask.due_at <= _TODAY_END))
    elif band == "soon":
        conditions.append(and_(HumanTask.due_at >= _NOW, HumanTask.due_at <= _SOON))
    elif band == "later":
        conditions.append(HumanTask.due_at > _SOON)
    return conditions


def _scope_filter(viewer: _Viewer, scope: str):
    if scope == "done":
        return and_(HumanTask.status == "completed", HumanTask.completed_by_id == viewer.id)
    base = and_(TASK_IS_OPEN, access.task_filter(viewer))
    # A step of the applicant unit is the unit's own work, not a queue to claim from: it is in 我的待办 of every
    # applicant of that unit until one of them takes it (task_filter keeps it to that unit).
    unit_work = and_(HumanTask.assignee_id.is_(None), HumanTask.lane == "applicant")
    if scope == "mine":
        if not viewer.has_role("applicant"):
            # task_filter keeps the applicant lane out: a plain equality lets the planner read the claimed tasks'
            # index instead of walking the lane through an OR that can never hold.
            return and_(base, HumanTask.assignee_id == viewer.id)
        return and_(base, or_(HumanTask.assignee_id == viewer.id, unit_work))
    if scope == "group":
        return and_(base, HumanTask.assignee_id.is_(None), HumanTask.lane != "applicant")
    if scope == "due_soon":
        return and_(base, HumanTask.due_at >= _NOW, HumanTask.due_at <= _SOON)
    if scope == "overdue":
        return and_(base, HumanTask.due_at < _NOW)
    return base


def _query(shape: _Shape):
    """The tab's tasks with the filters: conditions on human_task alone, no join."""
    query = select(HumanTask).where(_scope_filter(_Viewer(shape.roles), shape.scope))
    conditions = _filters(shape)
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


def _paged(query, shape: _Shape):
    """Narrow the query to one keyset page (limit + 1 rows, to tell whether more follow), as a subquery.

    The keyset is a row-value comparison, `(due_at, id) > (s, i)`: both databases read it as a range of the
    (…, due_at, id) index, where `due_at > s OR (due_at = s AND id > i)` used the index for the lane only and
    filtered every row before the cursor, so a middle page cost four times the first. Tasks without a due instant
    come last on both databases (their NULLs sort first on SQLite, last on PostgreSQL): they are a second range,
    by id, of the same index.
    """
    limit = shape.limit
    if shape.scope == "done":
        key = tuple_(HumanTask.completed_at, HumanTask.id)
        if shape.cursor == "dated":
            # completed_at <= s is the range the index reads; the row value breaks ties by id.
            query = query.where(HumanTask.completed_at <= _AFTER_AT, key < tuple_(_AFTER_AT, _AFTER_ID))
        return query.order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()).limit(limit + 1).subquery()
    dated = undated = None
    if shape.cursor == "first":
        dated = query.where(HumanTask.due_at.is_not(None))
        undated = query.where(HumanTask.due_at.is_(None))
    elif shape.cursor == "dated":
        dated = query.where(HumanTask.due_at >= _AFTER_AT,
                            tuple_(HumanTask.due_at, HumanTask.id) > tuple_(_AFTER_AT, _AFTER_ID))
        undated = query.where(HumanTask.due_at.is_(None))
    else:
        undated = query.where(HumanTask.due_at.is_(None), HumanTask.id > _AFTER_ID)
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


# How each parameter's value is found from the request: (user, filters, cursor, bounds) -> value.
_VALUES = {
    "now": lambda user, filters, cursor, bounds: bounds.now,
    "today_end": lambda user, filters, cursor, bounds: bounds.today_end,
    "soon": lambda user, filters, cursor, bounds: bounds.soon,
    "user_id": lambda user, filters, cursor, bounds: user.id,
    "unit_id": lambda user, filters, cursor, bounds: user.unit_id,
    "after_at": lambda user, filters, cursor, bounds: cursor[0],
    "after_id": lambda user, filters, cursor, bounds: cursor[1],
    **{parameter.key: (lambda user, filters, cursor, bounds, key=key, read=read: read(filters[key]))
       for key, (_column, parameter, read) in _FILTERS.items()},
}
_PARAMETERS = frozenset(_VALUES)


def _values(names: frozenset[str], user: User, filters: dict | None, cursor, bounds: _Bounds) -> dict:
    """The request's values of a statement's parameters, each worked out only when the statement has it (the
    calendar's bounds cost a calendar walk)."""
    filters = filters or {}
    return {name: _VALUES[name](user, filters, cursor, bounds) for name in names}


_KEPT: dict = {}  # (kind, shape) -> (statement, the names of its request parameters)
_KEEP_AT_MOST = 4096  # shapes are few (roles × tabs × filter sets × cursor kinds); past this, build and not keep


def _names(statement) -> frozenset[str]:
    return frozenset(element.key for element in visitors.iterate(statement)
                     if isinstance(element, BindParameter) and element.key in _PARAMETERS)


def _bound(statement, user: User, filters: dict | None, cursor=None):
    """A statement with the request's values bound into it, for plans and scripts (not kept)."""
    return statement.params(_values(_names(statement), user, filters, cursor, _Bounds()))


def _kept(kind: str, shape: _Shape, build) -> tuple:
    """The statement of this kind and shape with its parameters' names: built on first use, then kept."""
    found = _KEPT.get((kind, shape))
    if found is None:
        statement = build(shape)
        found = (statement, _names(statement))
        if len(_KEPT) < _KEEP_AT_MOST:
            _KEPT[(kind, shape)] = found
    return found


def _execute(kind: str, shape: _Shape, build, user: User, filters: dict | None, cursor, bounds: _Bounds):
    statement, names = _kept(kind, shape, build)
    return db.session.execute(statement, _values(names, user, filters, cursor, bounds))


COUNT_CAP = 99


def _capped_count(shape: _Shape):
    capped = _query(shape).with_only_columns(HumanTask.id).limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()


def _tab_counts(shape: _Shape) -> list:
    """Every tab's capped count with the shape's filters, labelled count_<tab>."""
    return [_capped_count(shape.with_scope(tab)).label(f"count_{tab}") for tab in TABS]


def _counts_alone(shape: _Shape):
    return select(*_tab_counts(shape))


def _counts(rows, user: User, shape: _Shape, filters: dict | None, bounds: _Bounds) -> dict[str, int]:
    """The tab counts that rode along with the page's rows; an empty page carries none, so ask for them alone."""
    if rows:
        return {tab: rows[0]._mapping[f"count_{tab}"] for tab in TABS}
    return dict(zip(TABS, _execute("counts", shape, _counts_alone, user, filters, None, bounds).one()))


def tab_statement(user: User, scope: str, filters: dict | None = None):
    """The tab's tasks with the filters, every task (no page), values bound: for scripts and plan checks."""
    return _bound(_query(_Shape.of(user, scope, filters, None, PAGE_SIZE)), user, filters)


def count_statement(user: User, scope: str, filters: dict | None = None):
    """The tab's capped count, values bound: for plan checks (the pages carry it as a subquery)."""
    return _bound(_count_statement(_Shape.of(user, scope, filters, None, PAGE_SIZE)), user, filters)


def _page_statement(shape: _Shape):
    page = _paged(_query(shape), shape)
    return select(page).order_by(*_ordered(page, shape.scope)).limit(shape.limit + 1)


def page_statement(user: User, scope: str, filters: dict | None = None, after: str | None = None,
                   limit: int = PAGE_SIZE):
    """The page query alone, its values bound: one keyset page of the tab's task rows in order (limit + 1 rows)."""
    cursor = _decode(after)
    return _bound(_page_statement(_Shape.of(user, scope, filters, cursor, limit)), user, filters, cursor)


def _task_page_statement(shape: _Shape, counts: bool):
    page = _paged(_query(shape), shape)
    task = aliased(HumanTask, page)
    return select(task, *(_tab_counts(shape) if counts else [])).order_by(*_ordered(page, shape.scope)).limit(
        shape.limit + 1)


def task_page(user: User, scope: str, *, after: str | None = None, filters: dict | None = None,
              limit: int = PAGE_SIZE, counts: bool = False) -> TaskPage:
    """One page of tasks with a keyset cursor: open tasks by due date, done ones newest first; with counts, every
    tab's capped count too, in the same statement (as the inbox page has them)."""
    bounds, cursor = _Bounds(), _decode(after)
    shape = _Shape.of(user, scope, filters, cursor, limit)
    rows = _execute("tasks+counts" if counts else "tasks", shape, lambda s: _task_page_statement(s, counts), user,
                    filters, cursor, bounds).all()
    tasks = [row[0] for row in rows]
    tab_counts = _counts(rows, user, shape, filters, bounds) if counts else None
    return TaskPage(tasks[:limit], _cursor(tasks, scope, limit), tab_counts)


def _inbox_statement(shape: _Shape):
    page = _paged(_query(shape).with_only_columns(
        HumanTask.id, HumanTask.case_id, HumanTask.bpmn_id, HumanTask.title, HumanTask.case_type, HumanTask.status,
        HumanTask.due_at, HumanTask.due_provisional, HumanTask.completed_at, HumanTask.assignee_id,
    ), shape)
    # Join the case, unit and assignee to the page's rows only, whatever plan the filters led to. The tab counts
    # ride along as uncorrelated scalar subqueries, which both databases compute once: one round trip fewer.
    return (select(page, Case.number, Unit.name.label("unit_name"), User.display_name.label("assignee_name"),
                   *_tab_counts(shape))
            .join(Case, Case.id == page.c.case_id).join(Unit, Unit.id == Case.applicant_unit_id)
            .outerjoin(User, User.id == page.c.assignee_id).order_by(*_ordered(page, shape.scope))
            .limit(shape.limit + 1))


def inbox_page(user: User, scope: str, *, after: str | None = None, filters: dict | None = None,
               limit: int = PAGE_SIZE) -> InboxPage:
    """Return the inbox as shown: one page of display rows and every tab's count, in one statement."""
    bounds, cursor = _Bounds(), _decode(after)
    shape = _Shape.of(user, scope, filters, cursor, limit)
    rows = _execute("inbox", shape, _inbox_statement, user, filters, cursor, bounds).all()
    counts = _counts(rows, user, shape, filters, bounds)
    return InboxPage(display_rows(rows[:limit], bounds.now, bounds.today, bounds.calendar), _cursor(rows, scope, limit),
                     counts)


def _count_statement(shape: _Shape):
    return select(_capped_count(shape))


def count_tasks(user: User, scope: str, filters: dict | None = None) -> int:
    """Count a tab's tasks up to COUNT_CAP (the tab shows "99+": counting 100,000 rows per page view is waste)."""
    shape = _Shape.of(user, scope, filters, None, PAGE_SIZE)
    return _execute("count", shape, _count_statement, user, filters, None, _Bounds()).scalar_one()


def count_tabs(user: User, filters: dict | None = None) -> dict[str, int]:
    """Every tab's capped count in one statement (one round trip per page view)."""
    shape = _Shape.of(user, "mine", filters, None, PAGE_SIZE)
    return dict(zip(TABS, _execute("counts", shape, _counts_alone, user, filters, None, _Bounds()).one()))


def task_context(case: Case, user: User) -> dict:
    """What a reviewer needs beside the form: the record, the application, its materials, earlier opinions and the
    rest of the case's history (internal steps only for those who may see them, as on the case page)."""
    internal = access.can_see_internal(user)
    events = [e for e in case.events if internal or not e.internal]
    return {"record": case.record, "form": case.form, "attachments": case.attachments,
            "opinions": [e for e in events if e.action == "task_completed"],
            "history": [e for e in events if e.action != "task_completed"]}
