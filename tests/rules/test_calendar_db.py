"""The stored working-day calendar: seeding, importing a new year, provisional deadlines recomputed."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from app.extensions import db
from app.models import CalendarDay, CalendarYear
from app.services import calendar
from app.core.errors import Invalid

SCHEDULE_2027 = """date,type,name
2027-01-01,rest,元旦
2027-02-08,rest,春节
2027-02-09,rest,春节
2027-02-06,work,
"""


def test_seed_and_deadline(app):
    assert calendar.seed_from_package(range(2024, 2027)) == [2024, 2025, 2026]
    assert calendar.seed_from_package(range(2024, 2027)) == []  # idempotent
    assert db.session.get(CalendarDay, date(2026, 10, 10)).is_workday is True
    received = datetime(2026, 9, 30, 4, 0, tzinfo=timezone.utc)
    due = calendar.deadline(received, 3)
    assert due.due_date == date(2026, 10, 10) and not due.provisional
    assert due.due.isoformat() == "2026-10-10T15:59:59+00:00"


def test_import_next_year_makes_deadlines_confirmed(app):
    calendar.seed_from_package([2026])
    received = datetime(2027, 1, 29, 4, 0, tzinfo=timezone.utc)  # a Friday
    before = calendar.deadline(received, 5)
    assert before.provisional
    year, rows = calendar.import_schedule(SCHEDULE_2027, "国办发明电〔2026〕7号")
    assert (year, rows) == (2027, 4)
    assert db.session.get(CalendarYear, 2027).source == "国办发明电〔2026〕7号"
    after = calendar.deadline(received, 5)
    # Feb 1–5 are plain workdays; Saturday 2027-02-06 is a make-up day only in the imported data.
    assert not after.provisional and after.due_date == date(2027, 2, 5)


def test_bad_schedule_changes_nothing(app):
    with pytest.raises(Invalid):
        calendar.import_schedule("date,type,name\n2027-02-06,rest,周六不应为休息日\n", "")
    assert db.session.get(CalendarYear, 2027) is None
