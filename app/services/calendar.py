"""The working-day calendar stored in the database, and deadlines computed from it (SPEC §3)."""
from __future__ import annotations

import calendar as month_grid
from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import gettext as _
from sqlalchemy import delete, select

from app.extensions import db
from app.models import CalendarDay, CalendarYear, HumanTask
from app.services import audit, reference, workdays
from app.core.clock import local_tz, now
from app.core.errors import Invalid

WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")  # 星期一…星期日; the catalogue has each


def load_calendar() -> workdays.WorkCalendar:
    """The pure calendar of the stored overrides and confirmed years, from the process cache while no process has
    changed them (app/services/reference.py: one version check per transaction instead of two full reads)."""
    return reference.cached("calendar", _read_calendar)


def _read_calendar() -> workdays.WorkCalendar:
    overrides = {row.day: row.is_workday for row in db.session.scalars(select(CalendarDay))}
    years = frozenset(db.session.scalars(select(CalendarYear.year)))
    return workdays.WorkCalendar(overrides=overrides, confirmed_years=years)


def _store_year(year: int, rows: list[dict], source: str) -> None:
    db.session.execute(
        delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
    )
    reference.changed("calendar")  # a bulk delete bypasses the ORM's watch
    for row in rows:
        db.session.add(CalendarDay(day=row["day"], is_workday=row["is_workday"], name=row["name"], source=row["source"]))
    existing = db.session.get(CalendarYear, year)
    if existing:
        existing.source, existing.loaded_at = source, now()
    else:
        db.session.add(CalendarYear(year=year, source=source, loaded_at=now()))
    db.session.flush()


def seed_from_package(years) -> list[int]:
    """Load confirmed years from the chinesecalendar package where not loaded yet (flushes only)."""
    loaded = []
    for year in years:
        if db.session.get(CalendarYear, year) is None:
            _store_year(year, workdays.seed_rows([year]), workdays.PACKAGE_SOURCE)
            loaded.append(year)
    return loaded


def import_schedule(text: str, source: str) -> tuple[int, int]:
    """Load one year's State Council schedule from CSV text; return (year, rows)."""
    try:
        year, rows = workdays.parse_schedule_file(text, source=source or workdays.IMPORT_SOURCE)
    except ValueError as exc:
        raise Invalid(str(exc), code="bad_schedule") from exc
    _store_year(year, rows, source or workdays.IMPORT_SOURCE)
    recomputed = recompute_provisional_tasks()
    audit.record("calendar.import", object_type="calendar_year", object_id=year, details={"rows": len(rows), "source": source, "recomputed_tasks": recomputed})
    return year, len(rows)


def deadline(received_at: datetime, working_days: int) -> workdays.Deadline:
    """Return the deadline N working days after an instant of receipt."""
    return workdays.deadline_after(load_calendar(), received_at, working_days, local_tz())


def recompute_provisional_tasks() -> int:
    """Recompute open tasks whose due date was provisional, now that a schedule is loaded."""
    cal, zone = load_calendar(), local_tz()
    count = 0
    for task in db.session.scalars(
        select(HumanTask).where(HumanTask.status == "open", HumanTask.due_provisional.is_(True), HumanTask.due_days.is_not(None))
    ):
        result = workdays.deadline_after(cal, task.created_at, task.due_days, zone)
        task.due_at, task.due_provisional = result.due, result.provisional
        count += 1
    db.session.flush()
    return count


# --- administration in the browser: a year at a glance, an uploaded schedule, one corrected day -------------------

# How an administrator may set one day: a rest day, a make-up workday, or back to the usual Monday–Friday rule.
DAY_KINDS = ("rest", "work", "usual")
# Schedule files come from Windows desktops as often as from anywhere else.
_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class Day:
    """One date of the year view: whether it is worked, and the State Council's name for it when it differs."""

    day: date
    workday: bool
    special: str | None  # "rest" (a weekday off), "work" (a weekend make-up day) or None
    name: str


@dataclass(frozen=True)
class YearView:
    year: int
    confirmed: CalendarYear | None  # None: provisional, weekends only
    months: list[list[list[Day | None]]]  # month -> weeks (Monday first) -> day or None outside the month
    specials: list[CalendarDay]


