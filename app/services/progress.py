"""A case's progress by steps, as its applicant and the public see it: step names and dates, never opinions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import Case, HumanTask


@dataclass(frozen=True)
class Step:
    case_type: str
    bpmn_id: str
    title: str  # the name the BPMN gives it; the step_name filter puts it in the interface language
    done: bool
    at: datetime  # when it was done, or (the current step) when it opened
    due_at: datetime | None
    due_provisional: bool


def case_steps(case: Case) -> list[Step]:
    """The case's steps in the order they opened: done ones with their date, the open ones with their due date.

    Read from the task projection, which holds titles and dates only: what a reviewer wrote stays in the history.
    Steps cancelled by the process (a timer ended them) are left out: nobody did them.
    """
    rows = db.session.scalars(select(HumanTask).where(HumanTask.case_id == case.id,
                                                      HumanTask.status.in_(("open", "completed")))
                              .order_by(HumanTask.created_at, HumanTask.id)).all()
    return [Step(t.case_type, t.bpmn_id, t.title, t.status == "completed", t.completed_at or t.created_at, t.due_at,
                 t.due_provisional) for t in rows]
