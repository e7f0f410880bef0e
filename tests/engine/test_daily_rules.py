"""The daily date rules run at the first sweep of each local day (Asia/Shanghai), once, and on demand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.core import clock
from app.extensions import db
from app.services import publication, worker
from app.services.worker import sweep

# 2026-11-27 15:59:59 UTC is 23:59:59 in Asia/Shanghai: the local day ends a second later, at 16:00 UTC.
BEFORE_MIDNIGHT = datetime(2026, 11, 27, 15, 59, 59, tzinfo=timezone.utc)


@pytest.fixture()
def runs(app, monkeypatch):
    """The days on which the rules ran (the first rule of a run records the day it was given)."""
    days: list = []
    real = publication.expire_records

    def spy(today, limit=500):
        days.append(today)
        return real(today, limit)

    monkeypatch.setattr(publication, "expire_records", spy)
    return days


def stored_day() -> str | None:
    """The day recorded as done (None: none; the row may exist, written empty by a run that did not complete)."""
    value = worker._rules_day()
    db.session.rollback()
    return value or None


def test_the_first_sweep_of_a_day_runs_them_and_the_second_does_not(runs):
    clock.set_frozen(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    first = sweep()
    assert first.daily_ran and runs == [clock.local_today()]
    assert stored_day() == "2026-11-27"
    clock.set_frozen(datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc))  # later the same local day
    second = sweep()
    assert not second.daily_ran and len(runs) == 1


def test_they_run_again_after_local_midnight_not_utc_midnight(runs):
    clock.set_frozen(BEFORE_MIDNIGHT)
    assert sweep().daily_ran and runs == [clock.local_today()]
    assert stored_day() == "2026-11-27"
    clock.set_frozen(BEFORE_MIDNIGHT + timedelta(seconds=1))  # 16:00 UTC: the same UTC day, a new local day
    assert sweep().daily_ran
    assert [day.isoformat() for day in runs] == ["2026-11-27", "2026-11-28"]
    assert stored_day() == "2026-11-28"
    clock.set_frozen(datetime(2026, 11, 28, 0, 1, tzinfo=timezone.utc))  # past UTC midnight: still 11-28 locally
    assert not sweep().daily_ran and len(runs) == 2


def test_a_clock_set_back_runs_them_for_its_day(runs):
    """A training clock moved back (clock-reset) is a different day: its rules run, not only a later day's."""
    clock.set_frozen(datetime(2027, 3, 1, 2, 0, tzinfo=timezone.utc))
    assert sweep().daily_ran
    clock.set_frozen(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    assert sweep().daily_ran and runs[-1].isoformat() == "2026-11-27"


def test_a_failed_run_records_no_day_and_the_next_sweep_runs_them_again(app, monkeypatch, runs):
    from app.services.workflow import registry

    calls = {"n": 0}

    def broken(_limit: int) -> int:
        calls["n"] += 1
        raise RuntimeError("rule failed")

    real = registry.daily_rules
    monkeypatch.setattr(registry, "daily_rules", lambda: [*real(), ("probe.broken", broken)])
    clock.set_frozen(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    assert sweep().daily_ran and calls["n"] == 1
    assert stored_day() is None  # rolled back: neither the rows' changes nor the day
    clock.set_frozen(datetime(2026, 11, 27, 2, 1, tzinfo=timezone.utc))
    assert sweep().daily_ran and calls["n"] == 2  # the same day: tried again
    monkeypatch.setattr(registry, "daily_rules", real)
    assert sweep().daily_ran and stored_day() == "2026-11-27"
    assert not sweep().daily_ran and len(runs) == 3


def test_a_rule_that_reaches_its_cap_leaves_the_day_open(app, monkeypatch):
    """More rows waiting than one run handles: the next sweep goes on with them, the same day."""
    counts = iter([worker.EXPIRE_CAP, worker.EXPIRE_CAP - 1])
    monkeypatch.setattr(publication, "expire_records", lambda today, limit=500: next(counts))
    clock.set_frozen(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    assert sweep().expired == worker.EXPIRE_CAP and stored_day() is None
    result = sweep()
    assert result.daily_ran and result.expired == worker.EXPIRE_CAP - 1 and stored_day() == "2026-11-27"
    assert not sweep().daily_ran


def test_the_command_runs_them_even_when_they_ran_today(app, runs):
    clock.set_frozen(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    assert sweep().daily_ran and len(runs) == 1
    result = app.test_cli_runner().invoke(args=["rules", "daily"])
    assert result.exit_code == 0, result.output
    assert "日常规则已执行" in result.output and len(runs) == 2
    assert stored_day() == "2026-11-27"
    assert not sweep().daily_ran and len(runs) == 2


def test_the_command_on_a_new_day_records_it_so_the_sweep_does_not_repeat_it(app, runs):
    clock.set_frozen(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    result = worker.run_daily_rules()
    assert result.daily_ran and len(runs) == 1 and stored_day() == "2026-11-27"
    assert not sweep().daily_ran and len(runs) == 1


def test_the_command_raises_a_failure_and_records_no_day(app, monkeypatch, runs):
    def broken(today, limit=500):
        raise RuntimeError("rule failed")

    monkeypatch.setattr(publication, "expire_records", broken)
    clock.set_frozen(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    result = app.test_cli_runner().invoke(args=["rules", "daily"])
    assert result.exit_code != 0 and stored_day() is None


def test_a_worker_that_finds_another_running_them_goes_on(app, monkeypatch, runs):
    """The row that records the day is taken (another worker holds it, PostgreSQL SKIP LOCKED): no run, no wait."""
    monkeypatch.setattr(worker, "_take_rules_row", lambda *, wait: None)
    clock.set_frozen(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    assert not sweep().daily_ran and runs == [] and stored_day() is None
