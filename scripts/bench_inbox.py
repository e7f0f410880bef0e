"""Benchmark the reviewer inbox and the task API with a large case load (default 100,000 generated cases).

Run from the repository root:  .venv/bin/python scripts/bench_inbox.py [--db URL] [--cases N] [--reuse]
Prints p50/p95 server time (request handled in-process: routing, queries, rendering) per page, and the median
CPU time of this process per request (less sensitive than wall time to other work on a shared machine).
Default database: a SQLite file under var/bench/. Figures are printed, never asserted. --reuse applies pending
migrations to the kept database first.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import g  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import HumanTask, Unit  # noqa: E402
from config import DevelopmentConfig  # noqa: E402

PASSWORD = "Xinyong@2026"
REQUESTS = 200


def build(url: str, cases: int) -> None:
    from app.engine.definitions import deploy_directory
    from app.demo.seed import seed_demo
    from app.demo.bulk import seed_cases
    from app.services.letters import local_today

    if url.startswith("postgresql"):
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
    upgrade()
    deploy_directory(ROOT / "processes")
    seed_demo(local_today())
    db.session.commit()
    started = time.perf_counter()
    seed_cases(cases)
    print(f"generated {cases:,} cases in {time.perf_counter() - started:.0f} s")
    if url.startswith("postgresql"):
        # Planner statistics and the visibility map (index-only scans), as autovacuum keeps them in production.
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))  # planner statistics, as a production database has them
        db.session.commit()


def timed(client, path: str, headers=None, requests: int = REQUESTS) -> tuple[list[float], list[float]]:
    samples, cpu = [], []
    for _ in range(requests):
        for name in list(g):  # each request gets a fresh flask.g, as in production
            g.pop(name)
        begin, begin_cpu = time.perf_counter(), time.thread_time()
        response = client.get(path, headers=headers or {})
        samples.append((time.perf_counter() - begin) * 1000)
        cpu.append((time.thread_time() - begin_cpu) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return sorted(samples), cpu


def report(label: str, timings: tuple[list[float], list[float]], target: str = "target p95 ≤ 20 ms") -> None:
    samples, cpu = timings
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label:<44} p50 {statistics.median(samples):6.1f} ms   p95 {p95:6.1f} ms   "
          f"cpu p50 {statistics.median(cpu):6.1f} ms   ({target})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=f"sqlite:///{ROOT / 'var' / 'bench' / 'inbox.db'}")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="keep an already generated database")
    args = parser.parse_args()

    class Cfg(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = args.db
        FILE_STORE = ROOT / "var" / "bench" / "files"
        ALLOW_CLOCK_SHIFT = False
        PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"

    if args.db.startswith("sqlite:///") and not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(args.db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        Path(args.db.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    app = create_app(Cfg)
    with app.app_context():
        if args.reuse:
            upgrade()  # e.g. new indexes since the database was generated
        else:
            build(args.db, args.cases)
        open_tasks = db.session.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.status == "open"))
        print(f"database: {args.db.split('@')[-1]}; open tasks: {open_tasks:,}")
        web = app.test_client()
        page = web.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        web.post("/login", data={"csrf_token": token, "username": "intake1", "password": PASSWORD})
        db.session.remove()
        for name in list(g):
            g.pop(name)
        first = web.get("/tasks/inbox?scope=group").get_data(as_text=True)
        cursor = first.split("after=")[1].split('"')[0].replace("&amp;", "&") if "after=" in first else ""
        report("inbox 本组待领, first page (50 rows)", timed(web, "/tasks/inbox?scope=group"))
        report("inbox 本组待领, next page (keyset)", timed(web, f"/tasks/inbox?scope=group&after={cursor}"))
        report("inbox 已超期", timed(web, "/tasks/inbox?scope=overdue"))
        report("inbox filtered: repair, due soon", timed(web, "/tasks/inbox?scope=group&process=repair&due=soon"))
        report("inbox 已办 (done), filtered: repair", timed(web, "/tasks/inbox?scope=done&process=repair"))
        unit = db.session.scalar(select(Unit.id).where(Unit.is_credit_office.is_(False)).order_by(Unit.id))
        report("inbox filtered: one unit", timed(web, f"/tasks/inbox?scope=group&unit={unit}"))
        report("inbox filtered: category breach", timed(web, "/tasks/inbox?scope=group&category=breach"))
        report("inbox filtered: severity serious", timed(web, "/tasks/inbox?scope=group&severity=serious"))
        report("dashboard page (30 requests)", timed(web, "/dashboard/", requests=30), "aim p95 ≤ 200 ms")
        api = app.test_client()
        bearer = api.post("/api/v1/auth/token", json={"username": "intake1", "password": PASSWORD}).get_json()["token"]
        headers = {"Authorization": f"Bearer {bearer}"}
        report("API GET /api/v1/tasks?scope=group", timed(api, "/api/v1/tasks?scope=group", headers))
        report("API GET /api/v1/tasks?scope=all", timed(api, "/api/v1/tasks?scope=all", headers))


if __name__ == "__main__":
    main()
