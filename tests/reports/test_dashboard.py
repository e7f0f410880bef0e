"""Credit-office dashboard: SQL figures, server-rendered SVG charts, who may see it, CSV/XLSX exports."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.extensions import db
from app.models import CASE_TYPES, AuditEvent, Case, CreditRecord, HumanTask
from app.services import calendar, workdays
from app.services.reports import dashboard
from app.core import clock
from tests.support import factories
from tests.support.flows import deliver_letters, do_task, file_objection, open_order, overdue, run_timers_at, timer

UNIT = "曾都区住房和城乡建设局"  # applicant1's unit
# Monday 2026-12-07 10:00 Beijing time: intake review (due Tue 12-01) and rectification review (due Fri 12-04) are late.
LATER = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)


@pytest.fixture()
def cases(api, seeded):
    """An objection awaiting intake review, and a rectification order submitted on time, awaiting review."""
    order = open_order(api)
    objection = file_objection(api)
    do_task(api, "applicant1", order["id"], "submit_rectification", {"explanation": "说明。", "report": "整改报告。"})
    return objection, order


def test_figures_at_filing(cases):
    fig = dashboard.figures(date(2026, 11, 27))
    assert fig["open_by_type"] == {"registration": 0, "source_change": 0, "objection": 1, "rectification": 1, "repair": 0, "restoration": 0}
    assert set(fig["overdue_tasks_by_type"].values()) == {0}
    assert fig["units"] == [(UNIT, 2, 0)]
    assert fig["on_time"]["by_type"]["rectification"] == {"counted": 1, "on_time": 1, "rate": 100.0}
    assert fig["on_time"]["by_type"]["objection"] == {"counted": 0, "on_time": 0, "rate": None}
    # The demo's 24 registrations were reviewed and closed on the day they were reported.
    assert fig["on_time"]["by_type"]["registration"] == {"counted": 24, "on_time": 24, "rate": 100.0}
    assert fig["handling"]["cases"] == 24 and fig["handling"]["average_days"] == 0.0
    monthly = fig["monthly"]
    assert monthly["months"][0] == date(2025, 12, 1) and monthly["months"][-1] == date(2026, 11, 1)
    assert monthly["by_type"]["objection"] == [0] * 11 + [1]
    assert monthly["by_type"]["rectification"] == [0] * 11 + [1]
    assert monthly["by_type"]["repair"] == [0] * 12
    assert monthly["by_type"]["registration"] == [0] * 11 + [24]


def test_figures_after_the_clock_moves(api, cases):
    objection, order = cases
    clock.set_frozen(LATER)
    fig = dashboard.figures(date(2026, 12, 7))
    assert fig["overdue_tasks_by_type"] == {"registration": 0, "source_change": 0, "objection": 1, "rectification": 1, "repair": 0, "restoration": 0}
    assert fig["units"] == [(UNIT, 2, 2)]
    # Both open tasks are past their due instant: counted as late before anyone completes them.
    assert fig["on_time"]["by_type"]["objection"] == {"counted": 1, "on_time": 0, "rate": 0.0}
    assert fig["on_time"]["by_type"]["rectification"] == {"counted": 2, "on_time": 1, "rate": 50.0}
    # November is now the second-last month of the window.
    assert fig["monthly"]["months"][-1] == date(2026, 12, 1) and fig["monthly"]["by_type"]["objection"][-2:] == [1, 0]

    do_task(api, "intake1", order["id"], "review_rectification", {"review": "accept", "opinion": "整改到位。"})
    do_task(api, "intake1", objection["id"], "intake_review", {"intake_choice": "accept"})
    fig = dashboard.figures(date(2026, 12, 7))
    assert fig["open_by_type"]["rectification"] == 0 and fig["open_by_type"]["objection"] == 1
    assert fig["overdue_tasks_by_type"]["objection"] == 0  # the verification task that follows is not late yet
    assert fig["on_time"]["by_type"]["objection"] == {"counted": 1, "on_time": 0, "rate": 0.0}
    assert fig["on_time"]["by_type"]["rectification"] == {"counted": 2, "on_time": 1, "rate": 50.0}
    assert fig["on_time"]["overall"] == {"counted": 27, "on_time": 25, "rate": 92.6}  # with the 24 registrations
    # Filed Friday 11-27, closed Monday 12-07: Mon 11-30 to Fri 12-04 and Mon 12-07 are six working days.
    closed = db.session.get(Case, order["id"])
    counted = workdays.working_days_between(calendar.load_calendar(), clock.local_date(closed.submitted_at),
                                            clock.local_date(closed.closed_at))
    assert counted == 6 and fig["handling"]["cases"] == 25  # and the demo's 24 registrations, closed in 0 days
    assert fig["handling"]["average_days"] == round(counted / 25, 1)


def test_a_missed_rectification_deadline_is_late(api, seeded):
    """整改期满 ends the unit's task by its timer: a deadline missed, never left out of the rate."""
    order = open_order(api)
    overdue(api, order["id"])
    fig = dashboard.figures(clock.local_today())
    # The late submission and the 陈述申辩 that follow are open and not yet due: not counted.
    assert fig["on_time"]["by_type"]["rectification"] == {"counted": 1, "on_time": 0, "rate": 0.0}
    assert fig["on_time"]["overall"] == {"counted": 25, "on_time": 24, "rate": 96.0}  # and the 24 registrations


