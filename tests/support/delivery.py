"""A probe process for deadlines that run from a letter's delivery (tests/delivery/): its slice, letter and start.

The probe stands in for a slice's deadline without depending on one: tests/delivery/fixtures/delivery_probe.bpmn
issues 送达测试通知书 (letter type probe_notice, which starts answer_due and moves reminder_due with it) and waits for
the applicant's answer with a reminder and a deadline on the task, and an intermediate timer (wait_due) beside it.
Case types are a closed list in the schema, so the probe borrows "rectification" while it is installed.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from app.core import clock
from app.core.clock import now
from app.engine.definitions import deploy_directory
from app.extensions import db
from app.models import Case, ProcessInstance, TimerJob
from app.services import calendar, workdays
from app.services.letters import LetterType
from app.services.workflow import effects, registry
from app.services.workflow.registry import ProcessSlice
from app.services.workflow.run import start_process
from app.services.workflow.taskforms import Field, TaskForm
from tests.support import factories

FIXTURES = Path(__file__).resolve().parents[1] / "delivery" / "fixtures"
PROBED: list[str] = []  # what the probe's scripts emitted, in order
DAYS = 10
REMINDER_LEAD = 3


def reminder_at(case, due: datetime) -> dict:
    """The follow-on variable: a reminder 3 working days before the last day, 09:00 local time."""
    day, _provisional = workdays.subtract_working_days(calendar.load_calendar(), clock.local_date(due), REMINDER_LEAD)
    return {"reminder_due": clock.local_instant(day, time(9, 0))}


NOTICE = LetterType(
    "送达测试通知书", "测试",
    "请{{ subject }}{{ from_delivery(days) }}提交答复。\n\n{{ case_number }}",
    "特此通知。",
    context=lambda case: {"days": DAYS},
    starts={"answer_due": lambda case: DAYS},
    follow_on=reminder_at,
)

PROBE = ProcessSlice(
    key="delivery_probe", case_type="rectification", folder=FIXTURES, case_prefix="ZG",
    effects={"probe": lambda case, user_id, what: PROBED.append(what)},
    forms=(TaskForm("probe_answer", (Field("answer", "答复", required=True),), public=True),),
    letters={"probe_notice": NOTICE},
)


@contextmanager
def probe_installed():
    """Install the probe in place of the rectification slice and deploy its diagram; restore afterwards."""
    from processes import SLICES

    PROBED.clear()
    registry.install([s for s in SLICES if s.case_type != "rectification"] + [PROBE], effects.COMMON)
    try:
        deploy_directory(FIXTURES)
        db.session.flush()
        yield PROBE
    finally:
        registry.install(SLICES, effects.COMMON)


def start_probe(staff, *, wait_days: int = 20) -> Case:
    """A probe case on a record of applicant1's unit, started now: its variables counted from today (provisional)."""
    record = factories.record(staff["applicant1"].unit, staff["verifier1"].unit)
    case = factories.case(record, type="rectification", status="in_progress")
    case.submitted_at = now()
    due = calendar.deadline(now(), DAYS).due
    start_process(case, staff["intake1"], {
        "answer_due": due.isoformat(), "answer_due_provisional": False,
        "reminder_due": reminder_at(case, due)["reminder_due"].isoformat(),
        "wait_due": (now() + timedelta(days=wait_days)).isoformat(),
    })
    db.session.flush()
    return case


def timer_row(case: Case, bpmn_id: str) -> TimerJob | None:
    instance_id = db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case.id))
    return db.session.scalar(select(TimerJob).where(TimerJob.instance_id == instance_id, TimerJob.bpmn_id == bpmn_id,
                                                    TimerJob.status == "pending"))
