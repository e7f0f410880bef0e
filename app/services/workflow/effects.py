"""The effects every process may emit: close the case, escalate an overdue step, issue a letter."""
from __future__ import annotations

from sqlalchemy import bindparam, select

from app.extensions import execute_plain
from app.i18n import chinese
from app.models import Case, HumanTask
from app.services import case_events, letters, notifications
from app.services.outcomes import OUTCOME_LABELS
from app.services.transitions import change_case_status
from app.services.workflow import registry
from app.services.workflow.run import credit_office_id


def _close_case(case: Case, user_id: int | None, *, status: str, outcome: str) -> None:
    case.outcome = outcome
    # The history is data: it keeps the Chinese words whatever language the actor browses in.
    change_case_status(case, status, user_id=user_id, reason=f"办结：{chinese(OUTCOME_LABELS.get(outcome, outcome))}")


# The open task of a step of a case (the worker reads it for every overdue reminder): built once.
_OPEN_STEP = (select(HumanTask.candidate_unit_id, HumanTask.lane, HumanTask.title)
              .where(HumanTask.case_id == bindparam("case_id"), HumanTask.bpmn_id == bindparam("step"),
                     HumanTask.status == "open").limit(1))


def _notify_overdue(case: Case, user_id: int | None, *, step: str) -> None:
    # Nothing pending changes an open task's row before the save. The three columns the messages name, not the task
    # as an object, on the session's connection (no flush first); the history row and notifications as plain INSERTs.
    task = execute_plain(_OPEN_STEP, {"case_id": case.id, "step": step}).first()
    if task is None:
        return
    notifications.notify_many([
        notifications.Message(task.candidate_unit_id, task.lane, "overdue", f"催办：{task.title}已超期",
                              f"办件 {case.number}", case.id),
        notifications.Message(credit_office_id(), "intake", "escalation", f"超期报告：{task.title}",
                              f"办件 {case.number}", case.id)])
    case_events.append(case_events.row(case.id, "overdue_escalated", step=step, internal=True,
                                       comment=f"{task.title}超期，已催办并报受理员"))


def _issue_letter(case: Case, user_id: int | None, *, letter: str) -> None:
    letters.issue_letter(case, letter, user_id=user_id, context=registry.letter_type(letter).context(case))


COMMON = {"close_case": _close_case, "notify_overdue": _notify_overdue, "issue_letter": _issue_letter}
