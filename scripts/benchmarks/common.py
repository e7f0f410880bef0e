"""What every benchmark area shares: the figure, the database, the app, and the timing of a callable."""
from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


@dataclass
class Figure:
    """One measured figure: `value` in `unit`, the issue's target (None: informative only) and the floor."""

    name: str
    value: float
    unit: str = "ms"
    target: str = ""  # e.g. "p95 ≤ 30 ms"
    floor: float | None = None  # the same work without the product around it (same unit)
    floor_note: str = ""  # what the floor is
    met: bool | None = None  # did the value meet the target (None: no target)
    note: str = ""


@dataclass
class Timing:
    """Wall and CPU samples of repeated calls, in milliseconds."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def p95(self) -> float:
        ordered = sorted(self.wall)
        return ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def timed(action: Callable[[], object], repeat: int, warmup: int = 3) -> Timing:
    """Call `action` warmup + repeat times; return the samples of the last `repeat` calls."""
    for _ in range(warmup):
        action()
    timing = Timing()
    for _ in range(repeat):
        begin, begin_cpu = time.perf_counter(), time.thread_time()
        action()
        timing.wall.append((time.perf_counter() - begin) * 1000)
        timing.cpu.append((time.thread_time() - begin_cpu) * 1000)
    return timing


@dataclass
class Bench:
    """The run's settings: which database kind, whether to keep generated data, the sizes."""

    kind: str  # "sqlite" or "postgresql"
    reuse: bool = False
    quick: bool = False  # smaller sizes, to try the script itself; never the published figures

    def database(self, name: str) -> str:
        """The URL of this area's database; a fresh one unless `reuse` and it exists (see `fresh`)."""
        if self.kind == "sqlite":
            path = ROOT / "var" / "bench" / f"{name}{'-quick' if self.quick else ''}.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{path}"
        return f"{PG_SERVER}/bench_{name}{'_quick' if self.quick else ''}"

    def fresh(self, url: str) -> bool:
        """Make `url` empty unless reusing a database that exists; True when the caller must build the data."""
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            if self.reuse and path.exists():
                return False
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            return True
        server, name = url.rsplit("/", 1)
        exists = subprocess.run(["psql", f"{server}/postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                                capture_output=True, text=True, check=True).stdout.strip() == "1"
        if self.reuse and exists:
            return False
        subprocess.run(["psql", f"{server}/postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                       check=True, capture_output=True)
        subprocess.run(["psql", f"{server}/postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
        return True

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def make_app(url: str, **settings):
    """The app on `url` with the test configuration's fast hashing and no clock shifting by requests."""
    from app import create_app
    from config import TestConfig

    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        FILE_STORE = ROOT / "var" / "bench" / "files"
        WTF_CSRF_ENABLED = False
        SERVER_NAME = None

    for key, value in settings.items():
        setattr(Cfg, key, value)
    return create_app(Cfg)


def migrate_and_seed(today=None) -> None:
    """Apply the migrations, deploy the processes and seed the demo city (inside an app context)."""
    from flask_migrate import upgrade

    from app.demo.seed import seed_demo
    from app.engine.definitions import deploy_directory
    from app.extensions import db
    from app.core.clock import local_today

    upgrade()
    deploy_directory(ROOT / "processes")
    seed_demo(today or local_today())
    db.session.commit()


def analyze() -> None:
    """Planner statistics (and PostgreSQL's visibility map), as a production database keeps them."""
    from sqlalchemy import text

    from app.extensions import db

    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def print_figures(area: str, kind: str, figures: list[Figure]) -> None:
    print(f"\n## {area} — {kind}\n")
    print("| figure | value | target | met | floor | × floor |")
    print("|---|---|---|---|---|---|")
    for f in figures:
        ratio = f"{f.value / f.floor:.1f}×" if f.floor else ""
        floor = f"{f.floor:.2f} {f.unit} ({f.floor_note})" if f.floor is not None else ""
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        note = f" — {f.note}" if f.note else ""
        print(f"| {f.name}{note} | {f.value:.2f} {f.unit} | {f.target} | {met} | {floor} | {ratio} |", flush=True)
