"""The worker: several processes share due timers, each fires exactly once; a killed worker loses nothing."""
from __future__ import annotations

import multiprocessing as mp
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, CaseEvent, HumanTask, TimerJob, User
from app.services import applications, attachments, workflow
from processes.objection_review import service as objections
from app.core import clock
from tests.support.constants import ROOT, T0
from tests.support.files import PDF_BYTES
from tests.support.harness import make_app, migrate_from_empty, shared_url

CASES = 200


def build_due_timers(url: str, files: Path, n: int) -> None:
    """Migrate, seed, and put n objection cases into the supplement step (n supplement timers)."""
    from app.engine.definitions import deploy_directory
    from app.demo.seed import seed_demo
    from app.models import Letter
    from app.services import delivery

    app = make_app(url, files)
    with app.app_context():
        migrate_from_empty()
        clock.set_frozen(T0)
        deploy_directory(ROOT / "processes")
        seed_demo(T0.date())
        db.session.commit()
        applicant = db.session.scalar(select(User).where(User.username == "applicant1"))
        intake = db.session.scalar(select(User).where(User.username == "intake1"))
        for record in extra_records(applicant, n):  # one open objection per record: n records
            case = objections.create_objection(applicant, record.id, "duplicate", "重复公示")
            attachments.store_attachment(applicant, case, "evidence", "e.pdf", PDF_BYTES)
            attachments.store_attachment(applicant, case, "commitment", "c.pdf", PDF_BYTES)
            applications.submit_case(applicant, case.id)
            task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
            workflow.complete_task(intake, task.id, {"intake_choice": "request_supplement",
                                                    "supplement_items": "承诺书", "reason": "材料不全"})
            # The applicant opens the 补正通知书 at once: delivered, so its deadline runs and its timer fires.
            delivery.opened(applicant, db.session.scalar(select(Letter).where(Letter.case_id == case.id,
                                                                               Letter.type == "supplement_notice")))
            db.session.commit()
        clock.set_frozen(None)
        db.session.remove()
        db.engine.dispose()


def extra_records(applicant, n: int):
    """Give the applicant's unit n more published records, copies of one with their own document numbers."""
    from app.models import CreditRecord

    template = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == applicant.unit_id)).first()
    columns = {c.key: getattr(template, c.key) for c in CreditRecord.__table__.columns if c.key != "id"}
    records = [CreditRecord(**{**columns, "basis_doc_no": f"随财罚〔2026〕{900 + i}号"}) for i in range(n)]
    db.session.add_all(records)
    db.session.flush()
    return records


def _sweep_as_of(args) -> tuple[int, bool]:
    """One worker's sweep: (timers it fired, whether it ran the daily rules)."""
    url, files, at = args
    from app.services.worker import sweep

    app = make_app(url, files)
    with app.app_context():
        clock.set_frozen(at)
        result = sweep()
        db.engine.dispose()
        return result.fired, result.daily_ran


def counts(url: str, files: Path, app=None) -> dict:
    if url.startswith("sqlite"):
        return sqlite_counts(url)
    app = app or make_app(url, files)
    with app.app_context():
        result = {
            "fired_events": db.session.scalar(select(func.count()).select_from(CaseEvent)
                                              .where(CaseEvent.action == "timer_fired")),
            "withdrawn": db.session.scalar(select(func.count()).select_from(Case).where(Case.status == "withdrawn")),
            "withdraw_events": db.session.scalar(select(func.count()).select_from(CaseEvent).where(
                CaseEvent.action == "status_changed", CaseEvent.to_status == "withdrawn")),
            "pending": db.session.scalar(select(func.count()).select_from(TimerJob).where(TimerJob.status == "pending")),
            "fired_jobs": db.session.scalar(select(func.count()).select_from(TimerJob).where(TimerJob.status == "fired")),
        }
        db.session.remove()
        db.engine.dispose()
        return result


COUNT_SQL = {
    "fired_events": "SELECT count(*) FROM case_event WHERE action = 'timer_fired'",
    "withdrawn": "SELECT count(*) FROM \"case\" WHERE status = 'withdrawn'",
    "withdraw_events": "SELECT count(*) FROM case_event WHERE action = 'status_changed' AND to_status = 'withdrawn'",
    "pending": "SELECT count(*) FROM timer_job WHERE status = 'pending'",
    "fired_jobs": "SELECT count(*) FROM timer_job WHERE status = 'fired'",
}


def sqlite_counts(url: str) -> dict:
    """Read the counts like a monitoring tool would: a plain read-only connection (WAL readers never wait)."""
    import sqlite3

    with sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True) as conn:
        return {key: conn.execute(sql).fetchone()[0] for key, sql in COUNT_SQL.items()}


