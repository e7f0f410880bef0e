"""SIGKILL at chosen points (docs/reliability.md): each case stays all-or-nothing, timers and outbox rows happen once.

The real app runs in a subprocess (``flask run`` for the web, ``flask worker --once`` for the worker) against a
database of its own: a SQLite file, or on the PostgreSQL pass a database this module creates next to
TEST_DATABASE_URL. ``XINYONG_FAULT_POINT`` makes the process kill itself at one point; the test then reads the
database, checks nothing is half done, and repeats the work against a healthy process.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import func, select, text, update

from app.extensions import db
from app.models import (
    AuditEvent, Case, CaseEvent, HumanTask, Letter, NumberSequence, OutboxMessage, ProcessInstance, TimerJob, User,
)
from app.services import applications, audit, outbox, workflow
from app.core import faults
from config import TestConfig
from tests.support.constants import PASSWORD, ROOT, T0
from tests.support.files import PDF_BYTES
from tests.support.flows import draft_objection, extra_records, own_record
from tests.support.harness import free_port, make_app, seeded_world
from tests.support import subprocesses

KILLED = -signal.SIGKILL
PUSH_KEY = "push:fault-test:1"
START_TIMEOUT = 60


# --- databases: a SQLite file, or a PostgreSQL database created (and dropped) by the test -----------------------

def _pg_server_url(database: str) -> str:
    parts = urlsplit(os.environ["TEST_DATABASE_URL"])
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, "", ""))


def _pg_admin(sql: str, server_url: str | None = None) -> None:
    import psycopg

    with psycopg.connect(server_url or _pg_server_url("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def _pg_base() -> str:
    return urlsplit(os.environ["TEST_DATABASE_URL"]).path.lstrip("/") or "test"


def on_postgres() -> bool:
    return os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")


class FaultDB:
    """One database and file store the subprocesses share with the test."""

    def __init__(self, url: str, files: Path, ids: dict, pg_name: str | None = None):
        self.url, self.files, self.ids, self.pg_name = url, files, ids, pg_name
        self._app = None

    @property
    def app(self):
        """The test's own view of the database (one app; its pool is emptied after every read)."""
        if self._app is None:
            self._app = make_app(self.url, self.files)
        return self._app

    def copy(self, tmp_path: Path, name: str) -> "FaultDB":
        """A fresh copy of this (template) database, cheap enough for one per test."""
        files = tmp_path / "files"
        shutil.copytree(self.files, files)
        if self.pg_name:
            target = f"{_pg_base()[:30]}_faults_{hashlib.sha256(name.encode()).hexdigest()[:12]}"
            _pg_admin(f'DROP DATABASE IF EXISTS "{target}"')
            _pg_admin(f'CREATE DATABASE "{target}" TEMPLATE "{self.pg_name}"')
            return FaultDB(_pg_server_url(target), files, self.ids, target)
        source = Path(self.url.removeprefix("sqlite:///"))
        target = tmp_path / "faults.db"
        shutil.copyfile(source, target)
        return FaultDB(f"sqlite:///{target}", files, self.ids)

    def drop(self) -> None:
        if self.pg_name:
            _pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def build_template(base: Path, pg_name: str | None) -> FaultDB:
    """Migrate and seed; file one objection at intake review (A), one draft ready to submit (B), one in 补正 (C)."""
    files = base / "files"
    if pg_name:
        _pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{pg_name}"')
        url = _pg_server_url(pg_name)
    else:
        url = f"sqlite:///{base / 'template.db'}"
    with seeded_world(url, files) as applicant:
        intake = db.session.scalar(select(User).where(User.username == "intake1"))
        a, b, c = (draft_objection(applicant, record) for record in extra_records(applicant, 3))
        applications.submit_case(applicant, a.id)
        applications.submit_case(applicant, c.id)
        task_c = db.session.scalar(select(HumanTask).where(HumanTask.case_id == c.id))
        workflow.complete_task(intake, task_c.id, {"intake_choice": "request_supplement",
                                                  "supplement_items": "承诺书", "reason": "材料不全"})
        # The applicant opens the 补正通知书 at once: delivered, so its deadline runs and its timer comes due.
        from app.models import Letter
        from app.services import delivery

        delivery.opened(applicant, db.session.scalar(select(Letter).where(Letter.case_id == c.id,
                                                                           Letter.type == "supplement_notice")))
        # The demo's registrations queued their own publish pushes: delivered before the scenario starts, so the
        # crashes below hit this one message.
        db.session.execute(update(OutboxMessage).values(status="delivered", delivered_at=T0))
        outbox.enqueue("push", PUSH_KEY, {"action": "update", "record_id": a.record_id})
        db.session.commit()
        task_a = db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == a.id, HumanTask.status == "open"))
        ids = {"case_a": a.id, "task_a": task_a, "case_b": b.id, "case_c": c.id}
    if not pg_name:
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:  # fold the WAL in so one file is a copy
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return FaultDB(url, files, ids, pg_name)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    pg_name = f"{_pg_base()[:30]}_faults_template" if on_postgres() else None
    built = build_template(tmp_path_factory.mktemp("faults-template"), pg_name)
    yield built
    built.drop()


