"""CPU accounting for a load-test run, from /proc (Linux): who used the machine's cores during the run.

    python loadtest/cpu.py snapshot FILE                      # every process's CPU time and the machine's busy time
    python loadtest/cpu.py diff START END OUT name=PID[,PID...] ...
        # CPU seconds per named group (each PID with its descendants alive at END), the rest of the machine as "other"
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[str, dict]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        # comm may contain spaces and parentheses: the fields after the last ")" are fixed.
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        found[entry.name] = {"comm": comm, "ppid": fields[1], "cpu": (int(fields[11]) + int(fields[12])) / TICK}
    return found


def _busy_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def snapshot(path: str) -> None:
    Path(path).write_text(json.dumps({"at": time.time(), "busy": _busy_seconds(), "processes": _processes()}))


def _descendants(roots: set[str], processes: dict[str, dict]) -> set[str]:
    group = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, info in processes.items():
            if pid not in group and info["ppid"] in group:
                group.add(pid)
                grew = True
    return group


def diff(start_path: str, end_path: str, out_path: str, specs: list[str]) -> None:
    start, end = json.loads(Path(start_path).read_text()), json.loads(Path(end_path).read_text())
    groups, claimed = {}, set()
    for spec in specs:
        name, _, pids = spec.partition("=")
        members = _descendants({p for p in pids.split(",") if p}, end["processes"]) - claimed
        claimed |= members
        groups[name] = sum(end["processes"][p]["cpu"] - start["processes"].get(p, {"cpu": 0.0})["cpu"]
                           for p in members if p in end["processes"])
    busy = end["busy"] - start["busy"]
    groups["everything else on the machine"] = max(0.0, busy - sum(groups.values()))
    result = {"wall_s": end["at"] - start["at"], "busy_s": busy,
              "groups": {k: round(v, 1) for k, v in groups.items()}}
    Path(out_path).write_text(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    if sys.argv[1] == "snapshot":
        snapshot(sys.argv[2])
    else:
        diff(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
