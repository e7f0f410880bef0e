"""Completing a step that issues no letter (issue 15, point 1): complete_task + commit, in-process, no HTTP.

The cases are objections looped through 拟定处理意见 ⇄ 审批处理决定 (退回修改): neither step issues a letter, and every
loop adds two completed user tasks to the SpiffWorkflow state, so the state grows the way a long case's does. For
each size (≈9, 40, 200 completed steps) several cases are brought to it and then timed over a few consecutive
completions (the user is loaded outside the timing, as the request's sign-in would). Printed per size: p50/p95 wall,
median CPU, statements per completion; the floors are SpiffWorkflow's to_dict + json.dumps of that workflow alone
and the raw UPDATE of its state row (+ commit). A cProfile summary by our functions follows.
"""
from __future__ import annotations

import cProfile
import json
import pstats
import time
from datetime import datetime, timezone

from scripts.benchmarks.common import Bench, Figure, Timing, analyze, make_app, migrate_and_seed, timed

# A Friday morning in Asia/Shanghai, as the tests' T0: the clock is frozen there so the figures repeat.
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
TARGETS = {9: 30.0, 40: 30.0, 200: 60.0}  # p95 server time (ms) by completed steps, from the issue

# Where the time of a completion goes: (label, module path suffix, function) summed as cumulative time.
PROFILE_PARTS = (
    ("complete_task (all)", "app/services/workflow/run.py", "complete_task"),
    ("  access.get_task", "app/services/access.py", "get_task"),
    ("  lock_open_task", "app/services/workflow/claims.py", "lock_open_task"),
    ("  check_separation", "app/services/workflow/claims.py", "check_separation"),
    ("  load_workflow", "app/engine/runtime.py", "load_workflow"),
    ("  run (Task.run + do_engine_steps)", "SpiffWorkflow/bpmn/workflow.py", "do_engine_steps"),
    ("  completion hook (registry)", "processes/objection_review/service.py", "_drafted"),
    ("  completion hook (approve)", "processes/objection_review/service.py", "_approved"),
    ("  effects", "app/services/workflow/run.py", "_apply_effects"),
    ("  audit.record", "app/services/audit/chain.py", "record"),
    ("  save_workflow", "app/engine/runtime.py", "save_workflow"),
    ("    dump_state (serialize)", "app/engine/runtime.py", "dump_state"),
    ("    _project_tasks", "app/engine/runtime.py", "_project_tasks"),
    ("    _project_timers", "app/engine/runtime.py", "_project_timers"),
    ("  _after_save (current_step, events, notify)", "app/services/workflow/run.py", "_after_save"),
    ("commit", "sqlalchemy/orm/session.py", "commit"),
)


class StatementCounter:
    """Counts the statements sent to the database (a before_cursor_execute listener)."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.count = 0
        self.statements: list[str] = []
        self.keep = False
        self.per_completion: list[int] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        if self.keep:
            self.statements.append(" ".join(statement.split())[:140])


class Loop:
    """One objection case looping 拟定处理意见 ⇄ 审批处理决定; knows who completes its open step next."""

    def __init__(self, case_id: int):
        self.case_id = case_id
        self.done = 0  # completed user tasks

    def next_step(self):
        """(username, task id, values) of the case's open step."""
        from sqlalchemy import select

        from app.extensions import db
        from app.models import HumanTask

        task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == self.case_id, HumanTask.status == "open"))
        values = {
            "intake_review": ("intake1", {"intake_choice": "accept"}),
            "verify_record": ("verifier1", {"verify_choice": "no_error", "opinion": "经核查，认定无误。"}),
            "draft_decision": ("intake1", {"decision": "maintain", "reasons": f"第{self.done}次拟定：认定事实清楚。"}),
            "approve_decision": ("approver1", {"approval": "return", "comment": "请补充说明理由。"}),
        }[task.bpmn_id]
        return values[0], task.id, values[1]

    def complete(self, users: dict, timing: Timing | None = None, counter: StatementCounter | None = None) -> None:
        """Complete the open step and commit; with timing, time complete_task + commit (wall and CPU)."""
        from app.extensions import db
        from app.models import User
        from app.services import workflow

        username, task_id, values = self.next_step()
        db.session.commit()
        db.session.expire_all()
        user = db.session.get(User, users[username])
        user.roles  # what the sign-in has loaded already  # noqa: B018
        before = counter.count if counter else 0
        begin, begin_cpu = time.perf_counter(), time.thread_time()
        workflow.complete_task(user, task_id, values)
        db.session.commit()
        if timing is not None:
            timing.wall.append((time.perf_counter() - begin) * 1000)
            timing.cpu.append((time.thread_time() - begin_cpu) * 1000)
        if counter is not None and timing is not None:
            counter.per_completion.append(counter.count - before)
        self.done += 1