@pytest.fixture()
def fdb(template, tmp_path, request):
    copy = template.copy(tmp_path, request.node.name)
    yield copy
    copy.drop()


# --- subprocesses -----------------------------------------------------------------------------------------------

def app_env(fdb: FaultDB, point: str | None = None, **extra) -> dict:
    env = {**os.environ, "APP_ENV": "test", "TEST_DATABASE_URL": fdb.url, "FILE_STORE": str(fdb.files),
           "FAULT_INJECTION": "1", **extra}
    env.pop(faults.ENV_VAR, None)
    if point:
        env[faults.ENV_VAR] = point
    return env


class Server:
    """``flask run`` (threaded) on a free port; stopped by the test, or dead by its own fault point."""

    def __init__(self, fdb: FaultDB, log: Path, point: str | None = None):
        self.port = free_port()
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(self.port), "--with-threads",
                 "--no-reload", "--no-debugger"],
                cwd=ROOT, env=app_env(fdb, point), stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self) -> "Server":
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc.poll() is None, f"server exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "server did not start"
            try:
                if self.request("GET", "/api/v1/openapi.json")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            conn.request(method, path, body=json.dumps(body or {}) if method == "POST" else None, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def token(self, username: str) -> str:
        status, body = self.request("POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD})
        assert status == 200, body
        return body["token"]

    def killed_by(self, method: str, path: str, token: str, body: dict | None = None) -> None:
        """Send a request that hits the armed fault point: the connection drops and the process is SIGKILLed."""
        with pytest.raises(ConnectionError):
            self.request(method, path, body, token)
        assert self.proc.wait(timeout=30) == KILLED, self.log.read_text()[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            subprocesses.stop(self.proc, timeout=10)


@pytest.fixture()
def servers(tmp_path):
    """Start a server armed with a fault point and a healthy one on the same database, side by side."""
    started: list[Server] = []

    def start(fdb: FaultDB, point: str) -> tuple[Server, Server]:
        started.extend([Server(fdb, tmp_path / "dying.log", point), Server(fdb, tmp_path / "healthy.log")])
        return started[-2].wait_ready(), started[-1].wait_ready()

    yield start
    for server in started:
        server.stop()


def run_worker(fdb: FaultDB, at, point: str | None = None, **extra) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--once", "--at", at.isoformat()]
    return subprocess.run(command, cwd=ROOT, env=app_env(fdb, point, **extra), capture_output=True, timeout=120)


# --- reading the outcome ----------------------------------------------------------------------------------------

DOMAIN_TABLES = ("case", "case_event", "process_instance", "human_task", "timer_job", "credit_record",
                 "record_history", "letter", "number_sequence", "notification", "outbox", "audit_event", "attachment")


def table_rows(fdb: FaultDB) -> dict:
    """Every row of the tables a case's work touches (for "nothing changed")."""
    with fdb.app.app_context():
        try:
            return {table: sorted(map(repr, db.session.execute(text(f'SELECT * FROM "{table}"')).all()))
                    for table in DOMAIN_TABLES}
        finally:
            db.session.remove()
            db.engine.dispose()


def read_case(fdb: FaultDB, case_id: int) -> dict:
    """The facts of one case that must move together, plus whole-database checks (audit chain, numbering)."""
    with fdb.app.app_context():
        try:
            case = db.session.get(Case, case_id)
            instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
            events = Counter(db.session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id)))
            letters = db.session.scalars(select(Letter).where(Letter.case_id == case_id).order_by(Letter.id)).all()
            facts = {
                "status": case.status,
                "number": case.number,
                "current_step": case.current_step,
                "record_status": case.record.status,
                "lock_version": instance.lock_version if instance else None,
                "state_sha": hashlib.sha256(instance.state.encode()).hexdigest() if instance else None,
                "tasks": sorted((t.bpmn_id, t.status) for t in db.session.scalars(
                    select(HumanTask).where(HumanTask.case_id == case_id))),
                "events": events,
                "letters": [(letter.doc_number, letter.seq, hashlib.sha256(letter.pdf).hexdigest() == letter.sha256)
                            for letter in letters],
                "audit": Counter(db.session.scalars(select(AuditEvent.action).where(
                    AuditEvent.action.in_(("task.complete", "letter.issue", "process.start", "timer.fire"))))),
            }
            sequences = {(s.series, s.year): s.last_seq for s in db.session.scalars(select(NumberSequence))}
            for (series, year), last in sequences.items():
                if series.startswith("letter:"):  # letter numbers are gap-free 1..last
                    seqs = sorted(db.session.scalars(select(Letter.seq).where(
                        Letter.series == series.removeprefix("letter:"), Letter.year == year)))
                    assert seqs == list(range(1, last + 1)), (series, seqs, last)
            checked, problems = audit.verify_chain()  # last: it detaches everything it read
            assert checked and not problems, problems
            return facts
        finally:
            db.session.remove()
            db.engine.dispose()


def assert_intake_accepted_once(before: dict, after: dict) -> None:
    """Case A after one accepted intake review: task, engine, record, letter, history and audit all moved once."""
    assert after["status"] == "in_progress" and after["record_status"] == "disputed"
    assert after["lock_version"] == before["lock_version"] + 1 and after["state_sha"] != before["state_sha"]
    assert after["tasks"] == sorted([("intake_review", "completed"), ("verify_record", "open")])
    assert after["events"]["task_completed"] == before["events"]["task_completed"] + 1 == 1
    assert after["events"]["letter_issued"] == 1 and after["events"]["task_opened"] == 2
    assert after["letters"] == [("随信用异受\u30142026\u30151号", 1, True)]
    assert after["audit"]["task.complete"] == before["audit"]["task.complete"] + 1
    assert after["audit"]["letter.issue"] == before["audit"]["letter.issue"] + 1


# --- the tests --------------------------------------------------------------------------------------------------

def test_every_fault_point_is_placed_once_and_documented():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "app").rglob("*.py") if p.name != "faults.py")
    placed = re.findall(r'(?:fault_point|after_commit)\("([\w.]+)"\)', source)
    assert sorted(placed) == sorted(faults.POINTS)
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in doc for name in faults.POINTS)