def test_a_lapsed_statement_is_not_counted(api, seeded):
    """陈述申辩 is the unit's right: its window passing unused is neither on time nor late; the missed report stays late."""
    order = open_order(api)
    overdue(api, order["id"])
    deliver_letters(order["id"])
    run_timers_at(timer(order["id"], "statement_window").fire_at + timedelta(seconds=1))
    lapsed = db.session.scalars(select(HumanTask).where(HumanTask.case_id == order["id"],
                                                        HumanTask.bpmn_id == "state_case")).one()
    assert lapsed.status == "cancelled" and lapsed.completed_at >= lapsed.due_at
    fig = dashboard.figures(clock.local_today())
    assert fig["on_time"]["by_type"]["rectification"] == {"counted": 1, "on_time": 0, "rate": 0.0}


def test_a_cancelled_task_counts_only_when_it_ended_past_due(api, seeded):
    """Ended at its due instant (a deadline timer): late; ended a second before (the case went another way): left out."""
    order = db.session.get(Case, open_order(api)["id"])
    for seconds in (0, -1):
        row = factories.task(order, "applicant")
        row.status, row.completed_at = "cancelled", row.due_at + timedelta(seconds=seconds)
    db.session.commit()
    # The unit's open rectification task (not yet due) is not counted either.
    assert dashboard.figures(clock.local_today())["on_time"]["by_type"]["rectification"] == {
        "counted": 1, "on_time": 0, "rate": 0.0}


def test_office_staff_see_charts_with_numbers(web, cases):
    for username in ("intake1", "approver1"):
        response = web(username).get("/dashboard/")
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert page.count("<svg") == 5 + len(CASE_TYPES) and "<script" not in page and "style=" not in page
        assert '<title id="chart-open-title">在办件数（按办件类型）</title>' in page
        assert "认定登记：0 件；认定变更：0 件；异议处理：1 件；限期整改：1 件；信用修复：0 件；荣誉评选资格恢复：0 件。" in page
        assert ">1 件</text>" in page and f"{UNIT}" in page
        assert ">100.0%（1 / 1 项按期）</text>" in page and ">100.0%（24 / 24 项按期）</text>" in page
        assert page.count("<summary>查看数据</summary>") == 6


@pytest.mark.parametrize("username", ["applicant1", "verifier1", "admin1"])
def test_others_get_404(web, seeded, username):
    client = web(username)
    for path in ("/dashboard/", "/dashboard/cases.csv", "/dashboard/figures.xlsx"):
        assert client.get(path).status_code == 404


