"""CPU accounting for a load-test run, from /proc (Linux): who used the machine's cores during the run.

    python loadtest/cpu.py sample OUT.json DATABASE name=PID ...   # until SIGTERM/SIGINT, one sample a second

Each group is the named PIDs with all their descendants, counted by sampling every second so that processes that
end during the run (gunicorn's recycled workers, pooled PostgreSQL backends) still count with their last sample
(children's CPU is never taken from a parent's cutime, which would count a reaped worker twice). PostgreSQL
backends are recognised by their process title (`postgres: USER DATABASE ...`). What the machine spent beyond all
groups is "everything else".
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _read() -> dict[str, tuple[str, float, str]]:
    """pid -> (ppid, CPU seconds of the process itself, process title)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
        found[entry.name] = (fields[1], (int(fields[11]) + int(fields[12])) / TICK, title)  # utime + stime
    return found


def _busy() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK  # all but idle and iowait


def sample(out: str, database: str, specs: list[str]) -> None:
    roots = {}
    for spec in specs:
        name, _, pids = spec.partition("=")
        roots[name] = {p for p in pids.split(",") if p}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    started, busy0 = time.time(), _busy()
    first = _read()
    baseline = {pid: cpu for pid, (_, cpu, _) in first.items()}
    members: dict[str, set[str]] = {name: set(pids) for name, pids in roots.items()}
    backend = f" {os.environ.get('PGUSER', 'postgres')} {database} "  # "postgres: 15/main: USER DB HOST(PORT) ..."
    pg_name = f"PostgreSQL backends of database {database}"
    members[pg_name] = set()
    last: dict[str, float] = {}
    while True:
        now = _read()
        for pid, (ppid, cpu, title) in now.items():
            last[pid] = cpu
            for name, group in members.items():
                if pid in group:
                    break
                is_backend = title.startswith("postgres:") and backend in title
                if (name == pg_name and is_backend) or (name != pg_name and ppid in group):
                    group.add(pid)
                    break
        if stop:
            break
        time.sleep(1)
    groups = {name: round(sum(last.get(pid, 0.0) - baseline.get(pid, 0.0) for pid in group), 1)
              for name, group in members.items()}
    busy = _busy() - busy0
    groups["everything else on the machine"] = round(max(0.0, busy - sum(groups.values())), 1)
    Path(out).write_text(json.dumps({"wall_s": round(time.time() - started, 1), "busy_s": round(busy, 1),
                                     "groups": groups}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    sample(sys.argv[1], sys.argv[2], sys.argv[3:])
