"""One local date: every "today" and local date comes from app.core.clock, in the configured zone."""
from __future__ import annotations

import ast
from datetime import date, datetime, time, timezone
from pathlib import Path

import pytest

from app.core import clock
from tests.support.constants import ROOT

APP = ROOT / "app"


@pytest.mark.parametrize(("instant", "expected"), [
    # 15:59:59 UTC is 23:59:59 in Beijing: still the same day.
    (datetime(2026, 11, 26, 15, 59, 59, tzinfo=timezone.utc), date(2026, 11, 26)),
    # 16:00 UTC is midnight in Beijing: the local day has turned, the UTC one has not.
    (datetime(2026, 11, 26, 16, 0, tzinfo=timezone.utc), date(2026, 11, 27)),
    # 07:00 Beijing, 23:00 UTC the evening before: the repair-filing case of the issue.
    (datetime(2026, 11, 26, 23, 0, tzinfo=timezone.utc), date(2026, 11, 27)),
    # New Year's Eve 20:00 UTC is already 1 January locally: the year (and a document number's year) turns too.
    (datetime(2026, 12, 31, 20, 0, tzinfo=timezone.utc), date(2027, 1, 1)),
])
def test_local_date_is_the_beijing_calendar_date(app, instant, expected):
    assert clock.local_date(instant) == expected
    with clock.frozen_at(instant):
        assert clock.local_today() == expected


def test_local_date_refuses_a_naive_datetime(app):
    with pytest.raises(ValueError):
        clock.local_date(datetime(2026, 11, 27, 7, 0))


def test_local_instant_is_local_wall_clock_time(app):
    assert clock.local_instant(date(2026, 11, 27)) == datetime(2026, 11, 26, 16, 0, tzinfo=timezone.utc)
    assert clock.local_instant(date(2026, 11, 27), time(9, 0)) == datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)


def test_the_zone_comes_from_the_configuration(app, monkeypatch):
    """Change TIMEZONE and every local date follows: nothing is pinned to Beijing in code."""
    evening = datetime(2026, 11, 26, 23, 0, tzinfo=timezone.utc)
    assert clock.local_date(evening) == date(2026, 11, 27)
    monkeypatch.setitem(app.config, "TIMEZONE", "UTC")
    assert clock.local_tz().key == "UTC"
    assert clock.local_date(evening) == date(2026, 11, 26)
    with clock.frozen_at(evening):
        assert clock.local_today() == date(2026, 11, 26)
    assert clock.local_instant(date(2026, 11, 27)) == datetime(2026, 11, 27, tzinfo=timezone.utc)


# --- guards: the rule holds for the whole code base -------------------------------------------------

def _app_files(*suffixes: str) -> list[Path]:
    return sorted(p for p in APP.rglob("*") if p.is_file() and p.suffix in suffixes)


def test_no_zone_name_outside_config():
    """Asia/Shanghai is written once, as config.TIMEZONE; app code, templates, scripts and forms read it from there."""
    files = _app_files(".py", ".html", ".js", ".txt", ".json") + sorted((ROOT / "forms").rglob("*.*")) + sorted(
        (ROOT / "processes").rglob("*.*"))
    assert len(files) > 50
    offenders = [str(p.relative_to(ROOT)) for p in files if "Asia/Shanghai" in p.read_text(encoding="utf-8", errors="replace")]
    assert offenders == []


WALL_CLOCK_CALLS = {("datetime", "now"), ("datetime", "today"), ("datetime", "utcnow"), ("date", "today")}


def test_only_the_clock_builds_a_zone_or_reads_the_wall_clock():
    """ZoneInfo(...), config["TIMEZONE"], datetime.now() and date.today() live in clock.py (ops/backup.py stamps
    backups in real UTC time, which a frozen or shifted clock must not move)."""
    allowed = {APP / "core" / "clock.py", APP / "services" / "ops" / "backup.py"}
    offenders = []
    for path in _app_files(".py"):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "TIMEZONE":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: reads TIMEZONE")
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "ZoneInfo":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                    (func.value.id, func.attr) in WALL_CLOCK_CALLS:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


# `.date()` of an instant is its UTC date: a local date must go through clock.local_date (or astimezone first).
# Command-line options parsed by click are naive wall-clock dates already; those are the only exceptions.
NAIVE_DATE_OK = {("app/cli.py", "today"), ("app/cli.py", "before")}


def test_no_utc_date_of_an_instant():
    offenders = []
    for path in _app_files(".py"):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "date"
                    and not node.args and not node.keywords):
                continue
            receiver = node.func.value
            if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute) and \
                    receiver.func.attr in ("astimezone", "strptime"):
                continue  # converted to a zone first, or parsed from text
            if isinstance(receiver, ast.Name) and (rel, receiver.id) in NAIVE_DATE_OK:
                continue
            offenders.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []
