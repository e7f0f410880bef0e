"""The working-day calendar stored in the database, and deadlines computed from it (SPEC §3)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select

from app.extensions import db
from app.models import CalendarDay, CalendarYear, HumanTask
from app.services import audit, workdays
from app.core.clock import local_tz, now
from app.core.errors import Invalid


def load_calendar() -> workdays.WorkCalendar:
    """Build the pure calendar from the stored overrides and confirmed years."""
    overrides = {row.day: row.is_workday for row in db.session.scalars(select(CalendarDay))}
    years = frozenset(db.session.scalars(select(CalendarYear.year)))
    return workdays.WorkCalendar(overrides=overrides, confirmed_years=years)


def _store_year(year: int, rows: list[dict], source: str) -> None:
    db.session.execute(
        delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
    )
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
