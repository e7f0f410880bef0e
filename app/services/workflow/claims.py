"""Who works a task: claim, release, reassign, and the four-eyes rule (separation of duties) on deciding steps."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select, true

from app.core.clock import now
from app.core.errors import Conflict, Forbidden, Invalid
from app.engine import runtime
from app.extensions import db, execute_plain
from app.models import Case, CaseEvent, HumanTask, ProcessInstance, User
from app.services import access, audit, notifications


def lock_open_task(user: User, task: HumanTask) -> ProcessInstance:
    """Lock the task's instance, then re-check under the lock that the task is still the user's to do."""
    instance = runtime.lock_instance(task.instance_id, wait=False)
    db.session.refresh(task)
    if task.status != "open":
        raise Conflict(_("该任务已被他人办理完毕。"), code="task_closed")
    if task.assignee_id not in (None, user.id):
        raise Conflict(_("该任务已由他人领取。"), code="task_held")
    return instance


def _set_assignee(task: HumanTask, holder_now, assignee_id: int | None) -> bool:
    """Change an open task's assignee only if it is still held as expected; True when this call won."""
    table = HumanTask.__table__
    result = execute_plain(
        table.update()
        .where(table.c.id == task.id, table.c.status == "open", holder_now)
        .values(assignee_id=assignee_id)
    )
    db.session.refresh(task)
    return result.rowcount == 1


def _record_task_action(user: User, task: HumanTask, event: str, audit_action: str) -> None:
    db.session.add(CaseEvent(case_id=task.case_id, at=now(), user_id=user.id, action=event, step=task.bpmn_id,
                             comment=task.title, internal=True))
    audit.record(audit_action, object_type="task", object_id=task.id, details={"case_id": task.case_id})


def claim_task(user: User, task_id: str) -> HumanTask:
    """Take a group task for oneself; only one claimant wins (conditional update)."""
    task = access.get_task(user, task_id)
    check_separation(user, db.session.get(Case, task.case_id), task)  # say so before the work, not at the end
    if not _set_assignee(task, HumanTask.assignee_id.is_(None), user.id):
        if task.status == "open" and task.assignee_id == user.id:
            return task
        raise Conflict(_("该任务已由他人领取或已办结。"), code="task_held")
    _record_task_action(user, task, "claimed", "task.claim")
    return task


def release_task(user: User, task_id: str) -> HumanTask:
    """Give a claimed task back to the group."""
    task = access.get_task(user, task_id)
    if not _set_assignee(task, HumanTask.assignee_id == user.id, None):
        raise Conflict(_("只能退回自己领取且未办结的任务。"), code="not_holder")
    _record_task_action(user, task, "released", "task.release")
    return task


def may_work(user: User, task: HumanTask) -> bool:
    """Whether a user's roles and unit fit a task's lane (the same rule as access.task_filter)."""
    if task.lane not in user.roles:
        return False
    return task.lane in access.STAFF_ROLES or task.candidate_unit_id == user.unit_id


def reassign_task(supervisor: User, task_id: str, assignee_id: int, reason: str) -> HumanTask:
    """A credit-office leader hands an open office task to a colleague, with a reason in the history."""
    if not supervisor.has_role("approver"):
        raise Forbidden(_("只有信用办负责人可以改派任务。"), code="not_supervisor")
    task = access.get_task(supervisor, task_id, supervise=True)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("请填写改派理由。"), fields={"reason": _("必填")})
    assignee = db.session.get(User, assignee_id)
    if assignee is None or not assignee.active or not may_work(assignee, task):
        raise Invalid(_("改派对象须为可办理该环节的在岗人员。"), fields={"assignee_id": _("人员不符合")})
    previous = task.assignee_id
    if not _set_assignee(task, true(), assignee.id):
        raise Conflict(_("该任务已办结，无法改派。"), code="task_closed")
    db.session.add(CaseEvent(case_id=task.case_id, at=now(), user_id=supervisor.id, action="reassigned",
                             step=task.bpmn_id, internal=True, comment=f"{task.title}改派给{assignee.display_name}：{reason}",
                             details={"from": previous, "to": assignee.id}))
    audit.record("task.reassign", object_type="task", object_id=task.id,
                 details={"case_id": task.case_id, "from": previous, "to": assignee.id, "reason": reason})
    notifications.notify_user(assignee, kind="new_task", title=f"改派待办：{task.title}", case_id=task.case_id,
                              body=f"由{supervisor.display_name}改派：{reason}")
    return task


# The lane whose steps decide a case. Whoever filed the case, or did any of its other steps — reviewed,
# verified, drafted, answered — may not complete a step of this lane in that case (four-eyes principle,
# QUALITY.md §3), whatever roles the account holds.
DECIDING_LANE = "approver"


def separation_conflict(user: User, case: Case, task: HumanTask) -> bool:
    """Whether completing this task would let the user decide on a case they filed or worked on."""
    if task.lane != DECIDING_LANE:
        return False
    if case.created_by_id is not None and user.id == case.created_by_id:
        return True
    return db.session.scalar(
        select(HumanTask.id).where(HumanTask.case_id == case.id, HumanTask.completed_by_id == user.id,
                                   HumanTask.lane != DECIDING_LANE).limit(1)
    ) is not None


def check_separation(user: User, case: Case, task: HumanTask) -> None:
    # The refusal is audited once, as a 403 denial with this code, by the web and API error handlers.
    if separation_conflict(user, case, task):
        raise Forbidden(_("不能审批本人提交、审查、核查或拟定的事项（职责分离）。"), code="separation_of_duties")
