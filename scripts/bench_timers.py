"""Benchmark the timer sweep: cost with 100,000 waiting timers and none due, and the firing rate with 1,000 due.

Run from the repository root:  .venv/bin/python scripts/bench_timers.py  [--db URL]
Default database: a fresh SQLite file under var/bench/. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import HumanTask, ProcessInstance, TimerJob, User  # noqa: E402
from app.services import applications, attachments, workflow
from processes.objection_review import service as objections
from app.core import clock  # noqa: E402
from config import TestConfig  # noqa: E402

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
WAITING = 100_000
DUE = 1_000


def build_app(url: str):
    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        FILE_STORE = ROOT / "var" / "bench" / "files"

    return create_app(Cfg)


def reset(url: str) -> None:
    if url.startswith("postgresql"):
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
    upgrade()


def add_waiting_timers(n: int, carrier: int) -> None:
    """n pending timers far in the future (bulk insert), on an instance the sweep never touches."""
    rows = [{"id": f"bench-{i:08d}", "instance_id": carrier, "bpmn_id": "bench", "status": "pending",
             "fire_at": T0 + timedelta(days=365 + i % 300)} for i in range(n)]
    for start in range(0, n, 10_000):
        db.session.execute(insert(TimerJob), rows[start:start + 10_000])
    db.session.commit()


def add_due_cases(n: int) -> int:
    """n real objection cases waiting in 补正 (one supplement timer each) plus one waiting in 受理审查.

    Returns the instance id of the last one, which carries the bulk waiting timers.
    """
    from app.engine.definitions import deploy_directory
    from app.models import CreditRecord
    from app.demo.seed import seed_demo

    deploy_directory(ROOT / "processes")
    seed_demo(T0.date())
    db.session.commit()
    applicant = db.session.scalar(select(User).where(User.username == "applicant1"))
    intake = db.session.scalar(select(User).where(User.username == "intake1"))
    template = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == applicant.unit_id)).first()
    columns = {c.key: getattr(template, c.key) for c in CreditRecord.__table__.columns if c.key != "id"}
    pdf = b"%PDF-1.4\n%%EOF\n"
    for i in range(n + 1):
        record = CreditRecord(**{**columns, "basis_doc_no": f"随财罚〔2026〕{5000 + i}号"})
        db.session.add(record)
        db.session.flush()
        case = objections.create_objection(applicant, record.id, "duplicate", "重复公示")
        attachments.store_attachment(applicant, case, "evidence", "e.pdf", pdf)
        attachments.store_attachment(applicant, case, "commitment", "c.pdf", pdf)
        applications.submit_case(applicant, case.id)
        db.session.commit()
        if i == n:
            return db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case.id))
        task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
        workflow.complete_task(intake, task.id, {"intake_choice": "request_supplement", "supplement_items": "承诺书",
                                                "reason": "材料不全"})
        db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=f"sqlite:///{ROOT / 'var' / 'bench' / 'timers.db'}")
    args = parser.parse_args()
    if args.db.startswith("sqlite:///"):
        path = Path(args.db.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    app = build_app(args.db)
    from app.services.worker import sweep

    with app.app_context():
        reset(args.db)
        clock.set_frozen(T0)
        started = time.perf_counter()
        carrier = add_due_cases(DUE)
        print(f"set-up: {DUE} cases waiting in 补正 in {time.perf_counter() - started:.1f} s")
        add_waiting_timers(WAITING, carrier)
        print(f"database: {args.db.split('@')[-1]}; waiting timers: "
              f"{db.session.scalar(select(db.func.count()).select_from(TimerJob))}")

        # 1. A sweep with nothing due: the cost is the indexed query, whatever the number waiting.
        samples = []
        for _ in range(200):
            begin = time.perf_counter()
            result = sweep()
            samples.append((time.perf_counter() - begin) * 1000)
            assert result.fired == 0
        samples.sort()
        print(f"idle sweep over {WAITING + DUE:,} waiting timers: median {statistics.median(samples):.2f} ms, "
              f"p95 {samples[int(len(samples) * 0.95)]:.2f} ms (target ≤ 5 ms)")

        # 2. Move the clock past the supplement deadlines: 1,000 timers fall due.
        clock.set_frozen(T0 + timedelta(days=30))
        begin = time.perf_counter()
        fired = 0
        while True:
            result = sweep(limit=DUE)
            fired += result.fired
            if not result.fired:
                break
        elapsed = time.perf_counter() - begin
        print(f"firing {fired} due timers: {elapsed:.2f} s, {fired / elapsed:.0f} timers/s "
              f"({elapsed / fired * 1000:.1f} ms each: lock, load, step, save, projections, commit)")


if __name__ == "__main__":
    main()
