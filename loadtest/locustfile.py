"""Mixed reviewer and applicant traffic for the load test (issue 6 point 5); run by scripts/loadtest.sh.

Reviewers (intake1, verifier1, verifier2) work the task inbox: tabs and filters, task and case pages, the task API,
claim and release, and now and then complete a step that issues no letter (verifier1: 认定单位核查 → 核查无误;
intake1: 拟定处理意见 → 维持). Applicants (applicant1, applicant2) browse their records, cases and notifications and
now and then file an objection with two small PDFs. Several Locust users share one account, each with its own login
session, as colleagues at several desks would.

Every response must be exactly what a browser would get on success (200 for pages, 302 to the expected place for
form posts); anything else is a failure. A refusal the app answers correctly because two sessions of one account
raced for the same task (flash message, no change) is counted in the side figures, not as an error.
Request names are route patterns (`/tasks/[id]`) so the statistics group by route.
"""
from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

from locust import FastHttpUser, between, events, task

PASSWORD = os.environ.get("LOAD_PASSWORD", "Xinyong@2026")
# Reviewer sessions per account: the credit office's intake desk is the busiest, the court's verifier has little work.
REVIEWERS = ("intake1",) * 5 + ("verifier1",) * 4 + ("verifier2",)
APPLICANTS = ("applicant1", "applicant2")
INBOX_TABS = ("mine", "group", "group", "due_soon", "overdue", "done")
INBOX_FILTERS = ({"process": "objection"}, {"process": "rectification"}, {"due": "soon"}, {"due": "overdue"},
                 {"severity": "serious"}, {"category": "admin_penalty"})
# Steps a reviewer may complete without a letter being issued: (account, task title, form values).
HARMLESS_STEPS = {
    "verifier1": ("认定单位核查", {"verify_choice": "no_error", "opinion": "经核查，认定事实与文书一致。（负载测试）"}),
    "intake1": ("拟定处理意见", {"decision": "maintain", "reasons": "认定事实清楚，证据充分。（负载测试）"}),
}
# A small but well-formed PDF (the app sniffs the content, not the name).
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       + b"% padding to a realistic scan size\n" * 300 + b"trailer<</Root 1 0 R>>\n%%EOF\n")

CSRF = re.compile(r'name="((?:[\w-]+-)?csrf_token)" type="hidden" value="([^"]+)"')
TASK_ROW = re.compile(r'<a href="/tasks/([0-9a-f-]{36})">([^<]+)</a>')
CASE_LINK = re.compile(r'href="/cases/(\d+)"')
RECORD_LINK = re.compile(r'href="/portal/records/(\d+)"')
FLASH_ERROR = re.compile(r'class="flash flash-error"[^>]*>([^<]*)<')
PAGER = re.compile(r"第 \d+ / (\d+) 页")  # portal/_pager.html (Chinese UI): page n of N

# Side figures for the report (not errors): written as JSON when Locust quits, if LOAD_EXTRA_JSON names a file.
SIDE = Counter()
_side_lock = threading.Lock()


def count(key: str, n: int = 1) -> None:
    with _side_lock:
        SIDE[key] += n


# Response times once every user is running (after the spawn phase with its burst of logins), for the report's
# steady-state figures; written as JSON when Locust quits, if LOAD_STEADY_JSON names a file.
STEADY: dict = {"since": None, "until": None, "times": [], "failures": 0}


@events.spawning_complete.add_listener
def _steady_from_now(**_kwargs):
    STEADY["since"] = time.time()


@events.request.add_listener
def _steady_sample(response_time, exception=None, **_kwargs):
    if STEADY["since"] is not None and STEADY["until"] is None:
        STEADY["times"].append(response_time)
        STEADY["failures"] += exception is not None


@events.test_stop.add_listener
def _steady_until_now(**_kwargs):
    STEADY["until"] = STEADY["until"] or time.time()


