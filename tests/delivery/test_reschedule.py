"""run.reschedule: move a WAITING timer by setting the variable it reads (boundary and intermediate timers)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.clock import now
from app.engine import runtime
from app.extensions import db
from app.models import AuditEvent, CaseEvent, HumanTask, ProcessInstance
from app.services.workflow.run import reschedule
from tests.support.delivery import PROBED, start_probe, timer_row
from tests.support.flows import run_timers_at

SECOND = timedelta(seconds=1)


@pytest.mark.parametrize("bpmn_id, variable, shift, fired", [
    ("answer_deadline", "answer_due", timedelta(days=9), "overdue"),    # later
    ("answer_deadline", "answer_due", -timedelta(days=5), "overdue"),   # earlier
    ("answer_reminder", "reminder_due", timedelta(days=2), "reminded"),
    ("wait", "wait_due", -timedelta(days=15), "waited"),                # an intermediate catch event
])
def test_a_moved_timer_fires_at_the_new_time_not_the_old_one(probe, bpmn_id, variable, shift, fired):
    case = start_probe(probe)
    db.session.commit()
    old = timer_row(case, bpmn_id).fire_at
    job_id = timer_row(case, bpmn_id).id
    new = old + shift
    assert reschedule(case, variable, new, user_id=probe["intake1"].id, reason="测试改期") is True
    db.session.commit()
    row = timer_row(case, bpmn_id)
    assert (row.id, row.fire_at) == (job_id, new)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    wf = runtime.load_workflow(instance, runtime.RunContext())
    [task] = runtime.waiting_timers(wf, variable)
    assert runtime.parse_instant(task._get_internal_data("event_value")) == new
    assert runtime.parse_instant(task.data[variable]) == new
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "deadline_moved"))
    assert (event.comment, event.details["variable"], event.user_id) == ("测试改期", variable, probe["intake1"].id)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "timer.reschedule")) is not None
    # Neither just after the old instant (when moved later) nor a second before the new one fires it; the new one does.
    for instant in sorted({new - SECOND} | ({old + SECOND} if old + SECOND < new else set())):
        run_timers_at(instant)
        assert fired not in PROBED, instant
    run_timers_at(new + SECOND)
    assert fired in PROBED


def test_the_due_variable_task_shows_the_new_due_date(probe):
    case = start_probe(probe)
    db.session.commit()
    new = timer_row(case, "answer_deadline").fire_at + timedelta(days=7)
    assert reschedule(case, "answer_due", new, user_id=None, reason="送达", provisional=True)
    db.session.commit()
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.bpmn_id == "answer"))
    assert (task.due_at, task.due_provisional) == (new, True)
    # The reminder reads another variable and stays.
    assert timer_row(case, "answer_reminder").fire_at < new - timedelta(days=7)


@pytest.mark.parametrize("variable", ["unknown_due", "answer_due_provisional", ""])
def test_no_waiting_timer_reads_it_changes_nothing(probe, variable):
    case = start_probe(probe)
    db.session.commit()
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    version, state = instance.lock_version, instance.state
    assert reschedule(case, variable, now() + timedelta(days=3), user_id=None, reason="x") is False
    db.session.commit()
    db.session.refresh(instance)
    assert (instance.lock_version, instance.state) == (version, state)
    assert db.session.scalar(select(CaseEvent).where(CaseEvent.action == "deadline_moved")) is None


def test_a_fired_timer_cannot_be_moved(probe):
    case = start_probe(probe)
    db.session.commit()
    run_timers_at(timer_row(case, "answer_deadline").fire_at + SECOND)
    assert "overdue" in PROBED
    assert reschedule(case, "answer_due", now() + timedelta(days=3), user_id=None, reason="x") is False