def test_fault_point_is_inert_unless_enabled(app, monkeypatch):
    monkeypatch.setenv(faults.ENV_VAR, "process.complete.before_commit")
    assert TestConfig.FAULT_INJECTION is False and app.config["FAULT_INJECTION"] is False
    faults.fault_point("process.complete.before_commit")  # still alive: the config flag is off
    app.config["FAULT_INJECTION"] = True
    try:
        faults.fault_point("process.complete.after_commit")  # still alive: another point is armed
    finally:
        app.config["FAULT_INJECTION"] = False


BEFORE_COMMIT = ["engine.save.after_state", "letters.issue.before_commit", "process.complete.before_commit"]


@pytest.mark.parametrize("point", [*BEFORE_COMMIT, "process.complete.after_commit"])
def test_web_process_killed_while_completing_a_task(fdb, servers, point):
    case_id, task_id = fdb.ids["case_a"], fdb.ids["task_a"]
    path = f"/api/v1/tasks/{task_id}/complete"
    dying, healthy = servers(fdb, point)
    token = dying.token("intake1")
    before, rows_before = read_case(fdb, case_id), table_rows(fdb)

    dying.killed_by("POST", path, token, {"intake_choice": "accept"})

    crashed = read_case(fdb, case_id)
    if point in BEFORE_COMMIT:  # nothing of the completion survived: not even a letter number
        assert crashed == before and table_rows(fdb) == rows_before
        status, body = healthy.request("POST", path, {"intake_choice": "accept"}, token)
        assert status == 200, body
    else:  # all of it survived; repeating it (the user presses again) is refused, not done twice
        assert_intake_accepted_once(before, crashed)
    status, body = healthy.request("POST", path, {"intake_choice": "accept"}, token)
    assert (status, body["error"]["code"]) == (409, "task_closed"), body
    healthy.stop()
    final = read_case(fdb, case_id)
    assert_intake_accepted_once(before, final)
    if point not in BEFORE_COMMIT:
        assert final == crashed


