"""Inbox area: the reviewer inbox and GET /api/v1/tasks at 100,000 open tasks (issue 15, points 4 and 5).

Every tab unfiltered; each filter alone and some combined, with values rare in the reviewer's queue (the unit with
the fewest tasks in intake1's lane, category=breach); the API's first, middle and last keyset page. Each figure is
the in-process request (routing, queries, rendering), p95 of wall time, with the median CPU time in its note. The
floor is the page query alone (raw SQL through the driver); the keyset query's EXPLAIN key line is printed too.
The cases are generated with app/demo/bulk.seed_cases (slow: use --reuse between runs).
"""
from __future__ import annotations

import time
from urllib.parse import quote

from scripts.benchmarks.common import Bench, Figure, analyze, make_app, migrate_and_seed, timed

TARGET = "p95 ≤ 20 ms"
PASSWORD = "Xinyong@2026"


def _build(app, cases: int) -> None:
    from app.demo.bulk import seed_cases

    with app.app_context():
        migrate_and_seed()
        started = time.perf_counter()
        seed_cases(cases)
        print(f"generated {cases:,} cases in {time.perf_counter() - started:.0f} s", flush=True)
        analyze()


def _fresh_request_state() -> None:
    from flask import g

    for name in list(g):  # each request gets a fresh flask.g, as in production
        g.pop(name)


def _figure(name: str, timing, floor=None, floor_note: str = "", note: str = "") -> Figure:
    limit = 20.0
    notes = f"p50 {timing.median:.1f} ms, CPU p50 {timing.cpu_median:.1f} ms" + (f"; {note}" if note else "")
    return Figure(name, timing.p95, target=TARGET, floor=floor, floor_note=floor_note, met=timing.p95 <= limit,
                  note=notes)


def _get(client, path: str, headers=None):
    def action():
        _fresh_request_state()
        response = client.get(path, headers=headers or {})
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
        return response
    return action


def _raw_floor(user, scope: str, filters: dict, after: str | None = None, repeat: int = 50) -> float:
    """The page query alone, compiled once and run through the driver: the p95 in ms."""
    from sqlalchemy import text

    from app.extensions import db
    from app.services.inbox import queries

    statement = queries.page_statement(user, scope, filters, after)
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    sql = text(str(compiled))
    return timed(lambda: db.session.execute(sql).all(), repeat).p95


def _plan_line(user, scope: str, filters: dict, after: str | None) -> str:
    """The line of the page query's plan that names how human_task is read."""
    from sqlalchemy import text

    from app.extensions import db
    from app.services.inbox import queries

    statement = queries.page_statement(user, scope, filters, after)
    sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "sqlite":
        rows = [r[-1] for r in db.session.execute(text("EXPLAIN QUERY PLAN " + sql))]
        return " / ".join(rows)
    rows = [r[0] for r in db.session.execute(text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql))]
    return " / ".join(r.strip() for r in rows if "human_task" in r or "Index Cond" in r or "Filter" in r)


