"""Credit-office dashboard: case and task figures by SQL aggregation, and the case-list export's rows."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case as when
from sqlalchemy import Date, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.clock import local_date, local_instant, local_text, local_tz, now
from app.extensions import db
from app.models import CASE_OPEN, CASE_STATUSES, CASE_TYPES, AppSetting, Case, CreditRecord, HumanTask, Unit
from app.services import calendar
from app.services.reports.exports import Table

# Cases still being worked: submitted and neither closed, rejected nor withdrawn.
MONTHS = 12
TOP_UNITS = 20
CASE_HEADER = [_l("受理编号"), _l("办件类型"), _l("办件状态"), _l("申请单位"), _l("认定文书号"), _l("提交时间"),
               _l("办结时间"), _l("办理结果"), _l("当前环节")]
# Statuses the export can be narrowed to: drafts are the applicant's own, not yet the office's.
EXPORT_STATUSES = {code: label for code, label in CASE_STATUSES.items() if code != "draft"}


@dataclass(frozen=True)
class CaseFilters:
    """What the case-list export is narrowed to; unknown or malformed values are ignored."""

    type: str | None = None
    status: str | None = None
    submitted_from: date | None = None
    submitted_to: date | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> CaseFilters:
        """Read the filters from query-string values."""
        return cls(
            type=args.get("type") if args.get("type") in CASE_TYPES else None,
            status=args.get("status") if args.get("status") in EXPORT_STATUSES else None,
            submitted_from=_parse_date(args.get("submitted_from")),
            submitted_to=_parse_date(args.get("submitted_to")),
        )

    def as_dict(self) -> dict:
        """The filters that are set, as plain text for the audit log."""
        return {key: str(value) for key, value in asdict(self).items() if value is not None}


def _parse_date(text: str | None) -> date | None:
    try:
        day = date.fromisoformat(text) if text else None
    except ValueError:
        return None
    # Dates near year 1 or 9999 overflow once turned into zoned instants: ignored like malformed ones.
    return day if day is None or 1900 <= day.year <= 2999 else None


def _month_starts(today: date) -> list[date]:
    """First days of the last 12 months up to today's month, then of the month after (13 dates)."""
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - MONTHS + 1, index + 2)]


def _by_type(rows) -> dict[str, int]:
    """Counts keyed by every case type in CASE_TYPES order, zero where the query found none."""
    found = dict(rows)
    return {code: found.get(code, 0) for code in CASE_TYPES}


def _rate(on_time: int, counted: int) -> dict:
    return {"counted": counted, "on_time": on_time,
            "rate": round(100 * on_time / counted, 1) if counted else None}


def _open_by_type() -> dict[str, int]:
    return _by_type(db.session.execute(
        select(Case.type, func.count()).where(Case.status.in_(CASE_OPEN)).group_by(Case.type)).all())


def _overdue_condition(at: datetime):
    return (HumanTask.status == "open") & (HumanTask.due_at < at)


def _overdue_tasks_by_type(at: datetime) -> dict[str, int]:
    # The task carries its case's type: no join, ix_human_task_status_due_figures answers alone.
    return _by_type(db.session.execute(
        select(HumanTask.case_type, func.count()).where(_overdue_condition(at)).group_by(HumanTask.case_type)).all())


def _units(at: datetime) -> list[tuple[str, int, int]]:
    """(unit name, open cases, open cases with an overdue task), the 20 units with most open cases."""
    open_cases = Case.status.in_(CASE_OPEN)
    # Grouped on an expression, not the bare column: SQLite would otherwise walk the whole unit index (to skip a
    # sort) and read every case row, instead of the open cases' entries of ix_case_status_unit_type alone.
    unit = Case.applicant_unit_id + literal_column("0")
    # Each count is grouped by unit before the join: 20 units are named, not 100,000 cases.
    opened = select(unit.label("unit_id"), func.count().label("n")).where(open_cases).group_by(unit).subquery()
    late = (select(Case.applicant_unit_id.label("unit_id"), func.count().label("n"))
            .where(open_cases, Case.id.in_(select(HumanTask.case_id).where(_overdue_condition(at))))
            .group_by(Case.applicant_unit_id).subquery())
    rows = db.session.execute(
        select(Unit.name, opened.c.n, func.coalesce(late.c.n, 0))
        .select_from(opened).join(Unit, Unit.id == opened.c.unit_id).outerjoin(late, late.c.unit_id == opened.c.unit_id)
        .order_by(opened.c.n.desc(), Unit.name).limit(TOP_UNITS)).all()
    return [tuple(row) for row in rows]


def _optional_step():
    """The applicant's own right or option (陈述申辩, 补正): letting its deadline pass is nobody's lateness."""
    return (((HumanTask.case_type == "rectification") & (HumanTask.bpmn_id == "state_case"))
            | HumanTask.bpmn_id.contains("supplement") | HumanTask.form_key.contains("supplement"))