def _new_cases(n: int, first_no: int) -> list[Loop]:
    """n submitted objections, each on a fresh published record of applicant1's unit made by verifier1's unit."""
    from sqlalchemy import select

    from app.demo import bulk
    from app.extensions import db
    from app.models import CreditRecord, User

    applicant = db.session.scalar(select(User).where(User.username == "applicant1"))
    verifier_unit = db.session.scalar(select(User.unit_id).where(User.username == "verifier1"))
    template = db.session.scalars(select(CreditRecord).where(
        CreditRecord.subject_unit_id == applicant.unit_id, CreditRecord.recording_unit_id == verifier_unit,
        CreditRecord.status == "published").order_by(CreditRecord.id)).first()
    columns = {c.key: getattr(template, c.key) for c in CreditRecord.__table__.columns if c.key != "id"}
    loops = []
    for i in range(n):
        record = CreditRecord(**{**columns, "basis_doc_no": f"随财罚〔2026〕{first_no + i}号"})
        db.session.add(record)
        db.session.flush()
        case = bulk.file_objection(record, [])  # filed and submitted by applicant1, as the demo's generator does
        db.session.commit()
        loops.append(Loop(case.id))
    return loops


def _floors(case_id: int) -> tuple[Timing, Timing, int]:
    """SpiffWorkflow's to_dict + json.dumps of the case's workflow alone, and the raw UPDATE of its state row."""
    from sqlalchemy import select, text

    from app.engine import runtime
    from app.engine.definitions import SERIALIZER
    from app.extensions import db
    from app.models import ProcessInstance

    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    wf = runtime.load_workflow(instance, runtime.RunContext())
    state = instance.state

    def serialize():
        dct = SERIALIZER.to_dict(wf)
        dct.pop("spec", None)
        dct.pop("subprocess_specs", None)
        json.dumps(dct, ensure_ascii=False, separators=(",", ":"), default=str)

    def update():
        db.session.execute(text("UPDATE process_instance SET state = :s WHERE id = :id"), {"s": state, "id": instance.id})
        db.session.commit()

    return timed(serialize, 20), timed(update, 20), len(state)


def _profile(loop: Loop, users: dict, n: int) -> str:
    """Profile n completions of the loop and sum the cumulative time of our functions (ms per completion)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        loop.complete(users)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    lines = []
    for label, path, func in PROFILE_PARTS:
        total = sum(ct for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.items()
                    if name == func and file.endswith(path))
        lines.append(f"    {label:<48} {total * 1000 / n:7.1f} ms")
    return "\n".join(lines)


def run(bench: Bench) -> list[Figure]:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app.core import clock
    from app.extensions import db
    from app.models import ProcessInstance, User

    sizes = (9, 40) if bench.quick else (9, 40, 200)
    cases_per_size = bench.size(4, 2)
    repeats = bench.size(8, 4)
    url = bench.database("steps")
    build = bench.fresh(url)
    app = make_app(url)
    figures: list[Figure] = []
    with app.app_context():
        clock.set_frozen(T0)
        if build:
            migrate_and_seed(T0.astimezone(clock.local_tz()).date())
        else:
            upgrade()
        analyze()
        users = {u.username: u.id for u in db.session.scalars(select(User))}
        counter = StatementCounter(db.engine)
        first_no = 9000 + int(time.time()) % 100000 * 10  # a reused database gets new records each run
        loops = _new_cases(cases_per_size, first_no)
        profile_loop = _new_cases(1, first_no + cases_per_size)[0]
        reached = 0
        profiles = []
        for size in sizes:
            for loop in loops:
                while loop.done < size:
                    loop.complete(users)
            while profile_loop.done < size:
                profile_loop.complete(users)
            timing = Timing()
            counter.per_completion = []
            for loop in loops:
                for _ in range(repeats):
                    loop.complete(users, timing, counter)
            # One completion's statements, listed once for the smallest size (what a reader checks first).
            if size == sizes[0]:
                counter.keep, counter.statements = True, []
                loops[0].complete(users)
                counter.keep = False
                statements = list(counter.statements)
            serialize, update, state_bytes = _floors(loops[0].case_id)
            stmts = sorted(counter.per_completion)
            target = TARGETS[size]
            figures.append(Figure(
                f"complete a step at {size}–{size + repeats} completed steps, p95 wall", timing.p95, target=f"p95 ≤ {target:g} ms",
                floor=serialize.median + update.median, floor_note="to_dict+json.dumps alone + raw UPDATE of the state row",
                met=timing.p95 <= target,
                note=f"p50 {timing.median:.1f} ms, CPU median {timing.cpu_median:.1f} ms, "
                     f"{stmts[len(stmts) // 2]} statements (max {stmts[-1]}), state {state_bytes // 1024} KB, "
                     f"{len(timing.wall)} samples"))
            figures.append(Figure(f"  serialize floor at {size} steps (to_dict + json.dumps)", serialize.median))
            figures.append(Figure(f"  raw UPDATE of the state row + commit at {size} steps", update.median))
            profiles.append((size, _profile(profile_loop, users, repeats)))
            reached = size
        print(f"\n### steps on {bench.kind}: statements of one completion at {sizes[0]} steps ({len(statements)})")
        for s in statements:
            print(f"    {s}")
        for size, summary in profiles:
            print(f"\n### steps on {bench.kind}: cProfile, ms per completion at ≈{size} steps (cumulative)\n{summary}")
        db.session.commit()
        clock.set_frozen(None)
        assert reached == sizes[-1]
        db.session.remove()
        db.engine.dispose()
    return figures
