"""Keyset pages and business filters over the facts copied onto human_task (issue 15, points 4 and 5).

The tasks are factory rows on factory cases (queues read only human_task), so each test builds exactly the queue it
reasons about: ties on due_at, tasks without a due instant, and every combination of unit, category, severity,
process and due band on every tab.
"""
from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text

from app.core.clock import now
from app.extensions import db
from app.models import Case, HumanTask
from app.services.inbox import facts, queries as tasks
from tests.support import factories


def _intake_task(case: Case, due_at, *, assignee=None, done_by=None) -> HumanTask:
    row = factories.task(case, "intake")
    row.due_at = due_at
    row.assignee_id = assignee.id if assignee else None
    if done_by is not None:
        row.status, row.completed_at, row.completed_by_id = "completed", due_at or now(), done_by.id
    db.session.flush()
    return row


def _walk(fetch) -> list[str]:
    """Every id of a queue, page by page, following the cursors to the end."""
    seen, after = [], None
    for _ in range(100):
        ids, after = fetch(after)
        seen.extend(ids)
        if after is None:
            return seen
    raise AssertionError("the cursors never ended")


def test_keyset_pages_return_every_task_once_with_ties_and_undated_tasks(staff, api):
    intake = staff["intake1"]
    case = factories.case(factories.record(staff["applicant1"].unit, staff["verifier1"].unit))
    stamps = [now() + timedelta(days=d) for d in (1, 2, 3)] + [None]
    made = [_intake_task(case, stamp) for stamp in stamps for _ in range(6)]  # six tasks share each due instant
    db.session.commit()
    dated = sorted((t for t in made if t.due_at), key=lambda t: (t.due_at, t.id))
    expected = [t.id for t in dated] + sorted(t.id for t in made if t.due_at is None)  # undated last, by id

    def service(after):
        page = tasks.task_page(intake, "group", after=after, limit=5)
        return [t.id for t in page.rows], page.next_after

    def inbox(after):
        page = tasks.inbox_page(intake, "group", after=after, limit=5)
        return [r.id for r in page.rows], page.next_after

    client = api("intake1")

    def over_api(after):
        body = client.get("/api/v1/tasks", query_string={"scope": "group", **({"after": after} if after else {})})
        assert body.status_code == 200, body.get_json()
        return [item["id"] for item in body.get_json()["items"]], body.get_json()["next_after"]

    assert _walk(service) == expected
    assert _walk(inbox) == expected
    assert _walk(over_api) == expected  # 24 tasks, 50 a page: one page, no cursor
    assert over_api(None)[1] is None


def test_done_pages_return_every_task_once_with_ties(staff):
    intake = staff["intake1"]
    case = factories.case(factories.record(staff["applicant1"].unit, staff["verifier1"].unit))
    stamps = [now() - timedelta(days=d) for d in (1, 2)]
    made = [_intake_task(case, stamp, done_by=intake) for stamp in stamps for _ in range(7)]
    db.session.commit()
    expected = [t.id for t in sorted(made, key=lambda t: (t.completed_at, t.id), reverse=True)]

    def service(after):
        page = tasks.task_page(intake, "done", after=after, limit=4)
        return [t.id for t in page.rows], page.next_after

    assert _walk(service) == expected


# The queue of the filter tests: one case per combination of unit, category, severity and process; each case has an
# unclaimed, a claimed and a done task of intake1, due in one of the bands.
DUE = {"overdue": timedelta(hours=-30), "soon": timedelta(hours=30), "later": timedelta(days=40)}


@pytest.fixture()
def queue(staff):
    units = [staff["applicant1"].unit, staff["applicant2"].unit]
    intake = staff["intake1"]
    tasks_by_tab: dict[str, list[tuple[HumanTask, dict]]] = {tab: [] for tab in tasks.TABS}
    combinations = itertools.product(units, ("admin_penalty", "breach"), ("general", "serious"), ("objection", "repair"))
    for n, (unit, category, severity, process) in enumerate(combinations):
        record = factories.record(unit, staff["verifier1"].unit, category=category, severity=severity)
        case = factories.case(record, type=process)
        values = {"unit": str(unit.id), "category": category, "severity": severity, "process": process}
        for i, (tab, kind) in enumerate((("group", {}), ("mine", {"assignee": intake}), ("done", {"done_by": intake}))):
            band = list(DUE)[(n + i) % len(DUE)]  # every tab gets every band
            row = _intake_task(case, now() + DUE[band], **kind)
            tasks_by_tab[tab].append((row, {**values, "due": band}))
    db.session.commit()
    return tasks_by_tab


