"""Timers: the idle sweep with 100,000 waiting timers (each phase apart), and the firing rate of due timers.

The data: 100 objection cases waiting in 核查 (its 核查超期 reminder falls due), 10 waiting in 补正 (its 补正期满 closes
the case with a letter), and 100,000 pending timers a year or more away on one more case's instance (bulk inserted;
the sweep never reaches them). It is built once into a pristine database (`timers_pristine`) and copied for every
run, since firing consumes the due timers.
"""
from __future__ import annotations

import cProfile
import pstats
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from scripts.benchmarks.common import ROOT, Bench, Figure, analyze, make_app, migrate_and_seed, timed

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)

# Where a fired timer's time goes: (label, file fragment, function name) read from the profile's cumulative times.
PROFILE_PARTS = (
    ("claim (due timer + instance, locked, one query)", "engine/runtime.py", "claim_due_timer"),
    ("fire_locked_timer total", "workflow/run.py", "fire_locked_timer"),
    ("  load_workflow (deserialize)", "engine/runtime.py", "load_workflow"),
    ("  hold_undelivered", "services/delivery.py", "hold_undelivered"),
    ("  refresh_timers + do_engine_steps", "SpiffWorkflow/bpmn/workflow.py", "do_engine_steps"),
    ("  effects", "workflow/run.py", "_apply_effects"),
    ("  save_workflow (serialize + projections)", "engine/runtime.py", "save_workflow"),
    ("  after_save (case step, notifications)", "workflow/run.py", "_after_save"),
    ("  audit.record", "audit/chain.py", "record"),
    ("commit (the audit events written in it)", "orm/session.py", "commit"),
    ("  audit.write_pending", "audit/chain.py", "write_pending"),
)


def _add_due_cases(reminders: int, letters: int) -> int:
    """Objection cases with one timer each: `reminders` waiting in 核查 (its 核查超期 reminder: a notification) and
    `letters` waiting in 补正 with the 补正通知书 delivered 60 days on (its 补正期满: the case closes with a letter);
    plus one waiting in 受理审查. Returns that last one's instance id, which carries the bulk waiting timers."""
    from sqlalchemy import select

    from app.core import clock
    from app.extensions import db
    from app.demo import bulk
    from app.models import CreditRecord, Letter, ProcessInstance
    from app.services import delivery

    applicant = bulk.user_named("applicant1")
    intake = bulk.user_named("intake1")
    template = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == applicant.unit_id)).first()
    columns = {c.key: getattr(template, c.key) for c in CreditRecord.__table__.columns if c.key != "id"}
    supplements = []
    for i in range(reminders + letters + 1):
        record = CreditRecord(**{**columns, "basis_doc_no": f"随财罚〔2026〕{5000 + i}号"})
        db.session.add(record)
        db.session.flush()
        if i == reminders + letters:  # the last one stays in 受理审查
            case = bulk.file_objection(record, [])
            db.session.commit()
            break
        values = ({"intake_choice": "accept", "reason": ""} if i < reminders else
                  {"intake_choice": "request_supplement", "supplement_items": "承诺书", "reason": "材料不全"})
        case = bulk.file_objection(record, [("intake1", values)])  # filed, submitted, then the intake's step
        db.session.commit()
        if i >= reminders:
            supplements.append(case.id)
    # The 补正通知书 delivered by post 60 days on: the deadline runs from then (an undelivered one is pushed out).
    clock.set_frozen(T0 + timedelta(days=60))
    for case_id in supplements:
        letter = db.session.scalars(select(Letter).where(Letter.case_id == case_id).order_by(Letter.id.desc())).first()
        delivery.record_office_delivery(intake, letter, day=clock.local_today(), method="post")
        db.session.commit()
    clock.set_frozen(T0)
    return db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case.id))


def _add_waiting_timers(n: int, carrier: int) -> None:
    """n pending timers far in the future (bulk insert) on an instance the sweep never touches."""
    from sqlalchemy import insert

    from app.extensions import db
    from app.models import TimerJob

    rows = [{"id": f"bench-{i:08d}", "instance_id": carrier, "bpmn_id": "bench", "status": "pending",
             "fire_at": T0 + timedelta(days=365 + i % 300)} for i in range(n)]
    for start in range(0, n, 10_000):
        db.session.execute(insert(TimerJob), rows[start:start + 10_000])
    db.session.commit()