def _on_time(at: datetime) -> dict:
    """Tasks with a time limit whose outcome is known, and how many were done by their due instant.

    Counted: a task completed (on time when completed at or before its due instant); a task still open past its due
    instant; a task ended at or after its due instant without being completed (a deadline timer such as 整改期满 ended
    it: the deadline was missed). Not counted: an open task not yet due, a task cancelled before its due instant
    (its case went another way, nobody missed anything), and an applicant's 陈述申辩 or 补正 left open or ended past its
    deadline (using the right or not is the applicant's choice, not the office's or the unit's lateness).
    """
    # Two queries whose rows add up: completed tasks (most of them, read from ix_human_task_status_due_figures
    # alone), and the lapsed ones (few), the only ones whose step (bpmn_id, form_key, not in the index) matters.
    on_time = func.sum(when((HumanTask.completed_at <= HumanTask.due_at, 1), else_=0))
    completed = db.session.execute(
        select(HumanTask.case_type, func.count(), on_time)
        .where(HumanTask.status == "completed", HumanTask.due_at.is_not(None)).group_by(HumanTask.case_type)).all()
    lapsed = db.session.execute(
        select(HumanTask.case_type, func.count())
        .where(HumanTask.due_at.is_not(None), ~_optional_step(),
               ((HumanTask.status == "cancelled") & (HumanTask.completed_at >= HumanTask.due_at))
               | _overdue_condition(at))
        .group_by(HumanTask.case_type)).all()
    found: dict[str, tuple[int, int]] = {}
    for code, total, done in completed:
        found[code] = (int(done or 0), total)
    for code, total in lapsed:
        done, counted = found.get(code, (0, 0))
        found[code] = (done, counted + total)
    by_type = {code: _rate(*found.get(code, (0, 0))) for code in CASE_TYPES}
    overall = _rate(sum(r["on_time"] for r in by_type.values()), sum(r["counted"] for r in by_type.values()))
    return {"overall": overall, "by_type": by_type}


def _handling(since: datetime) -> dict:
    """Average working days from submission to closing, over cases closed since the given instant.

    Working days in (start, end] are a difference of running totals, as workdays.working_days_between counts them,
    so the sum over all cases is the sum of the closing days' totals less that of the submission days': the
    database counts the cases per local closing day and per local submission day (a few hundred rows, whatever
    the number of cases) and only the days are walked here."""
    closed = (Case.status == "closed", Case.submitted_at.is_not(None), Case.closed_at >= since)
    per_day = {}
    for key, column in (("end", Case.closed_at), ("start", Case.submitted_at)):
        day = _local_day(column)
        if day is None:  # a zone whose offset changes, on SQLite: the days are taken in Python
            return _handling_in_python(closed)
        per_day[key] = [(_as_date(d), n) for d, n in db.session.execute(
            select(day.label("day"), func.count()).where(*closed).group_by(literal_column("day"))).all()]
    cases = sum(n for _day, n in per_day["end"])
    if not cases:
        return {"cases": 0, "average_days": None}
    running = _running_workdays([d for d, _n in per_day["start"]] + [d for d, _n in per_day["end"]])
    days = sum(running[d] * n for d, n in per_day["end"]) - sum(running[d] * n for d, n in per_day["start"])
    return {"cases": cases, "average_days": round(days / cases, 1)}


def _handling_in_python(closed: tuple) -> dict:
    spans = [(local_date(submitted), local_date(closed_at)) for submitted, closed_at in
             db.session.execute(select(Case.submitted_at, Case.closed_at).where(*closed)).all()]
    if not spans:
        return {"cases": 0, "average_days": None}
    running = _running_workdays([day for pair in spans for day in pair])
    days = sum(running[end] - running[start] for start, end in spans)
    return {"cases": len(spans), "average_days": round(days / len(spans), 1)}