def test_web_process_killed_while_submitting(fdb, servers):
    case_id = fdb.ids["case_b"]
    path = f"/api/v1/cases/{case_id}/submit"
    dying, healthy = servers(fdb, "process.start.before_commit")
    token = dying.token("applicant1")
    before, rows_before = read_case(fdb, case_id), table_rows(fdb)
    assert before["status"] == "draft" and before["number"] is None and before["lock_version"] is None

    dying.killed_by("POST", path, token)

    assert read_case(fdb, case_id) == before and table_rows(fdb) == rows_before  # still a draft, no number used
    status, body = healthy.request("POST", path, token=token)
    assert status == 200 and body["status"] == "in_progress", body
    status, body = healthy.request("POST", path, token=token)  # a repeated submission is refused
    assert (status, body["error"]["code"]) == (409, "duplicate_submission"), body
    healthy.stop()
    after = read_case(fdb, case_id)
    assert after["number"] == "YY-2026-000003"  # A and C took 1 and 2: no gap from the crash
    assert after["tasks"] == [("intake_review", "open")] and after["events"]["task_opened"] == 1
    assert after["audit"]["process.start"] == before["audit"]["process.start"] + 1


def timer_facts(fdb: FaultDB, at) -> dict:
    with fdb.app.app_context():
        try:
            jobs = db.session.scalars(select(TimerJob)).all()
            return {
                "jobs": {j.id: j.status for j in jobs},
                "due": {j.id for j in jobs if j.status == "pending" and j.fire_at <= at},
                "fires": Counter(db.session.scalars(select(AuditEvent.object_id)
                                                    .where(AuditEvent.action == "timer.fire"))),
                "fired_events": db.session.scalar(select(func.count()).select_from(CaseEvent)
                                                  .where(CaseEvent.action == "timer_fired")),
                "withdrawn": db.session.scalar(select(func.count()).select_from(CaseEvent).where(
                    CaseEvent.action == "status_changed", CaseEvent.to_status == "withdrawn")),
                "case_c": db.session.get(Case, fdb.ids["case_c"]).status,
            }
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("point", ["worker.timer.before_commit", "worker.timer.after_commit"])
def test_worker_killed_while_firing_a_timer(fdb, point):
    at = T0 + timedelta(days=30)  # the 补正 deadline of case C has passed
    before = timer_facts(fdb, at)
    assert before["case_c"] == "supplement" and before["due"] and not before["fires"]

    crashed = run_worker(fdb, at, point)
    assert crashed.returncode == KILLED, crashed.stderr.decode()[-2000:]
    partial = timer_facts(fdb, at)
    if point == "worker.timer.before_commit":
        assert partial == before  # the fired timer was rolled back with everything it did
    else:
        fired = {job for job, status in partial["jobs"].items() if status == "fired"}
        assert len(fired) == 1 and set(partial["fires"]) == fired and partial["fired_events"] == 1

    rerun = run_worker(fdb, at)  # the restarted worker finishes the job
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    after = timer_facts(fdb, at)
    fired = {job for job, status in after["jobs"].items() if status == "fired"}
    assert before["due"] <= fired and not after["due"]
    assert set(after["fires"]) == fired and set(after["fires"].values()) == {1}  # each timer fired exactly once
    assert after["fired_events"] == len(fired)
    assert after["case_c"] == "withdrawn" and after["withdrawn"] == 1