def _in_tab(tab: str, queue: dict) -> list[tuple[HumanTask, dict]]:
    """The tab's tasks by construction: open ones in mine/group, by band in due_soon/overdue."""
    open_rows = queue["group"] + queue["mine"]
    return {"mine": queue["mine"], "group": queue["group"], "done": queue["done"],
            "due_soon": [(t, v) for t, v in open_rows if v["due"] == "soon"],
            "overdue": [(t, v) for t, v in open_rows if v["due"] == "overdue"]}[tab]


FILTERS = [("unit", 0), ("category", "breach"), ("category", "admin_penalty"), ("severity", "serious"),
           ("severity", "general"), ("process", "repair"), ("process", "objection"), ("due", "overdue"),
           ("due", "soon"), ("due", "later")]


@pytest.mark.parametrize("tab", tasks.TABS)
def test_each_filter_picks_exactly_the_matching_tasks_on_each_tab(queue, staff, tab):
    intake = staff["intake1"]
    units = [str(staff["applicant1"].unit_id), str(staff["applicant2"].unit_id)]
    rows = _in_tab(tab, queue)
    for key, value in FILTERS + [("unit", 1)]:
        value = units[value] if key == "unit" else value
        if key == "due" and tab == "done":
            expected = {t.id for t, _v in rows}  # the 已办 tab is by completion: a due band does not narrow it
        else:
            expected = {t.id for t, v in rows if v[key] == value}
        got = {t.id for t in tasks.task_page(intake, tab, filters={key: value}, limit=1000).rows}
        assert got == expected, (tab, key, value)
        assert tasks.count_tasks(intake, tab, {key: value}) == len(expected), (tab, key, value)
        if key != "due" or tab in ("mine", "group"):  # the other tabs are due bands (or completion) themselves
            assert expected and len(expected) < len(rows), (tab, key, value)  # the filter kept some, dropped some


def test_combined_filters_intersect(queue, staff):
    intake = staff["intake1"]
    unit = str(staff["applicant2"].unit_id)
    combined = {"unit": unit, "category": "breach", "severity": "serious", "process": "repair"}
    for tab in ("group", "mine", "done"):
        expected = {t.id for t, v in _in_tab(tab, queue) if all(v[k] == combined[k] for k in combined)}
        assert len(expected) == 1
        assert {t.id for t in tasks.task_page(intake, tab, filters=combined).rows} == expected
        assert tasks.inbox_page(intake, tab, filters=combined).counts[tab] == 1


def test_api_filters_and_counts_equal_the_inbox_page(queue, staff, api, web):
    intake = staff["intake1"]
    client = api("intake1")
    browser = web("intake1")
    for filters in ({}, {"category": "breach"}, {"unit": str(staff["applicant1"].unit_id), "severity": "serious"},
                    {"process": "repair", "due": "soon"}):
        for tab in ("group", "mine", "overdue", "done"):
            body = client.get("/api/v1/tasks", query_string={"scope": tab, **filters}).get_json()
            page = tasks.inbox_page(intake, tab, filters=filters)
            assert [item["id"] for item in body["items"]] == [row.id for row in page.rows], (tab, filters)
            assert body["counts"] == page.counts and body["count_cap"] == tasks.COUNT_CAP
            html = browser.get("/tasks/inbox", query_string={"scope": tab, **filters}).get_data(as_text=True)
            shown = {label: int(n) for label, n in re.findall(r"(我的待办|本组待领|即将到期|已超期|已办)（(\d+)）", html)}
            names = {"mine": "我的待办", "group": "本组待领", "due_soon": "即将到期", "overdue": "已超期", "done": "已办"}
            assert {names[t]: n for t, n in body["counts"].items()} == shown, (tab, filters)


@pytest.mark.parametrize("query", [{"process": "nonsense"}, {"unit": "abc"}, {"unit": "0"}, {"unit": str(2**31)},
                                   {"category": "crime"}, {"severity": "huge"}, {"due": "yesterday"},
                                   {"category": ""}])