def _running_workdays(days: list[date]) -> dict[date, int]:
    """For each day from the earliest to the latest given, the number of working days up to it."""
    cal = calendar.load_calendar()
    first = min(days)
    running, total = {}, 0
    for offset in range((max(days) - first).days + 1):
        day = first + timedelta(days=offset)
        total += cal.is_workday(day)
        running[day] = total
    return running


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _local_day(column):
    """SQL for the local calendar date of a UTC instant column; None where SQLite cannot say it exactly.

    PostgreSQL converts with the zone's own rules. SQLite knows no zones: a fixed offset is added, which is exact
    for a zone without daylight saving (the configured TIMEZONE, Beijing time); for another zone, None (the
    caller works in Python)."""
    zone = local_tz()
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(zone.key, column), Date)
    year = now().year
    offsets = {datetime(y, m, 1, tzinfo=zone).utcoffset() for y in range(year - 10, year + 2) for m in (1, 7)}
    if len(offsets) != 1:
        return None
    minutes = int(offsets.pop().total_seconds() // 60)
    return func.date(column, f"{minutes:+d} minutes")


def _monthly(starts: list[date]) -> dict[str, list[int]]:
    """Cases submitted in each of the months beginning at starts[:-1] (Beijing time), by type."""
    bounds = [local_instant(day) for day in starts]
    bucket = when(*((Case.submitted_at < bound, i) for i, bound in enumerate(bounds[1:]))).label("bucket")
    # Group on the subquery's column: PostgreSQL will not match a CASE with bound parameters to its GROUP BY copy.
    submitted = (select(Case.type, bucket)
                 .where(Case.submitted_at >= bounds[0], Case.submitted_at < bounds[-1]).subquery())
    counts = {(code, i): n for code, i, n in db.session.execute(
        select(submitted.c.type, submitted.c.bucket, func.count())
        .group_by(submitted.c.type, submitted.c.bucket)).all()}
    return {code: [counts.get((code, i), 0) for i in range(MONTHS)] for code in CASE_TYPES}


def figures(today: date) -> dict:
    """All dashboard figures as of the app clock; the 12-month window ends with today's month."""
    at = now()
    starts = _month_starts(today)
    return {
        "at": at,
        "open_by_type": _open_by_type(),
        "overdue_tasks_by_type": _overdue_tasks_by_type(at),
        "units": _units(at),
        "on_time": _on_time(at),
        "handling": {**_handling(local_instant(starts[0])), "since": starts[0]},
        "monthly": {"months": starts[:-1], "by_type": _monthly(starts)},
    }


# The figures aggregate every case and task: 100–200 ms at 100,000 cases, whatever the indexes. The worker computes
# them every max_age seconds into app_setting (refresh_snapshot) and the page reads that one row (shown_figures);
# without a worker keeping it fresh, the page computes them, at most once per max_age seconds per process
# (recent_figures). Either way the page says as of when ("数据截至").
SNAPSHOT_KEY = "dashboard.figures"
# A snapshot older than this many times max_age means no worker keeps it fresh: the page computes its own.
SNAPSHOT_TRUSTED_AGES = 3
_recent: dict[str, tuple[date, dict]] = {}  # database URL -> (the local date they were for, the figures)


def _young(fig: dict, seconds: float) -> bool:
    """Computed at most `seconds` ago by the app clock (not "in the future": a training clock moved back)."""
    return timedelta(0) <= now() - fig["at"] <= timedelta(seconds=seconds)


def shown_figures(today: date, max_age: int) -> dict:
    """The figures the page shows: the worker's snapshot while it is fresh (one primary-key read), else this
    process's own (recent_figures); 0: computed every time, no snapshot read."""
    if max_age <= 0:
        return figures(today)
    snapshot = stored_snapshot(today)
    if snapshot is not None and _young(snapshot, SNAPSHOT_TRUSTED_AGES * max_age):
        return snapshot
    return recent_figures(today, max_age)


def refresh_snapshot(today: date, max_age: int) -> bool:
    """The worker's part: compute the figures and store them unless the stored ones are for today and younger than
    max_age (another worker's). SQLite: computed in a read transaction, stored in a short write one, so the web's
    writers never wait for the aggregation. Commits; True when it stored new figures."""
    from app.core import write_intent

    token = write_intent.set_mode(write_intent.DEFERRED)
    try:
        db.session.rollback()  # what follows begins as a read
        held = stored_snapshot(today)
        if held is not None and _young(held, max_age - 1):  # a second's leeway for the worker's own schedule
            db.session.rollback()
            return False
        fig = figures(today)
        write_intent.writing()  # SQLite: end the read; the upsert begins IMMEDIATE
    finally:
        write_intent.reset(token)
    value = json.dumps({"day": today.isoformat(), "figures": _to_json(fig)}, ensure_ascii=False,
                       separators=(",", ":"))
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(AppSetting).values(key=SNAPSHOT_KEY, value=value)
                       .on_conflict_do_update(index_elements=[AppSetting.key], set_={"value": value}))
    db.session.commit()
    return True


def stored_snapshot(today: date) -> dict | None:
    """The stored figures when they are today's (local date), else None."""
    value = db.session.scalar(select(AppSetting.value).where(AppSetting.key == SNAPSHOT_KEY))
    if not value:
        return None
    try:
        data = json.loads(value)
        if data.get("day") != today.isoformat():
            return None
        return _from_json(data["figures"])
    except (ValueError, KeyError, TypeError):  # unreadable (an older format): the page computes its own
        return None