def _build(url: str, due: int, letters: int, waiting: int) -> None:
    from app.core import clock
    from app.services.worker import sweep

    app = make_app(url)
    with app.app_context():
        clock.set_frozen(T0)
        begun = time.perf_counter()
        migrate_and_seed(T0.date())
        carrier = _add_due_cases(due, letters)
        _add_waiting_timers(waiting, carrier)
        while sweep().delivered:  # the set-up's messages and the day's rules, as a worker would have done them
            pass
        analyze()
        print(f"(timers: built {due} + {letters} due cases and {waiting:,} waiting timers "
              f"in {time.perf_counter() - begun:.0f} s)")
        clock.set_frozen(None)
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()


def _copy(bench: Bench, source: str, target: str) -> None:
    """Copy the pristine database to the working one (a file copy; PostgreSQL: CREATE DATABASE … TEMPLATE)."""
    if source.startswith("sqlite:///"):
        src, dst = Path(source.removeprefix("sqlite:///")), Path(target.removeprefix("sqlite:///"))
        for suffix in ("-wal", "-shm"):
            Path(str(dst) + suffix).unlink(missing_ok=True)
        shutil.copyfile(src, dst)
        return
    server, name = target.rsplit("/", 1)
    template = source.rsplit("/", 1)[1]
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}" TEMPLATE "{template}"'):
        subprocess.run(["psql", f"{server}/postgres", "-qc", sql], check=True, capture_output=True)


def _raw_due_query_ms() -> float:
    """The floor of an idle sweep: the due-timer SQL alone, on the driver's connection."""
    from app.extensions import db

    at = T0.isoformat() if db.engine.dialect.name == "postgresql" else T0.strftime("%Y-%m-%d %H:%M:%S.%f")
    sql = ("SELECT id FROM timer_job WHERE status = 'pending' AND fire_at <= %s ORDER BY fire_at LIMIT 1"
           if db.engine.dialect.name == "postgresql" else
           "SELECT id FROM timer_job WHERE status = 'pending' AND fire_at <= ? ORDER BY fire_at LIMIT 1")
    connection = db.engine.raw_connection()
    try:
        def query() -> None:
            cursor = connection.cursor()
            cursor.execute(sql, (at,))
            cursor.fetchall()
            cursor.close()
            connection.commit()

        return timed(query, 300).median
    finally:
        connection.close()


def _floor_per_timer_ms(count: int) -> float:
    """Lock, load and save an instance (with its commit) without the engine step: the least a fired timer costs."""
    from sqlalchemy import select

    from app.engine import runtime
    from app.extensions import db
    from app.models import TIMER_IS_PENDING, Case, TimerJob
    from app.services.workflow import run

    instance_ids = list(db.session.scalars(select(TimerJob.instance_id).where(TIMER_IS_PENDING, TimerJob.id.not_like(
        "bench-%")).order_by(TimerJob.fire_at).limit(count)))
    db.session.rollback()
    begun = time.perf_counter()
    for instance_id in instance_ids:
        instance = runtime.lock_instance(instance_id, wait=True)
        case = db.session.get(Case, instance.case_id)
        wf = runtime.load_workflow(instance, runtime.RunContext())
        runtime.save_workflow(instance, wf, run._describer(case))
        db.session.commit()
    return (time.perf_counter() - begun) * 1000 / max(1, len(instance_ids))


def _profile_report(profile: cProfile.Profile, fired: int) -> list[str]:
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    lines = []
    for label, fragment, name in PROFILE_PARTS:
        total = sum(ct for (file, _line, fn), (_cc, _nc, _tt, ct, _callers) in stats.items()
                    if fn == name and fragment in file)
        lines.append(f"    {label:<46} {total * 1000 / max(1, fired):7.2f} ms/timer")
    return lines


def _firing(bench: Bench, what: str, profiled: int, floor: float) -> list[Figure]:
    """Fire every due timer as one worker's sweep does (its timer phase, worker.fire_due_timers): the first
    `profiled` under cProfile (printed: where a timer's time goes), the rest timed for the rate.

    The sweep's other phases at the new instant (the day's rules, outbox messages come due again: the set-up's
    pushes to an endpoint that is not there, retried) run first, untimed: they are not the timers' cost."""
    from app.extensions import db
    from app.services import worker

    for phase in worker.PHASES:
        if phase is not worker.fire_due_timers:
            phase(1_000, worker.SweepResult())
    db.session.remove()
    profile = cProfile.Profile()
    profile.enable()
    result = worker.SweepResult()
    worker.fire_due_timers(profiled, result)
    first = result.fired
    profile.disable()
    db.session.remove()
    print(f"\nper-timer profile, {what}, {bench.kind} (first {first} timers, cProfile cumulative, "
          "its overhead included):")
    print("\n".join(_profile_report(profile, first)))
    fired, begun, begun_cpu = 0, time.perf_counter(), time.thread_time()
    while True:
        result = worker.SweepResult()
        worker.fire_due_timers(1_000, result)
        fired += result.fired
        if not result.fired:
            break
    elapsed, cpu = time.perf_counter() - begun, time.thread_time() - begun_cpu
    fired = max(fired, 1)
    return [Figure(f"firing {fired} {what}: rate per worker", fired / elapsed, unit="timers/s",
                   target="≥ 100 timers/s", met=fired / elapsed >= 100,
                   note=f"{elapsed * 1000 / fired:.1f} ms/timer wall, {cpu * 1000 / fired:.1f} ms CPU"),
            Figure(f"ms per fired timer, {what}", elapsed * 1000 / fired, target="≤ 10 ms",
                   met=elapsed * 1000 / fired <= 10, floor=floor, floor_note="lock + load + save + commit, no step")]