def test_bad_api_filter_values_are_a_400_in_chinese(queue, api, query):
    before = db.session.execute(select(HumanTask.id, HumanTask.assignee_id, HumanTask.status)).all()
    response = api("intake1").get("/api/v1/tasks", query_string={"scope": "group", **query})
    assert response.status_code == 400
    error = response.get_json()["error"]
    (key,) = query
    assert error["code"] == "bad_filter" and list(error["fields"]) == [key]
    assert "筛选条件的取值无效" in error["message"] and key in error["message"]
    db.session.expire_all()
    assert db.session.execute(select(HumanTask.id, HumanTask.assignee_id, HumanTask.status)).all() == before


def test_a_new_task_takes_its_case_facts(staff):
    record = factories.record(staff["applicant1"].unit, staff["verifier1"].unit, category="discipline",
                              severity="serious")
    row = factories.task(factories.case(record), "intake")
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(HumanTask, row.id)
    assert (row.applicant_unit_id, row.category, row.severity) == (staff["applicant1"].unit_id, "discipline",
                                                                   "serious")


def test_a_corrected_record_moves_its_tasks_to_the_new_filters(queue, staff):
    intake = staff["intake1"]
    task, values = next((t, v) for t, v in queue["group"] if v["category"] == "admin_penalty"
                        and v["severity"] == "general")
    done = next(t for t, _v in queue["done"] if t.case_id == task.case_id)
    record = db.session.get(Case, task.case_id).record
    record.category, record.severity = "breach", "serious"  # as an objection's 更正 or a source change writes it
    db.session.commit()
    for tab, row in (("group", task), ("done", done)):
        assert row.id in {t.id for t in tasks.task_page(intake, tab, filters={"category": "breach"}, limit=1000).rows}
        assert row.id not in {t.id for t in tasks.task_page(intake, tab, filters={"category": "admin_penalty"},
                                                            limit=1000).rows}
        assert row.id in {t.id for t in tasks.task_page(intake, tab, filters={"severity": "serious"}, limit=1000).rows}
        assert row.id not in {t.id for t in tasks.task_page(intake, tab, filters={"severity": "general"},
                                                            limit=1000).rows}


def test_rows_written_past_the_session_are_filled(staff):
    record = factories.record(staff["applicant2"].unit, staff["verifier1"].unit, category="breach")
    case = factories.case(record)
    template = factories.task(case, "intake")
    db.session.flush()
    copy = {c.key: getattr(template, c.key) for c in HumanTask.__table__.columns}
    copy.update(id="00000000-0000-4000-8000-000000000001", applicant_unit_id=staff["applicant1"].unit_id,
                category="judgment", severity="minor")  # a batch copy carries another case's facts
    db.session.execute(insert(HumanTask), [copy])
    facts.fill_task_facts(db.session, [case.id])
    db.session.commit()
    row = db.session.get(HumanTask, copy["id"])
    assert (row.applicant_unit_id, row.category, row.severity) == (staff["applicant2"].unit_id, "breach", "general")


