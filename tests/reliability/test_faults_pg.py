"""PostgreSQL restarted under load: no unit of work lost or doubled, and the app recovers without a restart.

A private PostgreSQL instance (never the shared one) serves gunicorn (2 workers x 4 threads). Client threads
accept intake reviews and submit drafts through the API and file objections through the web form; halfway
through, PostgreSQL is stopped with ``-m immediate`` (crash recovery on start) and started again. Clients retry
on connection errors and 5xx as a browser user would; a retry that finds its work already done is answered
409 (API) or with the "one open objection per record" notice (web form), never by doing it twice.
"""
from __future__ import annotations

import glob
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Case, CaseEvent, HumanTask, Letter, ProcessInstance
from app.services import applications, audit
from tests.support.constants import PASSWORD, ROOT
from tests.support.files import PDF_BYTES
from tests.support.flows import draft_objection, extra_records
from tests.support.harness import free_port, make_app, seeded_world
from tests.support import subprocesses

pytestmark = pytest.mark.postgres

N_COMPLETE = 16  # intake reviews accepted through the API, each issuing a numbered 受理通知书
N_SUBMIT = 8  # drafts submitted through the API
N_FILE = 8  # objections filed through the web form (create, attach and submit in one POST)
CLIENTS = 8
GIVE_UP = 120  # seconds a client keeps retrying one unit of work


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    assert found, "PostgreSQL server binaries (initdb) are not installed"
    return Path(found[-1]).parent


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port, with its socket and data in one temporary directory."""

    def __init__(self):
        self.bin = _pg_bin()
        self.base = Path(tempfile.mkdtemp(prefix="xinyong-faults-pg-"))
        self.data, self.log = self.base / "data", self.base / "server.log"
        self.port = free_port()
        # initdb refuses to run as root: the cluster belongs to the postgres account then.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            shutil.chown(self.base, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/xinyong"

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.as_owner, str(self.bin / tool), *args], capture_output=True, timeout=120)
        assert result.returncode == 0, (tool, result.stdout.decode()[-1000:], result.stderr.decode()[-1000:])

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c deadlock_timeout=100ms"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_owner, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture()
def private_pg():
    server = PrivatePostgres()
    try:
        server.start()
        subprocess.run([str(server.bin / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                        "xinyong"], check=True, capture_output=True, timeout=60)
        yield server
    finally:
        server.remove()


def build(url: str, files: Path) -> dict:
    """Seed; N_COMPLETE objections at intake review, N_SUBMIT complete drafts, N_FILE untouched records."""
    with seeded_world(url, files) as applicant:
        records = extra_records(applicant, N_COMPLETE + N_SUBMIT + N_FILE)
        to_complete = [draft_objection(applicant, r) for r in records[:N_COMPLETE]]
        for case in to_complete:
            applications.submit_case(applicant, case.id)
        to_submit = [draft_objection(applicant, r) for r in records[N_COMPLETE:N_COMPLETE + N_SUBMIT]]
        db.session.commit()
        return {
            "tasks": {t.id: t.case_id for t in db.session.scalars(select(HumanTask).where(
                HumanTask.case_id.in_([c.id for c in to_complete])))},
            "drafts": [c.id for c in to_submit],
            "records": [r.id for r in records[N_COMPLETE + N_SUBMIT:]],
        }


@dataclass
class Tally:
    outcomes: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)
    unexpected: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def retry(self, why: str) -> None:
        with self.lock:
            self.retries[why] += 1


class SessionLost(Exception):
    """The browser was sent to the login page: sign in again and retry, as a person would."""


class Client:
    """One user agent: API tokens for staff and applicant, a logged-in browser session for the web form."""

    def __init__(self, base: str, tokens: dict):
        self.base, self.tokens = base, tokens
        self.browser: requests.Session | None = None

    def _csrf(self, path: str) -> str:
        page = self.browser.get(self.base + path, timeout=30, allow_redirects=False)
        if page.status_code == 302 and "/login" in page.headers.get("Location", ""):
            self.browser = None
            raise SessionLost(path)
        if page.status_code != 200:
            raise ConnectionError(f"GET {path}: {page.status_code}")
        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text).group(1)

    def _login(self) -> None:
        self.browser = requests.Session()
        response = self.browser.post(self.base + "/login", timeout=30, allow_redirects=False, data={
            "csrf_token": self._csrf("/login"), "username": "applicant1", "password": PASSWORD})
        if response.status_code != 302:
            self.browser = None
            raise ConnectionError(f"login: {response.status_code}")

    def send(self, kind: str, target) -> tuple[int, str]:
        """Do one attempt; return (status, code) where code names what the answer means."""
        if kind in ("complete", "submit"):
            path, token = ((f"/api/v1/tasks/{target}/complete", self.tokens["intake1"]) if kind == "complete"
                           else (f"/api/v1/cases/{target}/submit", self.tokens["applicant1"]))
            response = requests.post(self.base + path, json={"intake_choice": "accept"} if kind == "complete" else {},
                                     headers={"Authorization": f"Bearer {token}"}, timeout=30)
            code = ""
            if response.headers.get("Content-Type", "").startswith("application/json"):
                code = ((response.json() or {}).get("error") or {}).get("code", "")
            return response.status_code, code
        if self.browser is None:
            self._login()
        path = f"/portal/records/{target}"
        response = self.browser.post(self.base + path, timeout=30, allow_redirects=False, data={
            "csrf_token": self._csrf(path), "action": "objection", "objection-reason": "wrong_content",
            "objection-statement": "认定文书已被撤销。"}, files={
            "objection-evidence": ("撤销决定书.pdf", PDF_BYTES, "application/pdf"),
            "objection-commitment": ("承诺书.pdf", PDF_BYTES, "application/pdf")})
        if response.status_code == 302 and "/cases/" in response.headers.get("Location", ""):
            return 302, "filed"
        if response.status_code == 200 and "同一记录同时只能有一件异议" in response.text:
            return 200, "already_open"
        if response.status_code == 302 and "/login" in response.headers.get("Location", ""):
            self.browser = None
            raise SessionLost(path)
        return response.status_code, response.headers.get("Location", "")


DONE_FIRST = {"complete": (200, ""), "submit": (200, ""), "file": (302, "filed")}
# What a retry sees when its earlier attempt committed but the answer was lost.
DONE_EARLIER = {"complete": (409, "task_closed"), "submit": (409, "duplicate_submission"),
                "file": (200, "already_open")}


def perform(client: Client, kind: str, target, tally: Tally) -> None:
    """Do one unit of work, retrying like a user would until the answer says it is done."""
    deadline = time.monotonic() + GIVE_UP
    failed_before = False
    while time.monotonic() < deadline:
        try:
            status, code = client.send(kind, target)
        except (requests.RequestException, ConnectionError, SessionLost) as exc:
            status, code = 0, type(exc).__name__
        if (status, code) == DONE_FIRST[kind] or (status == 200 and kind != "file"):
            tally.add(f"{kind}:done")
            return
        if failed_before and (status, code) == DONE_EARLIER[kind]:
            tally.add(f"{kind}:done_before_the_answer_was_lost")
            return
        if status == 0 or status >= 500 or (status, code) == (409, "locked"):
            failed_before = True
            tally.retry(f"{kind}:{status or code}")
            time.sleep(0.2)
            continue
        tally.unexpected.append((kind, target, status, code))
        return
    tally.unexpected.append((kind, target, "gave up"))


def gunicorn(url: str, files: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "APP_ENV": "test", "TEST_DATABASE_URL": url, "FILE_STORE": str(files)}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4",
                                 "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "wsgi:app"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "gunicorn did not start"
        try:
            if requests.get(base + "/api/v1/openapi.json", timeout=5).status_code == 200:
                return proc, base
        except requests.RequestException:
            time.sleep(0.2)


def workers_of(proc: subprocess.Popen) -> set[int]:
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return {int(pid) for pid in children}


def test_postgres_restart_under_load_loses_and_doubles_nothing(private_pg, tmp_path):
    files = tmp_path / "files"
    plan = build(private_pg.url, files)
    proc, base = gunicorn(private_pg.url, files, tmp_path / "gunicorn.log")
    try:
        tokens = {}
        for username in ("intake1", "applicant1"):
            response = requests.post(base + "/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                                     timeout=30)
            assert response.status_code == 200, response.text
            tokens[username] = response.json()["token"]
        workers = workers_of(proc)
        assert len(workers) == 2

        work = ([("complete", t) for t in plan["tasks"]] + [("submit", c) for c in plan["drafts"]]
                + [("file", r) for r in plan["records"]])
        random.Random(6).shuffle(work)
        pending: queue.Queue = queue.Queue()
        for unit in work:
            pending.put(unit)
        tally = Tally()

        def client_loop():
            client = Client(base, tokens)
            while True:
                try:
                    kind, target = pending.get_nowait()
                except queue.Empty:
                    return
                perform(client, kind, target, tally)

        started = time.monotonic()
        threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        while sum(tally.outcomes.values()) < len(work) // 3:  # restart once a third of the work is done
            assert any(t.is_alive() for t in threads)
            time.sleep(0.02)
        done_at_restart = sum(tally.outcomes.values())
        down = time.monotonic()
        private_pg.stop("immediate")  # like a crash: the server recovers from its WAL on start
        time.sleep(1.0)
        private_pg.start()
        outage = time.monotonic() - down
        for thread in threads:
            thread.join(timeout=GIVE_UP + 30)
        elapsed = time.monotonic() - started
        deadlocks = (tmp_path / "gunicorn.log").read_text(errors="replace").count("DeadlockDetected) deadlock detected")
        print(f"\n{len(work)} units by {CLIENTS} clients in {elapsed:.1f} s; PostgreSQL down {outage:.1f} s after "
              f"{done_at_restart} units; outcomes {dict(tally.outcomes)}; retries {dict(tally.retries)}; "
              f"deadlocks answered 500 {deadlocks}")

        assert not tally.unexpected, tally.unexpected
        assert sum(tally.outcomes.values()) == len(work)
        assert sum(tally.retries.values()) > 0  # the restart really hit requests in flight
        # The same app processes served before and after: nothing was restarted but the database.
        assert proc.poll() is None and workers_of(proc) == workers
        response = requests.get(f"{base}/api/v1/cases/{next(iter(plan['tasks'].values()))}", timeout=30,
                                headers={"Authorization": f"Bearer {tokens['applicant1']}"})
        assert response.status_code == 200
    finally:
        subprocesses.stop(proc, timeout=15)
    check_exactly_once(private_pg.url, files, plan)


def check_exactly_once(url: str, files: Path, plan: dict) -> None:
    app = make_app(url, files)
    with app.app_context():
        try:
            completed = db.session.scalars(select(HumanTask).where(HumanTask.id.in_(plan["tasks"]))).all()
            assert {t.status for t in completed} == {"completed"} and len(completed) == N_COMPLETE
            completions = Counter(db.session.scalars(select(CaseEvent.case_id).join(Case).where(
                CaseEvent.action == "task_completed", Case.type != "registration")))  # not the demo's own
            assert completions == Counter(plan["tasks"].values())  # each accepted exactly once
            letters = db.session.scalars(select(Letter).where(Letter.series == "异受")).all()
            assert Counter(letter.case_id for letter in letters) == Counter(plan["tasks"].values())
            assert sorted(letter.seq for letter in letters) == list(range(1, N_COMPLETE + 1))  # gap-free

            filed = db.session.scalars(select(Case).where(Case.record_id.in_(plan["records"]))).all()
            assert sorted(c.record_id for c in filed) == sorted(plan["records"])  # one case per record, no drafts
            submitted = db.session.scalars(select(Case).where(Case.id.in_(plan["drafts"]))).all()
            for case in [*filed, *submitted]:
                assert case.status == "in_progress", (case.id, case.status)
            total = N_COMPLETE + N_SUBMIT + N_FILE
            ours = Case.type != "registration"  # the demo's 24 registrations are numbered DJ-… and run instances too
            numbers = sorted(db.session.scalars(select(Case.number).where(Case.number.is_not(None), ours)))
            assert numbers == [f"YY-2026-{n:06d}" for n in range(1, total + 1)]  # gap-free, none doubled
            instances = Counter(db.session.scalars(select(ProcessInstance.case_id).join(Case).where(ours)))
            assert len(instances) == total and set(instances.values()) == {1}
            intake_tasks = Counter(db.session.scalars(select(HumanTask.case_id).where(
                HumanTask.bpmn_id == "intake_review")))
            assert len(intake_tasks) == total and set(intake_tasks.values()) == {1}
            audited = Counter(db.session.scalars(select(AuditEvent.action).where(
                AuditEvent.action.in_(("process.start", "task.complete", "letter.issue")))))
            demo = db.session.scalar(select(func.count()).select_from(Case).where(Case.type == "registration"))
            # Each demo registration: its start, its review and its letter pair.
            assert audited == {"process.start": total + demo, "task.complete": N_COMPLETE + demo,
                               "letter.issue": N_COMPLETE + 2 * demo}
            checked, problems = audit.verify_chain()
            assert checked and not problems, problems
            assert db.session.scalar(select(func.count()).select_from(Case).where(ours)) == total  # no stray drafts
        finally:
            db.session.remove()
            db.engine.dispose()