def run(bench: Bench) -> list[Figure]:
    from app.core import clock
    from app.extensions import db
    from app.models import TimerJob
    from app.services import worker
    from sqlalchemy import func, select

    # The rate is per timer (one transaction each), so 100 due reminders measure it as well as the 1,000 and
    # build in a tenth of the time (each case is filed and decided through the real services, ~1 s each).
    due, letters, waiting = bench.size(100, 20), bench.size(10, 5), bench.size(100_000, 2_000)
    pristine, url = bench.database("timers_pristine"), bench.database("timers")
    if bench.fresh(pristine):
        _build(pristine, due, letters, waiting)
    _copy(bench, pristine, url)
    app = make_app(url)
    target_idle = "p50 ≤ 2 ms" if bench.kind == "sqlite" else "p50 ≤ 5 ms"
    limit_idle = 2.0 if bench.kind == "sqlite" else 5.0
    figures: list[Figure] = []
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()  # a reused pristine database gets the newer migrations (indexes)
        clock.set_frozen(T0)
        total = db.session.scalar(select(func.count()).select_from(TimerJob))
        db.session.rollback()
        worker.sweep()  # today's daily rules, once; what follows is the idle sweep of the rest of the day
        floor = _raw_due_query_ms()

        # 1. An idle sweep: nothing due, the day's rules done.
        sweep = timed(lambda: worker.sweep(), bench.size(300, 50))
        figures.append(Figure(f"idle sweep p50 over {total:,} pending timers", sweep.median, target=target_idle,
                              floor=floor, floor_note="raw due-timer SQL", met=sweep.median <= limit_idle,
                              note=f"p95 {sweep.p95:.2f} ms, CPU p50 {sweep.cpu_median:.2f} ms"))
        figures.append(Figure("idle sweep p95", sweep.p95, target="", floor=floor, floor_note="raw due-timer SQL"))
        probe = timed(lambda: (worker.due_phases(), db.session.remove()), bench.size(300, 50))
        figures.append(Figure("idle probe due_phases (one query for every phase)", probe.median, floor=floor,
                              floor_note="raw due-timer SQL",
                              note=f"p95 {probe.p95:.2f} ms, CPU {probe.cpu_median:.2f} ms"))
        for phase in worker.PHASES:  # what each phase costs when the probe says it has work but it finds none
            def one_phase(phase=phase) -> None:
                phase(500, worker.SweepResult())
                db.session.remove()
            timing = timed(one_phase, bench.size(300, 50))
            figures.append(Figure(f"phase {phase.__name__} alone, nothing to do", timing.median,
                                  note=f"p95 {timing.p95:.2f} ms, CPU {timing.cpu_median:.2f} ms"))

        # 2. The daily rules when they are due (informative: once per local day).
        def daily_run() -> None:
            worker.run_daily_rules()
            db.session.remove()
        timing = timed(daily_run, 5, warmup=1)
        figures.append(Figure("daily rules run (on demand, nothing to do)", timing.median,
                              note=f"CPU {timing.cpu_median:.2f} ms"))

        # 3. 1,000 due reminders (核查超期: a notification), then 100 补正期满 (each closes its case with a letter).
        clock.set_frozen(T0 + timedelta(days=30))
        floor_timer = _floor_per_timer_ms(bench.size(30, 5))
        figures += _firing(bench, "核查超期 reminders", bench.size(30, 5), floor_timer)
        clock.set_frozen(T0 + timedelta(days=120))
        figures += _firing(bench, "补正期满 with a letter", bench.size(3, 2), floor_timer)
        clock.set_frozen(None)
        db.session.remove()
        db.engine.dispose()
    return figures