def _plan(statement) -> str:
    sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "sqlite":
        return "\n".join(row[-1] for row in db.session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    db.session.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask whether the index can serve
    return "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + sql)))


# The plans, not timings: with the statistics migration 0015 pins, SQLite reads each tab in due order from the index
# meant for it (no sort of the lane), and a middle page is a range of that index on both databases.
PLANS = [
    ("group", {}, "ix_human_task_open_lane_only_due"),
    ("due_soon", {}, "ix_human_task_open_lane_only_due"),
    ("mine", {}, "ix_human_task_open_assigned_due"),
    ("group", {"category": "breach"}, "ix_human_task_open_lane_category_due"),
    ("group", {"severity": "serious"}, "ix_human_task_open_lane_severity_due"),
    ("group", {"unit": "1"}, "ix_human_task_open_lane_unit_due"),
    ("group", {"process": "repair"}, "ix_human_task_open_lane_type_due"),
    ("done", {}, "ix_human_task_done_by"),
    ("done", {"category": "breach"}, "ix_human_task_done_by_category"),
]


@pytest.mark.sqlite
@pytest.mark.parametrize("scope,filters,index", PLANS)
def test_sqlite_reads_each_tab_from_its_index(staff, scope, filters, index):
    plan = _plan(tasks.page_statement(staff["intake1"], scope, filters)).splitlines()
    reads = [line for line in plan if "human_task" in line]
    assert reads and all(line.startswith("SEARCH") and f"INDEX {index} (" in line for line in reads), plan
    # Only the page's own 51 rows are sorted (the last line): the lane is read in due order, never sorted.
    assert [line for line in plan if "TEMP B-TREE" in line] == [plan[-1]], plan
    # A capped count reads any index of the lane, but always a range holding the filter's value.
    counted = [line for line in _plan(tasks.count_statement(staff["intake1"], scope, filters)).splitlines()
               if "human_task" in line]
    column = {"category": "category=?", "severity": "severity=?", "unit": "applicant_unit_id=?",
              "process": "case_type=?"}
    assert counted and all(line.startswith("SEARCH") and all(column[k] in line for k in filters) for line in counted), \
        counted


def test_a_middle_page_is_a_range_of_the_index(staff):
    cursor = f"{(now() + timedelta(days=3)).isoformat()}|abc"
    plan = _plan(tasks.page_statement(staff["intake1"], "group", {}, cursor))
    if db.engine.dialect.name == "sqlite":
        assert "SEARCH human_task USING INDEX ix_human_task_open_lane_only_due (lane=? AND due_at>?)" in plan, plan
    else:
        assert re.search(r"Index Cond: .*ROW\(due_at, \(?id\)?(::text)?\) > ROW", plan), plan


@pytest.mark.postgres
def test_postgres_sessions_plan_for_their_values_without_parallel_workers(staff):
    """A rare filter value priced as thousands of rows made a parallel sequential scan of human_task beat the index
    (37 ms against 0.3 ms at 100,000 open tasks), and a prepared statement's generic plan walked the audit log by id
    (0.5 s at a million events; docs/performance.md): every connection of the app is opened with parallel query off
    and custom plans only, pooled ones and new ones alike, whatever a transaction did before."""
    settings = {"max_parallel_workers_per_gather": "0", "plan_cache_mode": "force_custom_plan"}
    for name, value in settings.items():
        assert db.session.scalar(text(f"SHOW {name}")) == value
    db.session.rollback()
    with db.engine.connect() as fresh:
        fresh.invalidate()  # the next use opens a new server session
    with db.engine.connect() as fresh:
        for name, value in settings.items():
            assert fresh.scalar(text(f"SHOW {name}")) == value


def test_a_queue_statement_is_built_once_per_shape_and_takes_each_request_s_values(queue, staff):
    """The kept statement of a shape serves the other values and the other users of that shape."""
    intake = staff["intake1"]
    tasks._KEPT.clear()

    def built():
        return {shape for kind, shape in tasks._KEPT if kind == "inbox"}

    breach = tasks.inbox_page(intake, "mine", filters={"category": "breach"})
    kept = built()
    assert len(kept) == 1
    penalty = tasks.inbox_page(intake, "mine", filters={"category": "admin_penalty"})
    assert built() == kept  # the same shape: nothing new built
    mine = {t.id: v for t, v in queue["mine"]}
    assert {r.id for r in breach.rows} == {i for i, v in mine.items() if v["category"] == "breach"}
    assert {r.id for r in penalty.rows} == {i for i, v in mine.items() if v["category"] == "admin_penalty"}
    # Another reviewer with the same roles holds none of them: the user's id is a value, not part of the shape.
    colleague = factories.user("intake", intake.unit, username="intake2")
    db.session.commit()
    assert tasks.inbox_page(colleague, "mine", filters={"category": "breach"}).rows == []
    assert built() == kept
    # Another due band is another shape (its condition differs), kept beside the first.
    tasks.inbox_page(intake, "mine", filters={"category": "breach", "due": "soon"})
    assert len(built()) == 2


@pytest.mark.parametrize("scope", tasks.TABS)
def test_every_tab_s_count_is_the_same_from_any_tab(queue, staff, scope):
    """The tab counts shown on a page are each tab's own count with the same filters, whichever tab is open: a due
    band narrows the open tabs' counts on the 已办 page too (the 已办 tab alone is by completion)."""
    intake = staff["intake1"]
    for filters in ({"due": "soon"}, {"due": "overdue", "category": "breach"}, {"severity": "serious"}):
        expected = {tab: tasks.count_tasks(intake, tab, filters) for tab in tasks.TABS}
        assert tasks.inbox_page(intake, scope, filters=filters).counts == expected, (scope, filters)
        assert tasks.task_page(intake, scope, filters=filters, counts=True).counts == expected, (scope, filters)
