"""Reference data cached per process (app/services/reference.py): the calendar and the unit names are read once per
process, and a change made by the app — here or in another worker — is seen at the next transaction."""
from __future__ import annotations

from datetime import date

from sqlalchemy import event, text

from app.extensions import db
from app.models import CalendarDay, Unit
from app.services import calendar, reference
from tests.support import factories

HOLIDAY = date(2026, 10, 1)  # 国庆节, a Thursday: a rest day in the seeded 2026 schedule
MONDAY = date(2026, 11, 16)


def _statements(work) -> int:
    seen = [0]

    def count(conn, cursor, statement, *_args):
        seen[0] += statement.lstrip().upper().startswith("SELECT")  # not BEGIN

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return seen[0]


def test_the_calendar_is_read_once_per_process_and_checked_once_per_transaction(app):
    calendar.seed_from_package([2026])
    db.session.commit()
    assert not calendar.load_calendar().is_workday(HOLIDAY)
    db.session.commit()
    assert _statements(calendar.load_calendar) == 1  # the versions only, not the 2026 rows
    assert _statements(calendar.load_calendar) == 0  # and those once per transaction


def test_an_administrators_correction_is_seen_at_once(app):
    calendar.seed_from_package([2026])
    db.session.commit()
    assert calendar.load_calendar().is_workday(MONDAY)
    calendar.correct_day(MONDAY, "rest", "临时放假", "国办发明电〔2026〕9号")
    assert not calendar.load_calendar().is_workday(MONDAY)  # its own transaction sees it before the commit
    db.session.commit()
    assert not calendar.load_calendar().is_workday(MONDAY)


def test_another_workers_edit_is_seen_through_the_version(app):
    calendar.seed_from_package([2026])
    db.session.commit()
    assert not calendar.load_calendar().is_workday(HOLIDAY)  # this process has cached the calendar
    db.session.commit()
    # Another process changes the rows and replaces the version, as reference.changed does there; none of it
    # goes through this process's session, so only the version can tell.
    db.session.execute(text("DELETE FROM calendar_day WHERE day = :day"), {"day": HOLIDAY})
    db.session.commit()
    assert not calendar.load_calendar().is_workday(HOLIDAY)  # stale, as it should be without a new version
    db.session.execute(text("UPDATE app_setting SET value = 'another-worker' WHERE key = 'version:calendar'"))
    db.session.commit()
    assert calendar.load_calendar().is_workday(HOLIDAY)


def test_a_rolled_back_change_leaves_the_cache_as_it_was(app):
    calendar.seed_from_package([2026])
    db.session.commit()
    db.session.get(CalendarDay, HOLIDAY).is_workday = True
    db.session.flush()
    assert calendar.load_calendar().is_workday(HOLIDAY)
    db.session.rollback()
    assert not calendar.load_calendar().is_workday(HOLIDAY)
    db.session.commit()
    assert not calendar.load_calendar().is_workday(HOLIDAY)


def test_a_renamed_unit_is_seen_at_the_next_transaction(app):
    unit = factories.unit("甲单位")
    db.session.commit()
    assert "甲单位" in [u.name for u in reference.unit_choices()]
    db.session.commit()
    db.session.get(Unit, unit.id).name = "乙单位"
    db.session.commit()
    names = [u.name for u in reference.unit_choices()]
    assert "乙单位" in names and "甲单位" not in names