def test_anonymous_is_sent_to_login(web, seeded):
    response = web().get("/dashboard/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def formula_in_doc_no(case: dict, formula: str) -> None:
    """Give the case's record a document number a spreadsheet would run as a formula (an export must not)."""
    db.session.get(CreditRecord, case["record_id"]).basis_doc_no = formula
    db.session.commit()


def test_case_csv_export(web, cases):
    objection, order = cases
    formula_in_doc_no(objection, "=HYPERLINK(\"http://x\")")
    response = web("intake1").get("/dashboard/cases.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"cases-20261127.csv\"; "
        "filename*=UTF-8''%E5%8A%9E%E4%BB%B6%E6%B8%85%E5%8D%95-20261127.csv")
    body = response.data
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == ",".join(str(h) for h in dashboard.CASE_HEADER)
    assert objection["number"] in text and order["number"] in text
    assert "'=HYPERLINK(\"\"http://x\"\")" in text and ",=HYPERLINK" not in text
    assert "办理中" in text and "异议处理" in text

    only = web("intake1").get("/dashboard/cases.csv?type=rectification&submitted_from=2026-11-27&status=bogus")
    assert order["number"] in only.get_data(as_text=True) and objection["number"] not in only.get_data(as_text=True)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "dashboard.export")).all()
    assert [e.details for e in events] == [
        {"what": "cases", "format": "csv", "filters": {}},
        {"what": "cases", "format": "csv", "filters": {"type": "rectification", "submitted_from": "2026-11-27"}},
    ]


def test_case_xlsx_export(web, cases):
    objection, _ = cases
    formula_in_doc_no(objection, "=1+2")
    response = web("approver1").get("/dashboard/cases.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="cases-20261127.xlsx"' in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [str(h) for h in dashboard.CASE_HEADER]
    numbers = {row[0] for row in rows[1:]}
    assert {objection["number"], cases[1]["number"]} <= numbers
    assert numbers - {objection["number"], cases[1]["number"]} == set(db.session.scalars(
        select(Case.number).where(Case.type == "registration")))  # and the demo's registrations
    formula_cells = [c for row in sheet.iter_rows() for c in row if c.value == "=1+2"]
    assert formula_cells and all(c.data_type == "s" for c in formula_cells)  # kept as text, never run
    assert db.session.scalar(select(AuditEvent.details).where(AuditEvent.action == "dashboard.export")) == {
        "what": "cases", "format": "xlsx", "filters": {}}


def test_figures_exports(web, cases):
    client = web("intake1")
    csv_response = client.get("/dashboard/figures.csv")
    text = csv_response.data.decode("utf-8")
    assert text.startswith("\ufeff在办件数（按办件类型）")
    assert "异议处理,1" in text and "每月提交件数（近12个月）" in text and "2026-11,24,0,1,1,0,0,26" in text
    book = load_workbook(io.BytesIO(client.get("/dashboard/figures.xlsx").data))
    assert book.sheetnames == [t.title for t in dashboard.figure_tables(dashboard.figures(date(2026, 11, 27))).values()]
    assert [c.value for c in book["任务按期办结率"][1]] == ["办件类型", "计入任务数", "按期办结任务数", "按期办结率（%）"]
    formats = db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "dashboard.export")
                              .order_by(AuditEvent.id)).all()
    assert formats == [{"what": "figures", "format": "csv"}, {"what": "figures", "format": "xlsx"}]


def _brute_handling(since) -> dict:
    """Average working days over closed cases, case by case as workdays.working_days_between counts them."""
    from app.core.clock import local_date

    cal = calendar.load_calendar()
    spans = [workdays.working_days_between(cal, local_date(c.submitted_at), local_date(c.closed_at))
             for c in db.session.scalars(select(Case)) if c.status == "closed" and c.submitted_at is not None
             and c.closed_at >= since]
    return {"cases": len(spans), "average_days": round(sum(spans) / len(spans), 1) if spans else None}