def run(bench: Bench) -> list[Figure]:
    from sqlalchemy import func, select
    from flask_migrate import upgrade

    from app.extensions import db
    from app.models import Case, HumanTask, Unit, User

    url = bench.database("inbox")
    app = make_app(url, ALLOW_CLOCK_SHIFT=False, WTF_CSRF_ENABLED=True)  # the inbox's forms carry their token
    cases = bench.size(100_000, 2_000)
    if bench.fresh(url):
        _build(app, cases)
    else:
        with app.app_context():
            upgrade()  # e.g. new indexes since the database was generated
            analyze()
    figures: list[Figure] = []
    repeat = bench.size(40, 10)  # ~50 figures: the machine is shared
    with app.app_context():
        open_tasks = db.session.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.status == "open"))
        print(f"open tasks: {open_tasks:,}", flush=True)
        intake = db.session.scalar(select(User).where(User.username == "intake1"))
        # The unit with the fewest open tasks in intake1's lane (but some): a value rare in the reviewer's queue.
        rare_unit = db.session.execute(
            select(Case.applicant_unit_id, func.count()).join(HumanTask, HumanTask.case_id == Case.id)
            .where(HumanTask.status == "open", HumanTask.lane == "intake")
            .group_by(Case.applicant_unit_id).order_by(func.count(), Case.applicant_unit_id).limit(1)).first()
        common_unit = db.session.execute(
            select(Case.applicant_unit_id, func.count()).join(HumanTask, HumanTask.case_id == Case.id)
            .where(HumanTask.status == "open", HumanTask.lane == "intake")
            .group_by(Case.applicant_unit_id).order_by(func.count().desc(), Case.applicant_unit_id).limit(1)).first()
        empty_unit = db.session.scalar(select(Unit.id).where(
            Unit.is_credit_office.is_(False), ~Unit.id.in_(select(Case.applicant_unit_id).where(
                Case.applicant_unit_id.is_not(None)))).order_by(Unit.id).limit(1))
        print(f"rare unit {rare_unit[0]} ({rare_unit[1]} intake tasks), common unit {common_unit[0]} "
              f"({common_unit[1]}), unit without cases {empty_unit}", flush=True)
        db.session.remove()

        web = app.test_client()
        page = web.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        signed_in = web.post("/login", data={"csrf_token": token, "username": "intake1", "password": PASSWORD})
        assert signed_in.status_code == 302, signed_in.status_code
        _fresh_request_state()

        from app.services.inbox import queries

        service_alone = {"tab group", "tab done", "group, category=breach", f"group, rare unit ({rare_unit[1]} tasks)",
                         "group, process=objection+breach+general+later"}

        def inbox(name: str, query: str, filters: dict, scope: str, note: str = "") -> None:
            with app.test_request_context():
                user = db.session.get(User, intake.id)
                floor = _raw_floor(user, scope, filters)
                db.session.remove()
            timing = timed(_get(web, f"/tasks/inbox?{query}"), repeat)
            figures.append(_figure(f"inbox {name}", timing, floor, "page query alone", note))
            if name in service_alone:
                # The query side alone (page, tab counts, display rows) without the view and its template.
                with app.test_request_context():
                    user = db.session.get(User, intake.id)
                    service = timed(lambda: queries.inbox_page(user, scope, filters=filters), repeat)
                    db.session.remove()
                figures.append(_figure(f"inbox_page() alone, {name}", service, floor, "page query alone"))

        for scope in ("mine", "group", "due_soon", "overdue", "done"):
            inbox(f"tab {scope}", f"scope={scope}", {}, scope)
        rare, common = str(rare_unit[0]), str(common_unit[0])
        alone = [("process", "repair", "process=repair"), ("process", "objection", "process=objection"),
                 ("unit", rare, f"rare unit ({rare_unit[1]} tasks)"), ("unit", common, "common unit"),
                 ("category", "breach", "category=breach"), ("category", "admin_penalty", "category=admin_penalty"),
                 ("severity", "serious", "severity=serious"), ("severity", "minor", "severity=minor")]
        alone += [("due", band, f"due={band}") for band in ("overdue", "today", "soon", "later")]
        if empty_unit:
            alone.append(("unit", str(empty_unit), "unit without cases"))
        for key, value, label in alone:
            inbox(f"group, {label}", f"scope=group&{key}={value}", {key: value}, "group")
        for scope in ("due_soon", "overdue", "done"):
            for key, value, label in (alone[2], alone[4]):  # the rare values
                inbox(f"{scope}, {label}", f"scope={scope}&{key}={value}", {key: value}, scope)
        for scope, combined in (("group", {"process": "objection", "category": "breach", "severity": "general",
                                           "due": "later"}),
                                ("group", {"process": "objection", "unit": rare, "severity": "serious"}),
                                ("done", {"process": "objection", "unit": rare, "category": "breach"})):
            inbox(f"{scope}, " + ("process=" + "+".join(combined.values())).replace(rare, "rare unit"),
                  "scope=" + scope + "".join(f"&{k}={v}" for k, v in combined.items()), combined, scope)

        api = app.test_client()
        bearer = api.post("/api/v1/auth/token", json={"username": "intake1", "password": PASSWORD}).get_json()["token"]
        headers = {"Authorization": f"Bearer {bearer}"}
        _fresh_request_state()
        for query in ("scope=group", "scope=group&process=objection", "scope=group&severity=serious", "scope=all"):
            with app.test_request_context():
                cursors = _api_cursors(db.session.get(User, intake.id), query)
                db.session.remove()
            for label, cursor in cursors:
                path = f"/api/v1/tasks?{query}" + (f"&after={quote(cursor)}" if cursor else "")
                with app.test_request_context():
                    user = db.session.get(User, intake.id)
                    scope, filters = _split(query)
                    floor = _raw_floor(user, scope, filters, cursor)
                    plan = _plan_line(user, scope, filters, cursor) if label == "middle page" else ""
                    db.session.remove()
                if plan:
                    print(f"plan ({bench.kind}, {query}, middle page): {plan}", flush=True)
                timing = timed(_get(api, path, headers), repeat)
                figures.append(_figure(f"API /tasks?{query}, {label}", timing, floor, "page query alone"))
    return figures


def _api_cursors(user, query: str) -> list[tuple[str, str | None]]:
    """The cursors of the first page, a page in the middle of the queue and the last page (from the keys in order,
    as the API's own cursors would be after walking there)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import HumanTask
    from app.services.inbox import queries

    scope, filters = _split(query)
    keys = db.session.execute(queries.tab_statement(user, scope, filters).with_only_columns(
        HumanTask.due_at, HumanTask.id).order_by(HumanTask.due_at, HumanTask.id)).all()
    pages = max(1, (len(keys) + queries.PAGE_SIZE - 1) // queries.PAGE_SIZE)

    def after(page: int) -> str:  # the cursor that opens page `page` (0-based, > 0)
        due_at, task_id = keys[page * queries.PAGE_SIZE - 1]
        return f"{due_at.isoformat()}|{task_id}"

    if pages < 3:
        return [("first page", None)]
    return [("first page", None), ("middle page", after(pages // 2)), ("last page", after(pages - 1))]


def _split(query: str) -> tuple[str, dict]:
    params = dict(p.split("=", 1) for p in query.split("&"))
    return params.pop("scope"), params