class Receiver:
    """The provincial platform's push endpoint: records every delivery and applies each key's effect once."""

    def __init__(self):
        self.deliveries: Counter = Counter()
        self.effects: dict[str, dict] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                receiver.deliveries[key] += 1
                receiver.effects.setdefault(key, payload)  # a repeat of a known key is dropped
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def push_row(fdb: FaultDB) -> dict:
    with fdb.app.app_context():
        try:
            row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == PUSH_KEY))
            return {"status": row.status, "attempts": row.attempts, "delivered": row.delivered_at is not None}
        finally:
            db.session.remove()
            db.engine.dispose()


def test_worker_killed_after_the_push_succeeded(fdb):
    receiver = Receiver()
    try:
        at = T0 + timedelta(hours=1)
        crashed = run_worker(fdb, at, "outbox.after_send", PUSH_URL=receiver.url)
        assert crashed.returncode == KILLED, crashed.stderr.decode()[-2000:]
        assert receiver.deliveries == {PUSH_KEY: 1}
        assert push_row(fdb) == {"status": "sending", "attempts": 1, "delivered": False}

        # While the dead worker's claim lasts nobody sends again; after it expires the message goes once more.
        assert run_worker(fdb, at, PUSH_URL=receiver.url).returncode == 0
        assert receiver.deliveries == {PUSH_KEY: 1}
        rerun = run_worker(fdb, at + outbox.CLAIM_LEASE + timedelta(minutes=1), PUSH_URL=receiver.url)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    finally:
        receiver.close()
    assert receiver.deliveries == {PUSH_KEY: 2}  # at least once, both times with the same key …
    assert list(receiver.effects) == [PUSH_KEY]  # … so the receiver applied it once
    assert push_row(fdb) == {"status": "delivered", "attempts": 2, "delivered": True}


def test_postgres_pool_tests_idle_connections_before_use(tmp_path):
    """A connection broken by a server restart is replaced, not used: one idle a second or more is pinged at
    checkout (app._ping_when_idle; tests/reliability/test_pool_ping_pg.py runs it), not every one (pool_pre_ping,
    which production's settings no longer ask for either)."""
    from config import ProductionConfig

    app = make_app("postgresql://nobody@127.0.0.1:1/none", tmp_path)  # no connection is made
    with app.app_context():
        listeners = [fn.__name__ for fn in db.engine.pool.dispatch.checkout]
        assert db.engine.pool._pre_ping is False and "_checked_out" in listeners
    assert "pool_pre_ping" not in ProductionConfig.SQLALCHEMY_ENGINE_OPTIONS


def test_a_repeated_objection_form_files_one_case(web, seeded):
    """A browser sending the filing form again (its first response was lost) gets no second case."""
    applicant, record = web("applicant1"), own_record("applicant1")
    form = {"action": "objection", "objection-reason": "wrong_content", "objection-statement": "认定文书已被撤销。"}
    responses = [applicant.post(
        f"/portal/records/{record.id}", content_type="multipart/form-data",
        data={**form, "objection-evidence": [(io.BytesIO(PDF_BYTES), "撤销决定书.pdf")],
              "objection-commitment": (io.BytesIO(PDF_BYTES), "承诺书.pdf")}) for _ in range(2)]
    assert responses[0].status_code == 302
    assert responses[1].status_code == 200 and "同一记录同时只能有一件异议" in responses[1].get_data(as_text=True)
    cases = db.session.scalars(select(Case).where(Case.type != "registration", Case.record_id == record.id, Case.type == "objection")).all()
    assert [c.status for c in cases] == ["in_progress"]
    assert db.session.scalar(select(func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == cases[0].id, CaseEvent.action == "attachment_added")) == 2
