"""Single-request cost of the scenario's pages: CPU ms in the app process, SQL statements, page size.

Run with the app's virtualenv against the load database (scripts/loadtest.sh does, before the load starts):
    DATABASE_URL=... SESSION_COOKIE_SECURE=0 .venv/bin/python loadtest/page_costs.py > page_costs.md
Each page is requested in-process (Flask test client, no HTTP server), warmed once, then timed; the median of a
few requests is printed. CPU time does not depend on what else the machine runs, so these figures stay comparable
when the load test itself ran on a busy machine.
"""
from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from app import create_app  # noqa: E402

PASSWORD = "Xinyong@2026"
STATEMENTS = [0]


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_args):
    STATEMENTS[0] += 1


def login(client, username: str) -> float:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    started = time.process_time()
    response = client.post("/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"login as {username} answered {response.status_code}")
    return (time.process_time() - started) * 1000


def measure(client, path: str, repeat: int) -> tuple[float, float, int, float, str]:
    client.get(path)  # warm: templates compiled, caches filled
    cpu, wall = [], []
    for _ in range(repeat):
        STATEMENTS[0] = 0
        started, begun = time.process_time(), time.perf_counter()
        response = client.get(path)
        cpu.append((time.process_time() - started) * 1000)
        wall.append((time.perf_counter() - begun) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
    text = response.get_data(as_text=True)
    return statistics.median(cpu), statistics.median(wall), STATEMENTS[0], len(response.data) / 1024, text


def main() -> None:
    app = create_app()
    app.config["PREFERRED_URL_SCHEME"] = "http"  # the test client would otherwise speak HTTPS (production config)
    rows = []
    # No app context around the requests: each request gets its own, with a fresh session, as in production.
    applicant = app.test_client()
    rows.append(("POST /login (password hash check)", login(applicant, "applicant1"), None, None, None))
    _, _, _, _, text = measure(applicant, "/portal/records", 1)
    record = re.findall(r'href="/portal/records/(\d+)"', text)[len(text) % 7]
    for label, path, repeat in (("GET /portal/cases", "/portal/cases", 3),
                                ("GET /portal/records", "/portal/records", 5),
                                ("GET /portal/records/[id]", f"/portal/records/{record}", 9),
                                ("GET /notifications", "/notifications", 9)):
        cpu, wall, statements, size, text = measure(applicant, path, repeat)
        rows.append((label, cpu, wall, statements, size))
        if path == "/portal/cases":
            case = re.findall(r'href="/cases/(\d+)"', text)[5]
    rows.append(("GET /cases/[id] (applicant)", *measure(applicant, f"/cases/{case}", 9)[:4]))
    reviewer = app.test_client()
    login(reviewer, "intake1")
    for tab in ("mine", "group", "due_soon", "overdue", "done"):
        cpu, wall, statements, size, text = measure(reviewer, f"/tasks/inbox?scope={tab}", 9)
        rows.append((f"GET /tasks/inbox?scope={tab} (intake1)", cpu, wall, statements, size))
        if tab == "group":
            task = re.findall(r'<a href="/tasks/([0-9a-f-]{36})">', text)[3]
    rows.append(("GET /tasks/[id] (intake1)", *measure(reviewer, f"/tasks/{task}", 9)[:4]))
    print("| page | CPU ms | wall ms | SQL statements | KiB |")
    print("|---|---:|---:|---:|---:|")
    for label, cpu, wall, statements, size in rows:
        extra = (f"{wall:,.0f} | {statements:,} | {size:,.0f}" if wall is not None else "– | – | –")
        print(f"| `{label}` | {cpu:,.0f} | {extra} |")


if __name__ == "__main__":
    main()