@events.quitting.add_listener
def _write_side_figures(environment, **_kwargs):
    path = os.environ.get("LOAD_EXTRA_JSON")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(dict(SIDE), handle, ensure_ascii=False, indent=1, sort_keys=True)
    path, times = os.environ.get("LOAD_STEADY_JSON"), sorted(STEADY["times"])
    if path and times and STEADY["since"]:
        def pct(q: float) -> float:
            return round(times[min(len(times) - 1, int(q * len(times)))], 1)
        seconds = (STEADY["until"] or time.time()) - STEADY["since"]
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"seconds": round(seconds, 1), "requests": len(times), "failures": STEADY["failures"],
                       "rps": round(len(times) / seconds, 1) if seconds else 0, "p50": pct(0.50), "p95": pct(0.95),
                       "p99": pct(0.99), "max": round(times[-1], 1)}, handle, indent=1)


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """Encode a multipart/form-data body (FastHttpUser has no files= helper); return (body, content type)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode()
                     + b"\r\n")
    for name, filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def location_of(response) -> str:
    """The redirect target, or "" (also when the request got no response at all: headers are then None)."""
    return (response.headers or {}).get("Location", "")


def problem(response) -> str:
    """Describe a failed response; a request that timed out or lost its connection has status 0 and an error."""
    if not response.status_code or response.headers is None:
        return f"no response: {response.error!r}"
    return f"{response.status_code} {location_of(response)}".strip()


class Browser(FastHttpUser):
    """A signed-in browser session: pages must answer 200, form posts 302 to where the app sends a success."""

    abstract = True
    wait_time = between(1, 5)
    accounts: tuple[str, ...] = ()

    def on_start(self):
        self.username = random.choice(self.accounts)
        self.csrf = ""
        self.login()

    def remember_csrf(self, text: str) -> None:
        found = CSRF.search(text)
        if found:
            self.csrf = found.group(2)

    def page(self, path: str, name: str, marker: str | None = None) -> str | None:
        """GET a page without following redirects (a redirect to /login means the session was lost)."""
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as response:
            text = response.text or ""
            if response.status_code != 200:
                response.failure(problem(response))
                return None
            if marker and marker not in text:
                response.failure(f"page lacks {marker!r}")
                return None
            response.success()
        self.remember_csrf(text)
        return text

    def post_form(self, path: str, name: str, data: dict, expect: str) -> tuple[str | None, str]:
        """POST a form with the CSRF token; succeed on a 302 whose Location contains `expect`.

        Returns (location, flash error text); a 200 page with a flash error is a refusal, reported to the caller.
        """
        with self.client.post(path, name=name, data={"csrf_token": self.csrf, **data}, allow_redirects=False,
                              catch_response=True) as response:
            location = location_of(response)
            if response.status_code == 302 and expect in location:
                response.success()
                return location, ""
            refusal = FLASH_ERROR.search(response.text or "") if response.status_code == 200 else None
            if refusal:
                response.success()
                return None, refusal.group(1)
            response.failure(problem(response))
            return None, ""

    def login(self) -> None:
        self.page("/login", "/login")
        with self.client.post("/login", name="POST /login", allow_redirects=False, catch_response=True,
                              data={"csrf_token": self.csrf, "username": self.username, "password": PASSWORD}) as r:
            if r.status_code == 302:
                r.success()
            else:
                r.failure(f"login as {self.username}: {r.status_code}")
        # Logging in starts a new server-side session; the next page carries its CSRF token.


class Reviewer(Browser):
    """A credit-office or recording-unit reviewer at the task inbox."""

    weight = 1
    accounts = REVIEWERS

    def on_start(self):
        super().on_start()
        self.tasks_seen: list[tuple[str, str]] = []  # (task id, title) from the last inbox page
        self.group_seen: list[tuple[str, str]] = []  # unclaimed tasks from the last 本组待领 page
        self.cases_seen: list[str] = []
        self.inbox("group")
        with self.client.post("/api/v1/auth/token", name="POST /api/v1/auth/token", catch_response=True,
                              json={"username": self.username, "password": PASSWORD}) as response:
            token = response.json().get("token") if response.status_code == 200 else None
            if token:
                response.success()
            else:
                response.failure(f"{response.status_code}")
        self.bearer = {"Authorization": f"Bearer {token}"} if token else {}

    def inbox(self, tab: str, filters: dict | None = None) -> str | None:
        query = "&".join(f"{k}={v}" for k, v in (filters or {}).items())
        path = f"/tasks/inbox?scope={tab}" + (f"&{query}" if query else "")
        name = f"/tasks/inbox?scope={tab}" + ("&[filter]" if query else "")
        text = self.page(path, name)
        if text is None:
            return None
        rows = TASK_ROW.findall(text)
        if rows:
            self.tasks_seen = rows
        if tab == "group":
            self.group_seen = rows
        cases = CASE_LINK.findall(text)
        if cases:
            self.cases_seen = cases
        return text

    @task(6)
    def browse_inbox(self):
        self.inbox(random.choice(INBOX_TABS), random.choice(INBOX_FILTERS) if random.random() < 0.35 else None)

    @task(4)
    def open_task(self):
        if self.tasks_seen:
            task_id, _title = random.choice(self.tasks_seen)
            self.page(f"/tasks/{task_id}", "/tasks/[id]")

    @task(3)
    def open_case(self):
        if self.cases_seen:
            self.page(f"/cases/{random.choice(self.cases_seen)}", "/cases/[id]")

    @task(2)
    def api_tasks(self):
        if not self.bearer:
            return
        scope = random.choice(("mine", "group"))
        with self.client.get(f"/api/v1/tasks?scope={scope}", name=f"/api/v1/tasks?scope={scope}", headers=self.bearer,
                             catch_response=True) as response:
            if response.status_code == 200 and "items" in (response.json() or {}):
                response.success()
            else:
                response.failure(f"{response.status_code}")

    def claim(self, task_id: str) -> bool:
        """Claim a group task and open it; True when this account holds it afterwards."""
        location, refusal = self.post_form(f"/tasks/{task_id}/claim", "POST /tasks/[id]/claim", {}, f"/tasks/{task_id}")
        if location is None:
            count("claim refused (raced)" if refusal else "claim failed")
            return False
        text = self.page(f"/tasks/{task_id}", "/tasks/[id]")
        if text is None:
            return False
        if f"/tasks/{task_id}/release" not in text:
            count("claim lost to another account")
            return False
        count("claims")
        return True

    @task(2)
    def claim_and_release(self):
        if not self.group_seen:
            self.inbox("group")
            return
        task_id, _title = random.choice(self.group_seen)
        if not self.claim(task_id):
            return
        self.wait()  # reads the task before handing it back
        location, refusal = self.post_form(f"/tasks/{task_id}/release", "POST /tasks/[id]/release", {},
                                           "/tasks/inbox")
        count("releases" if location else "release refused (raced)" if refusal else "release failed")
        if location:
            self.inbox("group")

    @task(1)
    def complete_harmless_step(self):
        step = HARMLESS_STEPS.get(self.username)
        if step is None:
            return
        title, values = step
        # A random applicant unit's queue, so that sessions of one account rarely pick the same task.
        text = self.inbox("group", {"process": "objection", "unit": str(random.randint(1, 22))})
        candidates = [t for t, name in TASK_ROW.findall(text or "") if name.strip() == title]
        if not candidates:
            count("no step to complete")
            return
        task_id = random.choice(candidates)
        if not self.claim(task_id):
            return
        self.wait()  # fills in the form
        location, refusal = self.post_form(f"/tasks/{task_id}", "POST /tasks/[id] (complete)", values, "/tasks/inbox")
        if location:
            count(f"steps completed: {title}")
            self.inbox("mine")
        else:
            count("completion refused (raced)" if refusal else "completion failed")


class Applicant(Browser):
    """An affected unit's clerk in the applicant portal."""

    weight = 1
    accounts = APPLICANTS

    def on_start(self):
        super().on_start()
        self.records: list[str] = []
        self.cases: list[str] = []
        self.pages = {"/portal/records": 1, "/portal/cases": 1}  # page counts the lists' pagers announce
        self.records = self.list_page("/portal/records", RECORD_LINK, first=True)

    def list_page(self, path: str, link: re.Pattern, first: bool = False) -> list[str]:
        """Open a portal list: usually its first page, else a random one of the pages its pager announced."""
        number = 1 if first or random.random() < 0.5 else random.randint(1, self.pages[path])
        text = self.page(f"{path}?page={number}" if number > 1 else path,
                         f"{path}?page=[n]" if number > 1 else path)
        if not text:
            return []
        pager = PAGER.search(text)
        self.pages[path] = int(pager.group(1)) if pager else 1
        return link.findall(text)

    @task(3)
    def browse_records(self):
        self.records = self.list_page("/portal/records", RECORD_LINK) or self.records

    @task(3)
    def browse_cases(self):
        self.cases = self.list_page("/portal/cases", CASE_LINK) or self.cases

    @task(4)
    def open_record(self):
        if self.records:
            self.page(f"/portal/records/{random.choice(self.records)}", "/portal/records/[id]")

    @task(4)
    def open_case(self):
        if self.cases:
            self.page(f"/cases/{random.choice(self.cases)}", "/cases/[id]")

    @task(2)
    def notifications(self):
        self.page("/notifications", "/notifications")

    @task(1)
    def file_objection(self):
        """Open a record; where an objection may be filed, sometimes file one with evidence and a commitment."""
        if not self.records:
            return
        record_id = random.choice(self.records)
        text = self.page(f"/portal/records/{record_id}", "/portal/records/[id]")
        if not text or 'name="action" value="objection"' not in text or random.random() > 0.3:
            return
        self.wait()  # writes the statement and picks the scans
        body, content_type = multipart(
            [("objection-csrf_token", self.csrf), ("action", "objection"), ("objection-reason", "wrong_content"),
             ("objection-statement", "该记录所依据的处罚决定已被复议撤销，请予更正。（负载测试）")],
            [("objection-evidence", "evidence.pdf", PDF), ("objection-commitment", "commitment.pdf", PDF)],
        )
        with self.client.post(f"/portal/records/{record_id}", name="POST /portal/records/[id] (objection)",
                              data=body, headers={"Content-Type": content_type}, allow_redirects=False,
                              catch_response=True) as response:
            location = location_of(response)
            if response.status_code == 302 and "/cases/" in location:
                response.success()
            else:
                refusal = FLASH_ERROR.search(response.text or "")
                if response.status_code == 200 and refusal and "同一记录同时只能有一件异议" in refusal.group(1):
                    response.success()  # another session of this unit filed on the same record a moment earlier
                    count("objection refused (raced)")
                else:
                    response.failure(f"{problem(response)} {refusal.group(1) if refusal else ''}")
                return
        count("objections filed")
        self.page(urlsplit(location).path, "/cases/[id]")


# LOAD_SKIP=browse_cases,... leaves named tasks out (scripts/loadtest.sh --skip), e.g. to measure the rest of the
# traffic without one page known to be slow. The report names what was skipped.
SKIPPED = {name.strip() for name in os.environ.get("LOAD_SKIP", "").split(",") if name.strip()}
Reviewer.tasks = [t for t in Reviewer.tasks if t.__name__ not in SKIPPED]
Applicant.tasks = [t for t in Applicant.tasks if t.__name__ not in SKIPPED]
