"""Working-day arithmetic against the real State Council schedules carried by chinesecalendar."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from app.services.workdays import (
    IMPORT_SOURCE,
    MAKE_UP_NAME,
    PACKAGE_YEARS,
    Deadline,
    WorkCalendar,
    add_working_days,
    deadline_after,
    parse_schedule_file,
    seed_rows,
    subtract_working_days,
    working_days_between,
)
from config import Config

SHANGHAI = ZoneInfo(Config.TIMEZONE)  # the office's zone; the rows below are written for UTC+8
SEED = seed_rows(PACKAGE_YEARS)
CAL = WorkCalendar({row["day"]: row["is_workday"] for row in SEED}, frozenset(PACKAGE_YEARS))


@pytest.mark.parametrize(
    ("start", "n", "expected", "provisional"),
    [
        (date(2026, 3, 9), 3, date(2026, 3, 12), False),  # plain Mon -> Thu
        (date(2026, 3, 12), 3, date(2026, 3, 17), False),  # Thu: Fri, (weekend), Mon, Tue
        (date(2026, 3, 13), 1, date(2026, 3, 16), False),  # received Friday: next working day is Monday
        (date(2026, 3, 14), 1, date(2026, 3, 16), False),  # received Saturday: receipt day never counts
        (date(2026, 3, 15), 1, date(2026, 3, 16), False),  # received Sunday
        (date(2026, 9, 18), 1, date(2026, 9, 20), False),  # Sun 09-20 is a National Day make-up workday
        (date(2026, 9, 24), 1, date(2026, 9, 28), False),  # Fri 09-25 Mid-Autumn rest, then weekend
        (date(2026, 9, 30), 1, date(2026, 10, 8), False),  # 10-01..10-07 National Day rest
        (date(2026, 9, 30), 3, date(2026, 10, 10), False),  # 10-08, 10-09, Sat 10-10 make-up workday
        (date(2026, 9, 30), 5, date(2026, 10, 13), False),  # ... Sun 10-11 rest, 10-12, 10-13
        (date(2026, 10, 3), 1, date(2026, 10, 8), False),  # received on a holiday Saturday
        (date(2026, 9, 21), 15, date(2026, 10, 19), False),  # 15-day limit across Mid-Autumn + National Day
        (date(2026, 2, 12), 1, date(2026, 2, 13), False),  # Thu -> Fri before Spring Festival
        (date(2026, 2, 13), 1, date(2026, 2, 14), False),  # Sat 02-14 is a Spring Festival make-up workday
        (date(2026, 2, 13), 2, date(2026, 2, 24), False),  # 02-15..02-23 Spring Festival rest
        (date(2026, 2, 27), 1, date(2026, 2, 28), False),  # Sat 02-28 make-up workday counted
        (date(2026, 1, 3), 1, date(2026, 1, 4), False),  # Sun 01-04 New Year make-up workday
        (date(2026, 4, 30), 1, date(2026, 5, 6), False),  # 05-01..05-05 Labour Day rest
        (date(2026, 5, 8), 1, date(2026, 5, 9), False),  # Sat 05-09 make-up workday
        (date(2026, 12, 30), 3, date(2027, 1, 4), True),  # 12-31, Fri 2027-01-01 (unconfirmed: weekday), Mon
        (date(2026, 12, 31), 1, date(2027, 1, 1), True),  # first step lands in unconfirmed 2027
        (date(2031, 10, 1), 1, date(2031, 10, 2), True),  # 2031 has no data: weekends only, no crash
        (date(2031, 10, 3), 1, date(2031, 10, 6), True),  # 2031 Fri -> Mon
        (date(1990, 10, 1), 1, date(1990, 10, 2), True),  # before the package's 2004 start
        (date(2026, 10, 3), 0, date(2026, 10, 3), False),  # n=0 returns the start even on a rest day
        (date(2026, 12, 31), 0, date(2026, 12, 31), False),  # n=0 in a confirmed year
        (date(2031, 1, 1), 0, date(2031, 1, 1), True),  # n=0 in an unconfirmed year
    ],
)
def test_add_working_days(start, n, expected, provisional):
    assert add_working_days(CAL, start, n) == (expected, provisional)


def test_add_working_days_rejects_negative():
    with pytest.raises(ValueError):
        add_working_days(CAL, date(2026, 3, 9), -1)


def test_add_working_days_long_run_matches_count():
    end, provisional = add_working_days(CAL, date(2025, 1, 2), 250)
    assert working_days_between(CAL, date(2025, 1, 2), end) == 250
    assert CAL.is_workday(end) and not provisional


def test_unconfirmed_year_ignores_overrides():
    cal = WorkCalendar({date(2027, 2, 8): False}, frozenset({2026}))
    assert cal.is_workday(date(2027, 2, 8))
    assert not cal.is_confirmed(date(2027, 2, 8))
    assert cal.is_confirmed(date(2026, 2, 8))


@pytest.mark.parametrize(
    ("received_at", "n", "due", "due_date", "provisional"),
    [
        # Local 10:00 on 09-30; 3 working days -> Sat 10-10, 23:59:59 CST == 15:59:59 UTC.
        (datetime(2026, 9, 30, 10, tzinfo=SHANGHAI), 3, datetime(2026, 10, 10, 15, 59, 59, tzinfo=timezone.utc),
         date(2026, 10, 10), False),
        # 17:00 UTC on 09-29 is already 01:00 on 09-30 in Shanghai: the local date is the receipt day.
        (datetime(2026, 9, 29, 17, tzinfo=timezone.utc), 3, datetime(2026, 10, 10, 15, 59, 59, tzinfo=timezone.utc),
         date(2026, 10, 10), False),
        # 15:59 UTC on 09-29 is 23:59 on 09-29 locally, so the count starts a day earlier.
        (datetime(2026, 9, 29, 15, 59, tzinfo=timezone.utc), 3, datetime(2026, 10, 9, 15, 59, 59, tzinfo=timezone.utc),
         date(2026, 10, 9), False),
        (datetime(2026, 12, 30, 9, tzinfo=SHANGHAI), 3, datetime(2027, 1, 4, 15, 59, 59, tzinfo=timezone.utc),
         date(2027, 1, 4), True),
    ],
)
def test_deadline_after(received_at, n, due, due_date, provisional):
    deadline = deadline_after(CAL, received_at, n, SHANGHAI)
    assert deadline == Deadline(due=due, due_date=due_date, provisional=provisional)
    assert deadline.due.utcoffset().total_seconds() == 0


def test_deadline_after_rejects_naive():
    with pytest.raises(ValueError):
        deadline_after(CAL, datetime(2026, 9, 30, 10), 3, SHANGHAI)


@pytest.mark.parametrize(
    ("end", "n", "expected", "provisional"),
    [
        (date(2026, 10, 10), 3, date(2026, 9, 30), False),  # 10-09, 10-08, then back over National Day
        (date(2026, 10, 8), 1, date(2026, 9, 30), False),  # reminder the working day before 10-08
        (date(2026, 2, 24), 1, date(2026, 2, 14), False),  # back over Spring Festival to Sat make-up day
        (date(2026, 3, 16), 1, date(2026, 3, 13), False),  # Mon -> previous Fri
        (date(2027, 1, 5), 3, date(2026, 12, 31), True),  # 01-04, 2027-01-01 (unconfirmed), 12-31
        (date(2026, 10, 10), 0, date(2026, 10, 10), False),  # n=0 returns end
    ],
)
def test_subtract_working_days(end, n, expected, provisional):
    assert subtract_working_days(CAL, end, n) == (expected, provisional)


def test_subtract_working_days_rejects_negative():
    with pytest.raises(ValueError):
        subtract_working_days(CAL, date(2026, 3, 9), -2)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 9, 30), date(2026, 10, 10), 3),  # 10-08, 10-09, Sat 10-10
        (date(2026, 10, 10), date(2026, 9, 30), -3),  # reversed span is negative
        (date(2026, 10, 1), date(2026, 10, 7), 0),  # whole National Day week
        (date(2026, 3, 9), date(2026, 3, 9), 0),  # empty interval
        (date(2026, 3, 13), date(2026, 3, 16), 1),  # Fri -> Mon: "剩余 1 个工作日"
        (date(2026, 9, 21), date(2026, 10, 19), 15),  # agrees with add_working_days
    ],
)
def test_working_days_between(start, end, expected):
    assert working_days_between(CAL, start, end) == expected


def test_seed_rows_2026_facts():
    rows = {row["day"]: row for row in seed_rows([2026])}
    assert rows[date(2026, 10, 10)]["is_workday"] is True
    assert rows[date(2026, 10, 10)]["name"] == MAKE_UP_NAME
    assert rows[date(2026, 9, 20)]["is_workday"] is True
    assert rows[date(2026, 10, 1)] == {
        "day": date(2026, 10, 1),
        "is_workday": False,
        "name": "国庆节",
        "source": "国务院办公厅通知（chinesecalendar 1.11.0）",
    }
    assert rows[date(2026, 2, 16)]["name"] == "春节"
    assert rows[date(2026, 9, 25)]["name"] == "中秋节"
    assert date(2026, 10, 3) not in rows  # a holiday Saturday is not an override
    assert sorted(d for d, row in rows.items() if row["is_workday"]) == [
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    ]


@pytest.mark.parametrize(("day", "name"), [
    (date(2026, 1, 1), "元旦"),  # the notice's names, one row per holiday of 2026
    (date(2026, 2, 16), "春节"),
    (date(2026, 4, 6), "清明节"),  # the package says 清明; the State Council notice writes 清明节
    (date(2026, 5, 1), "劳动节"),
    (date(2026, 6, 19), "端午节"),  # the package says 端午; the notice writes 端午节
    (date(2026, 9, 25), "中秋节"),  # the package says 中秋; the notice writes 中秋节
    (date(2026, 10, 1), "国庆节"),
])
def test_seed_rows_use_the_notice_names(day, name):
    rows = {row["day"]: row for row in seed_rows([2026])}
    assert rows[day]["name"] == name and rows[day]["is_workday"] is False


def test_seed_rows_only_real_overrides():
    assert SEED and all(row["is_workday"] == (row["day"].weekday() >= 5) for row in SEED)
    assert [row["day"] for row in SEED] == sorted({row["day"] for row in SEED})


def test_seed_rows_rejects_years_without_data():
    assert PACKAGE_YEARS == range(2004, 2027)
    with pytest.raises(ValueError, match="2027"):
        seed_rows([2026, 2027])


def test_parse_schedule_file_happy_path():
    text = "\ufeffdate,type,name\n2027-02-08,rest,春节\n\n2027-02-06,work,\n 2027-02-07 , WORK , 春节调休\n"
    year, rows = parse_schedule_file(text)
    assert year == 2027
    assert rows == [
        {"day": date(2027, 2, 6), "is_workday": True, "name": MAKE_UP_NAME, "source": IMPORT_SOURCE},
        {"day": date(2027, 2, 7), "is_workday": True, "name": "春节调休", "source": IMPORT_SOURCE},
        {"day": date(2027, 2, 8), "is_workday": False, "name": "春节", "source": IMPORT_SOURCE},
    ]
    assert parse_schedule_file("2027-02-08,rest,春节", source="国办发明电〔2026〕1号")[1][0]["source"] == (
        "国办发明电〔2026〕1号"
    )


def test_imported_year_becomes_confirmed():
    year, rows = parse_schedule_file("2027-01-01,rest,元旦\n2027-02-06,work,\n")
    cal = WorkCalendar({**CAL.overrides, **{row["day"]: row["is_workday"] for row in rows}},
                       CAL.confirmed_years | {year})
    assert add_working_days(cal, date(2026, 12, 30), 3) == (date(2027, 1, 5), False)
    assert add_working_days(cal, date(2027, 2, 5), 1) == (date(2027, 2, 6), False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "没有任何日期行"),
        ("date,type,name\n\n", "没有任何日期行"),
        ("date,type,name\n2027-02-08,rest\n", "第 2 行：应为“日期,类型,名称”三列，实际 2 列"),
        ("2027-02-08,rest,春节\n2027-02-30,rest,春节\n", "第 2 行：日期“2027-02-30”无效"),
        ("2027/02/08,rest,春节\n", "第 1 行：日期“2027/02/08”无效"),
        ("2027-02-08,holiday,春节\n", "第 1 行：类型“holiday”无效"),
        ("2027-02-08,rest,春节\n2028-01-03,rest,元旦\n", "第 2 行：2028-01-03 属于 2028 年，而第 1 行是 2027 年"),
        ("2027-02-08,rest,春节\n2027-02-09,rest,春节\n2027-02-08,rest,春节\n", "第 3 行：2027-02-08 与第 1 行重复"),
        ("2027-02-06,rest,春节\n", "第 1 行：2027-02-06 是星期六，本来就休息"),
        ("2027-02-08,work,\n", "第 1 行：2027-02-08 是星期一，本来就上班"),
        ("2027-02-08,rest,\n", "第 1 行：放假日期必须填写节日名称"),
    ],
)
def test_parse_schedule_file_errors(text, message):
    with pytest.raises(ValueError) as excinfo:
        parse_schedule_file(text)
    assert message in str(excinfo.value)