def test_handling_time_counted_by_day_equals_case_by_case(seeded, monkeypatch):
    """Closing and submission days counted by the database give the case-by-case average; the local date, not the
    UTC one, decides the day (23:30 and 00:30 Beijing time either side of midnight), and cases closed before the
    window, not closed, or closed as rejected are left out."""
    from app.core.clock import local_instant

    record = db.session.scalars(select(CreditRecord)).first()
    utc = timezone.utc
    # (submitted, closed, status): Friday 2026-11-20 23:30 Beijing = 15:30 UTC; Monday 00:30 Beijing = Sunday 16:30 UTC.
    shapes = [(datetime(2026, 11, 20, 15, 30, tzinfo=utc), datetime(2026, 11, 22, 16, 30, tzinfo=utc), "closed"),
              (datetime(2026, 11, 20, 16, 30, tzinfo=utc), datetime(2026, 11, 23, 15, 30, tzinfo=utc), "closed"),
              (datetime(2025, 6, 3, 2, 0, tzinfo=utc), datetime(2026, 1, 5, 2, 0, tzinfo=utc), "closed"),
              (datetime(2026, 11, 2, 2, 0, tzinfo=utc), datetime(2026, 11, 12, 2, 0, tzinfo=utc), "rejected"),
              (datetime(2026, 11, 2, 2, 0, tzinfo=utc), None, "in_progress"),
              (datetime(2024, 1, 2, 2, 0, tzinfo=utc), datetime(2024, 3, 2, 2, 0, tzinfo=utc), "closed")]
    shapes += [shapes[0]] * 9  # enough of the midnight case that a UTC day would move the rounded average
    for submitted, closed, status in shapes:
        case = factories.case(record, status=status)
        case.submitted_at, case.closed_at = submitted, closed
    db.session.commit()
    since = local_instant(dashboard._month_starts(date(2026, 11, 27))[0])
    expected = _brute_handling(since)
    assert expected["cases"] >= 3
    assert dashboard._handling(since) == expected
    monkeypatch.setattr(dashboard, "_local_day", lambda column: None)  # a zone with daylight saving on SQLite
    assert dashboard._handling(since) == expected


OPEN_OBJECTIONS = "异议处理：{n} 件"


@pytest.fixture()
def held(app, monkeypatch):
    """The page reusing its figures for 60 s, as in production; nothing held before or after the test. Counts the
    computations (dashboard.figures calls)."""
    monkeypatch.setitem(app.config, "DASHBOARD_FIGURES_MAX_AGE", 60)
    dashboard.forget_recent()
    computed = []
    real = dashboard.figures
    monkeypatch.setattr(dashboard, "figures", lambda today: computed.append(today) or real(today))
    yield computed
    dashboard.forget_recent()


def test_the_page_reuses_its_figures_for_their_max_age_only(web, cases, held):
    objection, _order = cases
    client = web("intake1")

    def page() -> str:
        response = client.get("/dashboard/")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    start = clock.now()
    assert OPEN_OBJECTIONS.format(n=1) in page() and len(held) == 1
    closed = db.session.get(Case, objection["id"])
    closed.status, closed.closed_at = "closed", start
    db.session.commit()
    clock.set_frozen(start + timedelta(seconds=60))
    body = page()
    assert len(held) == 1 and OPEN_OBJECTIONS.format(n=1) in body  # held: as of their time, which the page says
    assert f"数据截至 {clock.local_text(start)}" in body
    clock.set_frozen(start + timedelta(seconds=61))
    assert OPEN_OBJECTIONS.format(n=0) in page() and len(held) == 2  # older than 60 s: computed again
    clock.set_frozen(start)  # a training clock moved back: figures "from the future" are not reused
    page()
    assert len(held) == 3


def test_figures_for_another_day_or_another_setting_are_computed(cases, held):
    today = clock.local_today()
    first = dashboard.recent_figures(today, 60)
    assert dashboard.recent_figures(today, 60) is first and len(held) == 1
    assert dashboard.recent_figures(today + timedelta(days=1), 60) is not first and len(held) == 2
    dashboard.recent_figures(today, 0)
    dashboard.recent_figures(today, 0)
    assert len(held) == 4  # 0: every time
    assert dashboard.recent_figures(today, 60) is not first and len(held) == 5  # one day's figures are held at a time


