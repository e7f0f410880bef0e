"""Write report.md for one load-test run from Locust's CSV files and the run's metadata (scripts/loadtest.sh).

Usage: python loadtest/report.py RUN_DIR   (reads RUN_DIR/locust_stats.csv, locust_failures.csv, meta.json,
side.json, cpu.json, pg_tables.json; writes RUN_DIR/report.md; exit 0 on PASS, 1 on FAIL).
"""
from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

TARGET_P95_MS = 200
TARGET_ERRORS = 0


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _num(row: dict, key: str) -> float:
    value = row.get(key, "") or "0"
    return float(value) if value != "N/A" else 0.0


def _fmt_ms(value: float) -> str:
    return f"{value:,.0f}"


ID_PATTERNS = ((re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "/[id]"),
               (re.compile(r"/\d+(?=/|$|\.)"), "/[id]"))


def _pct(samples: list[float], q: int) -> float:
    return samples[min(len(samples) - 1, max(0, round(q / 100 * len(samples)) - 1))]


def server_times(path: Path) -> list[tuple[str, list[float]]]:
    """Server-side milliseconds per route pattern from lines `METHOD PATH STATUS BYTES MICROSECONDS`, all first."""
    if not path.exists():
        return []
    routes: dict[str, list[float]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 5 or not parts[4].isdigit():
            continue
        route = parts[1]
        for pattern, replacement in ID_PATTERNS:
            route = pattern.sub(replacement, route)
        ms = int(parts[4]) / 1000
        routes.setdefault(f"{parts[0]} {route}", []).append(ms)
        routes.setdefault("all requests", []).append(ms)
    ordered = sorted(routes.items(), key=lambda kv: (kv[0] != "all requests", -len(kv[1])))
    return [(route, sorted(samples)) for route, samples in ordered]


IDLE_FRAMES = ("wait (threading.py", "select (selectors.py", "accept (socket.py", "sleep (gunicorn", "_recv_into",
               "_read_exactly", "run_for_one", "_wait_for")


# The project's code (py-spy prints paths relative to the working directory), templates, and the database driver.
OWN_FRAME = re.compile(r"\((?:/work/main/)?(?:app|forms)/|templates/|\(psycopg/cursor\.py")


SIGN_IN = ("POST /login", "POST /api/v1/auth/token")


def _password_checks(routes: list[dict], page_costs: Path) -> tuple[int, float] | None:
    """How many requests checked a password, and one check's CPU ms as page_costs.py measured it (None: unknown)."""
    if not page_costs.exists():
        return None
    found = re.search(r"^\| `POST /login \(password hash check\)` \| (\d+(?:\.\d+)?) \|", page_costs.read_text("utf-8"), re.M)
    checks = sum(int(_num(r, "Request Count")) for r in routes
                 if r["Name"] in SIGN_IN or f"{r.get('Type', '')} {r['Name']}" in SIGN_IN)
    return (checks, float(found.group(1))) if found and checks else None


def hot_spots(path: Path, top: int = 20) -> tuple[int, list[tuple[str, int]]] | None:
    """Inclusive sample counts per frame from py-spy's folded stacks (`frame;frame;... count`), idle stacks dropped."""
    if not path.exists():
        return None
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit() or any(idle in stack.rsplit(";", 1)[-1] for idle in IDLE_FRAMES):
            continue
        total += int(number)
        for frame in set(stack.split(";")):
            name = re.sub(r":\d+\)$", ")", frame.strip())
            if OWN_FRAME.search(name):
                counts[name] = counts.get(name, 0) + int(number)
    if not total:
        return None
    return total, sorted(counts.items(), key=lambda kv: -kv[1])[:top]


def _boots(path: Path) -> int:
    return path.read_text(errors="replace").count("Booting worker") if path.exists() else 0


def build(run: Path) -> tuple[str, bool]:
    """Return the report text and whether the run met the targets."""
    with (run / "locust_stats.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    routes = sorted((r for r in rows if r["Name"] != "Aggregated"), key=lambda r: -_num(r, "Request Count"))
    failures = []
    if (run / "locust_failures.csv").exists():
        with (run / "locust_failures.csv").open(encoding="utf-8") as handle:
            failures = list(csv.DictReader(handle))
    meta = _load_json(run / "meta.json")
    side = _load_json(run / "side.json")
    cpu = _load_json(run / "cpu.json")
    tables = _load_json(run / "pg_tables.json")

    requests = int(_num(total, "Request Count"))
    errors = int(_num(total, "Failure Count"))
    p95 = _num(total, "95%")
    passed = errors <= TARGET_ERRORS and p95 <= TARGET_P95_MS and requests > 0
    lines = [
        f"# Load test {meta.get('started', '')} — {'PASS' if passed else 'FAIL'}"
        + (" (diagnostic: part of the scenario left out)" if meta.get("skipped") else ""),
        "",
        f"Targets (QUALITY.md §2, issue 6.5): {TARGET_ERRORS} errors and p95 ≤ {TARGET_P95_MS} ms over all requests.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| requests | {requests:,} | |",
        f"| errors | {errors:,} ({errors / requests:.2%} of requests) | {TARGET_ERRORS} → "
        f"{'met' if errors <= TARGET_ERRORS else 'MISSED'} |" if requests else "| errors | – | |",
        f"| throughput | {_num(total, 'Requests/s'):.1f} req/s | |",
        f"| p50 / p95 / p99 | {_fmt_ms(_num(total, '50%'))} / {_fmt_ms(p95)} / {_fmt_ms(_num(total, '99%'))} ms | "
        f"p95 ≤ {TARGET_P95_MS} ms → {'met' if p95 <= TARGET_P95_MS else 'MISSED'} |",
        f"| max | {_fmt_ms(_num(total, 'Max Response Time'))} ms | |",
        "",
        "The verdict is taken over the whole run, the spawn phase (every user logging in) included."]
    steady = _load_json(run / "steady.json")
    if steady:
        met = steady["failures"] <= TARGET_ERRORS and steady["p95"] <= TARGET_P95_MS
        lines += [
            "",
            f"Once all users were running (the last {steady['seconds']:.0f} s): {steady['requests']:,} requests, "
            f"{steady['failures']} errors, {steady['rps']:.1f} req/s, p50 / p95 / p99 {_fmt_ms(steady['p50'])} / "
            f"{_fmt_ms(steady['p95'])} / {_fmt_ms(steady['p99'])} ms, max {_fmt_ms(steady['max'])} ms — targets "
            f"{'met' if met else 'missed'} in this phase."]
    lines += [
        "",
        "## Set-up",
        "",
        f"- users: {meta.get('users')} (spawn rate {meta.get('spawn_rate')}/s), run time {meta.get('run_time')}; "
        "reviewers and applicants 1:1, think time 1–5 s (loadtest/locustfile.py)"
        + (f"; **diagnostic run: tasks left out: {meta['skipped']}**" if meta.get("skipped") else ""),
        f"- data: {meta.get('cases')} generated cases on top of the demo data, database `{meta.get('database')}`",
        f"- app: gunicorn {meta.get('gunicorn')} {meta.get('gunicorn_args')}, APP_ENV={meta.get('app_env')}; "
        "one `flask worker` beside it",
        f"- machine: {meta.get('cores')} cores ({meta.get('cpu_model')}), {meta.get('memory')}; Locust, gunicorn, the "
        "worker and PostgreSQL all run on it",
        f"- versions: Python {meta.get('python')}, PostgreSQL {meta.get('postgres')}, Locust {meta.get('locust')}, "
        f"app commit {meta.get('commit')}",
        f"- load average before the run: {meta.get('loadavg_before')}; gunicorn workers booted during the run "
        f"(start-up and max_requests recycling): {_boots(run / 'gunicorn.log')}",
        "",
        "Percentiles are Locust's (whole run including the spawn phase; Locust rounds response times above 100 ms to "
        "two significant digits). Throughput counts every request, redirects not followed (each page is its own "
        "request).",
        "",
        "## Per request type",
        "",
        "| request | count | errors | req/s | p50 ms | p95 ms | p99 ms | max ms | avg bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in routes:
        name = f"{r['Type']} {r['Name']}" if not r["Name"].startswith("POST") else r["Name"]
        lines.append(f"| `{name}` | {int(_num(r, 'Request Count')):,} | {int(_num(r, 'Failure Count')):,} | "
                     f"{_num(r, 'Requests/s'):.1f} | {_fmt_ms(_num(r, '50%'))} | {_fmt_ms(_num(r, '95%'))} | "
                     f"{_fmt_ms(_num(r, '99%'))} | {_fmt_ms(_num(r, 'Max Response Time'))} | "
                     f"{_num(r, 'Average Content Size'):,.0f} |")
    if (run / "page_costs.md").exists() and (run / "page_costs.md").stat().st_size:
        lines += ["", "## Single-request cost per page (before the load, loadtest/page_costs.py)", "",
                  "One request at a time in the app process (no HTTP server): CPU time of the app process (not "
                  "PostgreSQL's), SQL statements sent, HTML size. Median of a few requests.", "",
                  (run / "page_costs.md").read_text(encoding="utf-8").strip()]
    server = server_times(run / "access.log")
    if server:
        lines += ["", "## Server time (gunicorn access log)", "",
                  "Time from gunicorn reading the request to the last byte written, per route: the part of the "
                  "response time spent in the app and the database, without Locust's own queueing.", "",
                  "| route | count | p50 ms | p95 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|"]
        for route, samples in server:
            lines.append(f"| `{route}` | {len(samples):,} | {_pct(samples, 50):,.0f} | {_pct(samples, 95):,.0f} | "
                         f"{_pct(samples, 99):,.0f} | {samples[-1]:,.0f} |")
    hot = hot_spots(run / "profile.folded")
    if hot:
        total_samples, frames = hot
        lines += ["", "## Where one gunicorn worker spent its time (py-spy, --profile)", "",
                  f"{total_samples:,} samples of all its threads, idle waits left out; share of samples in which the "
                  "frame was on the stack (the project's own code and the libraries' entry points).", "",
                  "| frame | share |", "|---|---:|"]
        lines += [f"| `{frame}` | {count / total_samples:.0%} |" for frame, count in frames]
    lines += ["", "## Errors", ""]
    if failures:
        lines += ["| request | error | occurrences |", "|---|---|---:|"]
        for f in failures:
            name = f["Name"] if f["Name"].startswith("POST ") else f"{f['Method']} {f['Name']}"
            lines.append(f"| `{name}` | {f['Error'].replace('|', '/')[:200]} | {f['Occurrences']} |")
    else:
        lines.append("None.")
    if side:
        lines += ["", "## Work done (not errors)", "",
                  "Refusals the app answered correctly (flash message, nothing changed) when two sessions raced.", ""]
        lines += [f"- {key}: {value}" for key, value in sorted(side.items())]
    if cpu:
        lines += ["", "## Where the CPU went during the run", "",
                  "CPU seconds used by each process group between the start and the end of the Locust run "
                  f"(wall time {cpu.get('wall_s', 0):.0f} s, so at most "
                  f"{cpu.get('wall_s', 0) * (meta.get('cores') or 1):.0f} CPU seconds on this machine).", "",
                  "| process | CPU s | share of machine |", "|---|---:|---:|"]
        capacity = cpu.get("wall_s", 0) * (meta.get("cores") or 1) or 1
        for key, seconds in cpu.get("groups", {}).items():
            lines.append(f"| {key} | {seconds:.0f} | {seconds / capacity:.0%} |")
        app = sum(v for k, v in cpu.get("groups", {}).items() if k.startswith(("gunicorn", "PostgreSQL")))
        if requests:
            lines += ["", f"The app (gunicorn and its PostgreSQL backends) spent {app / requests * 1000:.1f} ms of CPU "
                      f"per request on average: {app / cpu.get('wall_s', 1):.2f} cores at this request rate."]
            signing_in = _password_checks(routes, run / "page_costs.md")
            if signing_in:
                checks, each_ms = signing_in
                rest = max(app - checks * each_ms / 1000, 0)
                lines += ["", f"Of that, about {checks * each_ms / 1000:.0f} s went on the {checks:,} password checks "
                          f"of signing in (`POST /login` and `POST /api/v1/auth/token`, {each_ms:.0f} ms of CPU each "
                          "before the load: the scrypt hash, deliberately slow); the other requests cost about "
                          f"{rest / max(requests - checks, 1) * 1000:.1f} ms each."]
    if tables:
        lines += ["", "## PostgreSQL table activity during the run", "",
                  "| table | seq scans | rows read by seq scans | index scans |", "|---|---:|---:|---:|"]
        for name, figures in sorted(tables.items(), key=lambda kv: -kv[1].get("seq_tup_read", 0))[:12]:
            lines.append(f"| {name} | {figures.get('seq_scan', 0):,} | {figures.get('seq_tup_read', 0):,} | "
                         f"{figures.get('idx_scan', 0):,} |")
    lines += ["", "Files: `locust_stats.csv`, `locust_stats_history.csv`, `locust_failures.csv`, `locust.html`, "
              "`access.log` (gunicorn, query strings left out), `gunicorn.log`, `worker.log`, `locust.log`.", ""]
    return "\n".join(lines), passed


def main() -> int:
    run = Path(sys.argv[1])
    text, passed = build(run)
    (run / "report.md").write_text(text, encoding="utf-8")
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
