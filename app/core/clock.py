"""The one clock: every "now", "today" and local date in the app (and in the BPMN engine's timers) comes from here.

Instants are UTC; the office works in the configured time zone (config TIMEZONE). A day, a deadline or a
"today" is always the local calendar date, through local_today() and local_date(), never `.date()` of a UTC instant.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """Return the current instant in UTC, honouring a frozen or shifted clock."""
    if _frozen is not None:
        return _frozen
    return datetime.now(timezone.utc) + _offset


def local_tz() -> ZoneInfo:
    """The configured time zone of the app in context (ZoneInfo keeps one instance per key)."""
    from flask import current_app

    return ZoneInfo(current_app.config["TIMEZONE"])


def local_date(instant: datetime) -> date:
    """The local calendar date of an aware instant."""
    if instant.utcoffset() is None:
        raise ValueError("local_date needs an aware datetime")
    return instant.astimezone(local_tz()).date()


def local_today() -> date:
    """Today's local date, by the app clock."""
    return local_date(now())


def local_instant(day: date, at: time = time(0)) -> datetime:
    """The aware instant of a local wall-clock time on a day (midnight by default)."""
    return datetime.combine(day, at, tzinfo=local_tz())


def local_text(instant: datetime | None, *, seconds: bool = False) -> str:
    """Format an instant as local wall-clock text ("2026-11-27 18:00", seconds on request); "" for None."""
    if instant is None:
        return ""
    return instant.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def wall_now() -> datetime:
    """Return the real instant (a frozen test clock still wins) for things a training shift must not move.

    TOTP codes come from the holder's phone, which knows nothing of the training clock.
    """
    if _frozen is not None:
        return _frozen
    return datetime.now(timezone.utc)


def machine_now() -> datetime:
    """Return the machine's own clock, never frozen nor shifted.

    For what is compared with files outside the database and their times (audit checkpoints beside backup
    snapshots), which a test's frozen clock or a training shift must not move.
    """
    return datetime.now(timezone.utc)


def is_shifted() -> bool:
    """Say whether the clock is not the wall clock (the UI shows a banner then)."""
    return _frozen is not None or _offset != timedelta(0)


def set_frozen(at: datetime | None) -> None:
    """Freeze the clock at an aware instant (None thaws it)."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("the clock needs an aware datetime")
    _frozen = at.astimezone(timezone.utc) if at else None


def offset_to(target: datetime) -> timedelta:
    """Return the shift that makes the clock read `target` now."""
    return target - datetime.now(timezone.utc)


def set_offset(delta: timedelta) -> None:
    """Shift the running clock by a fixed amount (training and demo only)."""
    global _offset
    _offset = delta


@contextmanager
def frozen_at(at: datetime):
    """Freeze the clock for the duration of a block."""
    previous = _frozen
    set_frozen(at)
    try:
        yield
    finally:
        set_frozen(previous)