@pytest.fixture()
def due_timers(app, tmp_path):
    url = shared_url(tmp_path)
    build_due_timers(url, tmp_path / "files", CASES)
    return url, tmp_path / "files"


def test_four_workers_fire_each_timer_exactly_once(due_timers):
    url, files = due_timers
    at = T0 + timedelta(days=30)
    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        swept = pool.map(_sweep_as_of, [(url, files, at)] * 4)
    fired = [n for n, _ran in swept]
    assert sum(fired) == CASES, fired
    assert [ran for _n, ran in swept].count(True) == 1, swept  # the day's rules: one worker of the four, once
    assert counts(url, files) == {"fired_events": CASES, "withdrawn": CASES, "withdraw_events": CASES,
                                  "pending": 0, "fired_jobs": CASES}


def test_killed_worker_loses_and_doubles_nothing(due_timers):
    url, files = due_timers
    checkpoints = files.parent / "audit-checkpoints"
    env = {**os.environ, "APP_ENV": "test", "TEST_DATABASE_URL": url, "FILE_STORE": str(files),
           "AUDIT_CHECKPOINT_DIR": str(checkpoints)}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--once", "--at",
               (T0 + timedelta(days=30)).isoformat()]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    observer = make_app(url, files)
    while counts(url, files, observer)["fired_events"] < 20:
        assert worker.poll() is None, "the worker finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    worker.send_signal(signal.SIGKILL)  # in the middle of the batch
    worker.wait()
    partial = counts(url, files)
    assert 20 <= partial["fired_events"] < CASES, partial
    assert partial["fired_events"] == partial["fired_jobs"] == partial["withdrawn"]  # all or nothing per timer
    restarted = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr.decode()[-2000:]
    assert counts(url, files) == {"fired_events": CASES, "withdrawn": CASES, "withdraw_events": CASES,
                                  "pending": 0, "fired_jobs": CASES}
    # After its sweep the restarted worker signed the audit chain's head: the kill left the chain whole.
    lines = [json.loads(line) for path in checkpoints.iterdir() for line in path.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["count"] > CASES, lines


def _deliver_as_worker(args) -> int:
    url, files, push_url = args
    from app.services.worker import sweep

    app = make_app(url, files)
    app.config["PUSH_URL"] = push_url
    with app.app_context():
        delivered = sweep().delivered
        db.engine.dispose()
        return delivered


def test_four_workers_deliver_each_message_once(app, tmp_path):
    import http.server
    import threading
    from collections import Counter

    from app.services import outbox

    received: Counter = Counter()

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            received[self.headers["Idempotency-Key"]] += 1
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url, files = shared_url(tmp_path), tmp_path / "files"
    shared = make_app(url, files)
    with shared.app_context():
        migrate_from_empty()
        for i in range(CASES):
            outbox.enqueue("push", f"push:record:{i}", {"action": "update", "record_id": i})
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    try:
        with mp.get_context("fork").Pool(4) as pool:
            delivered = pool.map(_deliver_as_worker, [(url, files, f"http://127.0.0.1:{server.server_port}/push")] * 4)
    finally:
        server.shutdown()
        server.server_close()
    assert sum(delivered) == CASES
    assert len(received) == CASES and set(received.values()) == {1}


@pytest.mark.sqlite
def test_a_worker_locked_out_of_sqlite_leaves_the_timers_to_the_next_sweep(app, tmp_path):
    """Another process holds SQLite's write lock past the busy timeout: the sweep ends without firing or raising,
    and once the lock is free the next sweep fires every timer exactly once."""
    import sqlite3

    from app import create_app
    from app.services.worker import sweep
    from config import TestConfig

    url, files = shared_url(tmp_path), tmp_path / "files"
    build_due_timers(url, files, 3)

    class Impatient(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        FILE_STORE = files
        SQLITE_BUSY_TIMEOUT_S = 0.2

    worker = create_app(Impatient)
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with worker.app_context():
            clock.set_frozen(T0 + timedelta(days=30))
            locked_out = sweep()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked_out.busy and locked_out.fired == 0
    assert counts(url, files)["pending"] == 3
    with worker.app_context():
        clock.set_frozen(T0 + timedelta(days=30))
        again = sweep()
        db.engine.dispose()
    assert not again.busy and again.fired == 3
    assert counts(url, files) == {"fired_events": 3, "withdrawn": 3, "withdraw_events": 3, "pending": 0,
                                  "fired_jobs": 3}