def year_view(year: int) -> YearView:
    """The year's days by month and week, marked rest and make-up days, and whether the year is confirmed."""
    if not 1900 <= year <= 2100:
        raise Invalid(_("年份应在 1900 至 2100 之间。"), code="bad_year")
    rows = list(db.session.scalars(select(CalendarDay).where(CalendarDay.day >= date(year, 1, 1),
                                                             CalendarDay.day <= date(year, 12, 31))
                                   .order_by(CalendarDay.day)))
    confirmed = db.session.get(CalendarYear, year)
    cal = load_calendar()
    by_day = {row.day: row for row in rows}
    months = []
    for month in range(1, 13):
        weeks = []
        for week in month_grid.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells = []
            for d in week:
                if d.month != month:
                    cells.append(None)
                    continue
                row = by_day.get(d) if confirmed else None
                special = None if row is None else ("work" if row.is_workday else "rest")
                cells.append(Day(day=d, workday=cal.is_workday(d), special=special, name=row.name if row else ""))
            weeks.append(cells)
        months.append(weeks)
    return YearView(year=year, confirmed=confirmed, months=months, specials=rows if confirmed else [])


def decode_schedule(data: bytes) -> str:
    """The text of an uploaded schedule file (UTF-8, with or without BOM, or GB18030)."""
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid(_("文件编码无法识别，请保存为 UTF-8 或 GB18030 编码的 CSV 文件。"), code="bad_schedule",
                  fields={"file": _("文件编码无法识别。")})


def correct_day(day: date, kind: str, name: str, reason: str) -> int:
    """Correct one day of a confirmed year (rest, make-up workday, or the usual rule); audited with the reason.

    Open tasks whose time limit runs over that day get their deadline recomputed; returns how many.
    """
    reason, name = (reason or "").strip(), (name or "").strip()
    if kind not in DAY_KINDS:
        raise Invalid(_("请选择这一天的类型。"), code="bad_day", fields={"kind": _("请选择这一天的类型。")})
    if not reason:
        raise Invalid(_("请填写更正原因（如通知文号）。"), code="reason_required", fields={"reason": _("请填写更正原因（如通知文号）。")})
    if db.session.get(CalendarYear, day.year) is None:
        message = _("%(year)s 年的放假安排尚未导入（暂按周末计算），请先导入国务院办公厅通知，再更正单日。", year=day.year)
        raise Invalid(message, code="year_provisional", fields={"day": message})
    weekday = day.weekday() < 5
    existing = db.session.get(CalendarDay, day)
    before = None if existing is None else ("work" if existing.is_workday else "rest")
    if kind == "usual":
        if existing is None:
            message = _("%(day)s 没有特别安排，已按通常的周一至周五计算。", day=day.isoformat())
            raise Invalid(message, code="day_unchanged", fields={"day": message})
        db.session.delete(existing)
    else:
        workday = kind == "work"
        if workday == weekday:
            usual = _("上班") if weekday else _("休息")
            message = _("%(day)s 是星期%(weekday)s，本来就%(usual)s，无需更正。", day=day.isoformat(),
                        weekday=_(WEEKDAYS[day.weekday()]), usual=usual)
            raise Invalid(message, code="day_unchanged", fields={"kind": message})
        if not workday and not name:
            raise Invalid(_("放假日期须填写节日名称。"), code="bad_day", fields={"name": _("放假日期须填写节日名称。")})
        if len(name) > 40:
            raise Invalid(_("名称不能超过 40 个字。"), code="bad_day", fields={"name": _("名称不能超过 40 个字。")})
        source = _("管理员更正：%(reason)s", reason=reason)[:120]
        if existing is None:
            db.session.add(CalendarDay(day=day, is_workday=workday, name=name or workdays.MAKE_UP_NAME, source=source))
        else:
            existing.is_workday, existing.name, existing.source = workday, name or workdays.MAKE_UP_NAME, source
    db.session.flush()
    recomputed = _recompute_tasks_spanning(day)
    audit.record("calendar.correct", object_type="calendar_day", object_id=day.isoformat(),
                 details={"from": before, "to": None if kind == "usual" else kind, "name": name, "reason": reason[:500],
                          "recomputed_tasks": recomputed})
    return recomputed


def _recompute_tasks_spanning(day: date) -> int:
    """Recompute the deadlines of open tasks received before `day` and due on or after it."""
    cal, zone = load_calendar(), local_tz()
    start = datetime.combine(day, time.min, tzinfo=zone)
    count = 0
    for task in db.session.scalars(select(HumanTask).where(
            HumanTask.status == "open", HumanTask.due_days.is_not(None), HumanTask.created_at < start,
            HumanTask.due_at >= start)):
        result = workdays.deadline_after(cal, task.created_at, task.due_days, zone)
        task.due_at, task.due_provisional = result.due, result.provisional
        count += 1
    db.session.flush()
    return count