def _to_json(fig: dict) -> dict:
    return {**fig, "at": fig["at"].isoformat(),
            "handling": {**fig["handling"], "since": fig["handling"]["since"].isoformat()},
            "monthly": {**fig["monthly"], "months": [day.isoformat() for day in fig["monthly"]["months"]]},
            "units": [list(row) for row in fig["units"]]}


def _from_json(data: dict) -> dict:
    return {**data, "at": datetime.fromisoformat(data["at"]),
            "handling": {**data["handling"], "since": date.fromisoformat(data["handling"]["since"])},
            "monthly": {**data["monthly"], "months": [date.fromisoformat(day) for day in data["monthly"]["months"]]},
            "units": [tuple(row) for row in data["units"]]}


def recent_figures(today: date, max_age: int) -> dict:
    """figures(today), or this process's last ones when they are for the same date and at most max_age seconds
    old by the app clock (a training clock moved either way, or a new day, computes them again); 0: always new."""
    if max_age <= 0:
        return figures(today)
    key = str(db.engine.url)
    held = _recent.get(key)
    if held is not None and held[0] == today and timedelta(0) <= now() - held[1]["at"] <= timedelta(seconds=max_age):
        return held[1]
    fig = figures(today)
    _recent[key] = (today, fig)
    return fig


def forget_recent() -> None:
    """Drop the figures held by this process (the next page computes them)."""
    _recent.clear()


def figure_tables(fig: dict) -> dict[str, Table]:
    """The figures as titled tables, keyed like figures(); the page's data tables and the exports."""
    labels = {code: str(label) for code, label in CASE_TYPES.items()}
    on_time = fig["on_time"]
    rate_rows = [(labels[code], r["counted"], r["on_time"], r["rate"]) for code, r in on_time["by_type"].items()]
    overall = on_time["overall"]
    monthly = fig["monthly"]
    month_rows = []
    for i, month in enumerate(monthly["months"]):
        counts = [monthly["by_type"][code][i] for code in labels]
        month_rows.append((f"{month.year}-{month.month:02d}", *counts, sum(counts)))
    handling = fig["handling"]
    return {
        "open_by_type": Table(_("在办件数（按办件类型）"), [_("办件类型"), _("在办件数")],
                              [(labels[code], n) for code, n in fig["open_by_type"].items()]),
        "overdue_tasks_by_type": Table(_("超期未办任务（按办件类型）"), [_("办件类型"), _("超期未办任务数")],
                                       [(labels[code], n) for code, n in fig["overdue_tasks_by_type"].items()]),
        "units": Table(_("在办与超期件数（按申请单位，前%(n)s位）", n=TOP_UNITS), [_("申请单位"), _("在办件数"), _("其中有超期任务的件数")],
                       fig["units"]),
        "on_time": Table(_("任务按期办结率"), [_("办件类型"), _("计入任务数"), _("按期办结任务数"), _("按期办结率（%）")],
                         [*rate_rows, (_("合计"), overall["counted"], overall["on_time"], overall["rate"])]),
        "handling": Table(_("平均办理时长（近12个月办结）"), [_("统计起始日"), _("已办结件数"), _("平均办理时长（工作日）")],
                          [(handling["since"].isoformat(), handling["cases"], handling["average_days"])]),
        "monthly": Table(_("每月提交件数（近12个月）"), [_("月份"), *labels.values(), _("合计")], month_rows),
    }


def case_rows(filters: CaseFilters) -> Iterable[tuple]:
    """Rows of the case-list export (CASE_HEADER order), newest submission first; drafts are left out."""
    query = (
        select(Case.number, Case.type, Case.status, Unit.name, CreditRecord.basis_doc_no, Case.submitted_at,
               Case.closed_at, Case.outcome, Case.current_step)
        .join(Unit, Unit.id == Case.applicant_unit_id).join(CreditRecord, CreditRecord.id == Case.record_id)
        .where(Case.status != "draft").order_by(Case.submitted_at.desc(), Case.id.desc())
    )
    if filters.type:
        query = query.where(Case.type == filters.type)
    if filters.status:
        query = query.where(Case.status == filters.status)
    if filters.submitted_from:
        query = query.where(Case.submitted_at >= local_instant(filters.submitted_from))
    if filters.submitted_to:
        query = query.where(Case.submitted_at < local_instant(filters.submitted_to + timedelta(days=1)))
    # A streamed export may stop early (the client goes away): the server-side cursor is closed then too.
    result = db.session.execute(query.execution_options(yield_per=1000))
    try:
        for number, type_, status, unit, doc_no, submitted, closed, outcome, step in result:
            yield (number or "", str(CASE_TYPES[type_]), str(CASE_STATUSES[status]), unit, doc_no,
                   local_text(submitted), local_text(closed), outcome or "", step)
    finally:
        result.close()