def test_the_page_shows_the_workers_snapshot_without_computing(web, cases, held):
    objection, _order = cases
    start = clock.now()
    assert dashboard.refresh_snapshot(clock.local_today(), 60) and len(held) == 1  # the worker's computation
    closed = db.session.get(Case, objection["id"])
    closed.status, closed.closed_at = "closed", start
    db.session.commit()
    clock.set_frozen(start + timedelta(seconds=170))
    client = web("intake1")
    body = client.get("/dashboard/").get_data(as_text=True)
    assert len(held) == 1 and OPEN_OBJECTIONS.format(n=1) in body  # read, not computed: as of the snapshot
    assert f"数据截至 {clock.local_text(start)}" in body
    clock.set_frozen(start + timedelta(seconds=181))  # older than 3 × 60 s: no worker keeps it fresh
    assert OPEN_OBJECTIONS.format(n=0) in client.get("/dashboard/").get_data(as_text=True) and len(held) == 2


def test_the_worker_refreshes_the_snapshot_only_when_it_is_due(cases, held):
    today, start = clock.local_today(), clock.now()
    assert dashboard.refresh_snapshot(today, 60) and len(held) == 1
    clock.set_frozen(start + timedelta(seconds=30))
    assert not dashboard.refresh_snapshot(today, 60) and len(held) == 1  # another worker's, 30 s old: kept
    clock.set_frozen(start + timedelta(seconds=60))
    assert dashboard.refresh_snapshot(today, 60) and len(held) == 2
    assert dashboard.stored_snapshot(today)["at"] == start + timedelta(seconds=60)
    assert dashboard.stored_snapshot(today + timedelta(days=1)) is None  # another day's figures are not today's
    clock.set_frozen(start + timedelta(days=1))
    assert dashboard.shown_figures(today + timedelta(days=1), 60)["at"] == start + timedelta(days=1)  # computed
    assert len(held) == 3


def test_a_snapshot_reads_back_as_the_figures_it_stored(cases):
    today = clock.local_today()
    fig = dashboard.figures(today)
    dashboard.refresh_snapshot(today, 60)
    stored = dashboard.stored_snapshot(today)
    assert stored == {**fig, "at": stored["at"]} and stored["at"] == fig["at"]
    assert isinstance(stored["handling"]["since"], date) and isinstance(stored["monthly"]["months"][0], date)
    assert all(isinstance(row, tuple) for row in stored["units"]) and stored["units"] == [(UNIT, 2, 0)]


def test_an_unreadable_snapshot_is_computed_instead(cases, held):
    from app.models import AppSetting

    db.session.add(AppSetting(key=dashboard.SNAPSHOT_KEY, value="{not json"))
    db.session.commit()
    assert dashboard.stored_snapshot(clock.local_today()) is None
    assert dashboard.shown_figures(clock.local_today(), 60)["open_by_type"]["objection"] == 1 and len(held) == 1


@pytest.mark.sqlite
def test_the_worker_aggregates_in_a_read_transaction_on_sqlite(cases, monkeypatch):
    """SQLite: the aggregation holds no write lock (the web's writers would wait for it); the store is short."""
    from app.core import write_intent

    seen = []
    real = dashboard.figures
    monkeypatch.setattr(dashboard, "figures", lambda today: seen.append(write_intent.in_deferred_transaction())
                        or real(today))
    assert dashboard.refresh_snapshot(clock.local_today(), 60)
    assert seen == [True] and write_intent.begin_mode() == write_intent.IMMEDIATE


def test_the_worker_leaves_the_snapshot_alone_when_the_page_computes_its_own(app, cases, monkeypatch):
    from app.services import worker

    monkeypatch.setitem(app.config, "DASHBOARD_FIGURES_MAX_AGE", 0)
    assert worker.dashboard_snapshot_once() is False
    assert dashboard.stored_snapshot(clock.local_today()) is None
    monkeypatch.setitem(app.config, "DASHBOARD_FIGURES_MAX_AGE", 60)
    assert worker.dashboard_snapshot_once() is True
    assert dashboard.stored_snapshot(clock.local_today()) is not None


def test_the_worker_command_stores_the_snapshot_at_its_first_sweep(app, cases, monkeypatch):
    monkeypatch.setitem(app.config, "DASHBOARD_FIGURES_MAX_AGE", 60)
    assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
    stored = dashboard.stored_snapshot(clock.local_today())
    assert stored is not None and stored["open_by_type"]["objection"] == 1
