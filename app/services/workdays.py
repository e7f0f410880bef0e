"""Working-day arithmetic for statutory deadlines (Mon–Fri, minus rest days, plus 调休 make-up days)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

import chinese_calendar
from chinese_calendar import Holiday

PACKAGE_SOURCE = f"国务院办公厅通知（chinesecalendar {chinese_calendar.__version__}）"
IMPORT_SOURCE = "国务院办公厅通知（管理员导入）"
# Years for which chinese_calendar carries the State Council schedule (2004–2026 in 1.11.0).
PACKAGE_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
MAKE_UP_NAME = "调休上班"

_ONE_DAY = timedelta(days=1)
_END_OF_DAY = time(23, 59, 59)
_WEEKDAY_NAMES = "一二三四五六日"
# The package's short names; State Council notices write these with 节.
_NOTICE_NAMES = {
    Holiday.tomb_sweeping_day: "清明节",
    Holiday.dragon_boat_festival: "端午节",
    Holiday.mid_autumn_festival: "中秋节",
}
_TYPES = {"rest": False, "work": True}
_HEADER = ["date", "type", "name"]


@dataclass(frozen=True)
class WorkCalendar:
    """Workday calendar: Mon–Fri, overridden by the State Council schedule in confirmed years."""

    overrides: Mapping[date, bool]
    confirmed_years: frozenset[int]

    def is_workday(self, d: date) -> bool:
        """Return whether d is a working day."""
        weekday = d.weekday() < 5
        # Rule: dates in an unconfirmed year use weekends alone.
        if d.year not in self.confirmed_years:
            return weekday
        return self.overrides.get(d, weekday)

    def is_confirmed(self, d: date) -> bool:
        """Return whether d's year has a State Council schedule."""
        return d.year in self.confirmed_years


@dataclass(frozen=True)
class Deadline:
    """A deadline instant (UTC), its local due date, and whether it rests on an unconfirmed year."""

    due: datetime
    due_date: date
    provisional: bool


def _provisional(cal: WorkCalendar, first: date, last: date) -> bool:
    """Return whether any year from first to last is unconfirmed."""
    return any(year not in cal.confirmed_years for year in range(first.year, last.year + 1))


def _walk(cal: WorkCalendar, d: date, n: int, step: timedelta) -> date:
    """Step from d until n working days have been passed; d itself is not counted."""
    if n < 0:
        raise ValueError(f"工作日数不能为负数：{n}")
    while n:
        d += step
        if cal.is_workday(d):
            n -= 1
    return d


def add_working_days(cal: WorkCalendar, start: date, n: int) -> tuple[date, bool]:
    """Return the n-th working day after start and whether it is provisional."""
    # Rule: the day of receipt is not counted.
    end = _walk(cal, start, n, _ONE_DAY)
    return end, _provisional(cal, start, end)


def subtract_working_days(cal: WorkCalendar, end: date, n: int) -> tuple[date, bool]:
    """Return the n-th working day before end and whether it is provisional."""
    start = _walk(cal, end, n, -_ONE_DAY)
    return start, _provisional(cal, start, end)


def working_days_between(cal: WorkCalendar, start: date, end: date) -> int:
    """Count working days in (start, end]; negative when end precedes start."""
    if end < start:
        return -working_days_between(cal, end, start)
    return sum(cal.is_workday(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))


def deadline_after(cal: WorkCalendar, received_at: datetime, n: int, zone: tzinfo) -> Deadline:
    """Return the deadline n working days after received_at, ending 23:59:59 local time in zone.

    Pure: the caller passes the office's zone (calendar.deadline passes clock.local_tz()).
    """
    if received_at.utcoffset() is None:
        raise ValueError("received_at 必须带时区")
    # Rule: the receipt day is the local calendar date, not the UTC one.
    due_date, provisional = add_working_days(cal, received_at.astimezone(zone).date(), n)
    due = datetime.combine(due_date, _END_OF_DAY, tzinfo=zone).astimezone(timezone.utc)
    return Deadline(due=due, due_date=due_date, provisional=provisional)


def _holiday_name(english: str) -> str:
    """Return the Chinese notice name for a chinese_calendar holiday value."""
    holiday = Holiday(english)
    return _NOTICE_NAMES.get(holiday, holiday.chinese)


def seed_rows(years: Iterable[int]) -> list[dict]:
    """Return override rows for years from the chinesecalendar data; raise for years it lacks."""
    wanted = set(years)
    missing = sorted(wanted.difference(PACKAGE_YEARS))
    if missing:
        raise ValueError(f"chinesecalendar {chinese_calendar.__version__} 没有以下年份的放假安排：{missing}")
    rows = []
    listed = chinese_calendar.holidays.keys() | chinese_calendar.workdays.keys()
    for d in sorted(day for day in listed if day.year in wanted):
        workday = chinese_calendar.is_workday(d)
        # Rule: only weekday rest days and weekend workdays differ from Mon–Fri.
        if workday == (d.weekday() < 5):
            continue
        name = MAKE_UP_NAME if workday else _holiday_name(chinese_calendar.get_holiday_detail(d)[1])
        rows.append({"day": d, "is_workday": workday, "name": name, "source": PACKAGE_SOURCE})
    return rows


def parse_schedule_file(text: str, source: str = IMPORT_SOURCE) -> tuple[int, list[dict]]:
    """Parse one year's "date,type,name" CSV into override rows; raise ValueError naming the line."""
    year = first_line = None
    seen: dict[date, int] = {}
    rows = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for fields in reader:
        line = reader.line_num
        fields = [f.strip() for f in fields]
        if not any(fields) or (not seen and [f.lower() for f in fields] == _HEADER):
            continue
        if len(fields) != 3:
            raise ValueError(f"第 {line} 行：应为“日期,类型,名称”三列，实际 {len(fields)} 列")
        raw_day, raw_type, name = fields
        try:
            d = datetime.strptime(raw_day, "%Y-%m-%d").date()
        except ValueError:
            raise ValueError(f"第 {line} 行：日期“{raw_day}”无效，应为 YYYY-MM-DD 格式的真实日期") from None
        if raw_type.lower() not in _TYPES:
            raise ValueError(f"第 {line} 行：类型“{raw_type}”无效，只能是 rest（放假）或 work（调休上班）")
        workday = _TYPES[raw_type.lower()]
        if year is None:
            year, first_line = d.year, line
        elif d.year != year:
            raise ValueError(f"第 {line} 行：{d} 属于 {d.year} 年，而第 {first_line} 行是 {year} 年；一个文件只能导入一年")
        if d in seen:
            raise ValueError(f"第 {line} 行：{d} 与第 {seen[d]} 行重复")
        seen[d] = line
        weekday = d.weekday() < 5
        # Rule: a rest row on a weekend or a work row on a weekday changes nothing, so it is a mistake.
        if workday == weekday:
            usual = "上班" if weekday else "休息"
            raise ValueError(
                f"第 {line} 行：{d} 是星期{_WEEKDAY_NAMES[d.weekday()]}，本来就{usual}，标为 {raw_type} 不起作用，请检查日期"
            )
        if not workday and not name:
            raise ValueError(f"第 {line} 行：放假日期必须填写节日名称")
        rows.append({"day": d, "is_workday": workday, "name": name or MAKE_UP_NAME, "source": source})
    if year is None:
        raise ValueError("文件中没有任何日期行")
    return year, sorted(rows, key=lambda row: row["day"])
