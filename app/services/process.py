"""Drive cases through their BPMN processes: start, claim, complete, fire timers (ENGINE.md)."""
from __future__ import annotations

from flask_babel import gettext as _
from collections.abc import Callable

from sqlalchemy import select, true, update

from app.engine import runtime
from app.engine.definitions import latest_definition
from app.extensions import db
from app.models import TIMER_IS_PENDING, Case, CaseEvent, HumanTask, ProcessInstance, TimerJob, Unit, User
from app.services import access, audit, calendar, notifications, rules
from app.core import faults
from app.core.clock import now
from app.core.errors import Conflict, Forbidden, Invalid
from app.services.taskforms import form_for

PROCESS_KEYS = {"objection": "objection_review", "rectification": "rectification", "repair": "credit_repair",
                "restoration": "honor_restoration"}

# Effect handlers by name: BPMN scripts emit(name, **args); handler(case, user_id, **args).
EFFECTS: dict[str, Callable] = {}
# Per-form hooks: formKey -> hook(case, user, clean_values) returning extra routing data.
COMPLETION_HOOKS: dict[str, Callable] = {}
# Per-letter context: letter type -> fn(case) returning the values its text needs.
LETTER_CONTEXTS: dict[str, Callable] = {}


def effect(name: str):
    """Register a handler for a BPMN effect."""
    def register(fn):
        EFFECTS[name] = fn
        return fn
    return register


def completion_hook(form_key: str):
    """Register a hook that runs before a user task with this form completes."""
    def register(fn):
        COMPLETION_HOOKS[form_key] = fn
        return fn
    return register


def credit_office_id() -> int | None:
    return db.session.scalar(select(Unit.id).where(Unit.is_credit_office.is_(True)).limit(1))


def _describer(case: Case) -> Callable:
    def describe(task) -> runtime.TaskInfo:
        lane = task.task_spec.lane
        unit = {
            "applicant": case.applicant_unit_id,
            "verifier": case.record.recording_unit_id,
        }.get(lane, credit_office_id())
        props = task.task_spec.extensions.get("properties", {})
        if props.get("dueVariable"):
            # A per-case deadline the app computed in working days (e.g. 整改期限).
            variable = props["dueVariable"]
            return runtime.TaskInfo(unit, runtime.parse_instant(task.data[variable]),
                                    bool(task.data.get(f"{variable}_provisional")), None, case.type)
        days = rules.time_limit(case.rule_set, props["timeLimit"])
        due = calendar.deadline(now(), days)
        return runtime.TaskInfo(unit, due.due, due.provisional, days, case.type)
    return describe


def _apply_effects(case: Case, ctx: runtime.RunContext, user_id: int | None) -> None:
    # Effects may emit further engine work only through the workflow, so a simple loop suffices.
    for item in ctx.effects:
        EFFECTS[item.name](case, user_id, **item.args)
    ctx.effects.clear()


def _after_save(case: Case, opened: list[HumanTask], wf) -> None:
    if wf.is_completed() and case.status in ("in_progress", "supplement"):
        from app.services.transitions import change_case_status

        change_case_status(case, "closed", user_id=None, reason="流程办结")
    open_titles = db.session.scalars(
        select(HumanTask.title).where(HumanTask.case_id == case.id, HumanTask.status == "open").order_by(HumanTask.created_at)
    ).all()
    case.current_step = "、".join(open_titles) if open_titles else ("已办结" if wf.is_completed() else "")
    for task in opened:
        db.session.add(CaseEvent(case_id=case.id, at=now(), action="task_opened", step=task.bpmn_id, comment=task.title,
                                 details={"task_id": task.id, "due_at": task.due_at.isoformat() if task.due_at else None}))
        notifications.notify(task.candidate_unit_id, task.lane, kind="new_task", title=f"新待办：{task.title}",
                             body=f"办件 {case.number}，办理期限见待办列表。", case_id=case.id)


def start_process(case: Case, user: User | None, data: dict | None = None) -> ProcessInstance:
    """Create the case's process instance and run it to its first human task (flushes only; user None = system)."""
    definition = latest_definition(PROCESS_KEYS[case.type])
    if definition is None:
        raise RuntimeError(f"process {PROCESS_KEYS[case.type]} is not deployed (run: flask --app wsgi processes deploy)")
    ctx = runtime.RunContext()
    wf = runtime.new_workflow(definition, {"case_id": case.id, **(data or {})}, ctx)
    instance = ProcessInstance(definition_id=definition.id, case_id=case.id, status="running",
                               state=runtime.dump_state(wf), serializer_version=runtime.SERIALIZER.VERSION,
                               lock_version=0, updated_at=now())
    db.session.add(instance)
    db.session.flush()
    actor_id = user.id if user else None
    _apply_effects(case, ctx, actor_id)
    opened = runtime.save_workflow(instance, wf, _describer(case), actor_id=actor_id)
    _after_save(case, opened, wf)
    audit.record("process.start", object_type="case", object_id=case.id,
                 details={"process": definition.process_key, "version": definition.version})
    faults.fault_point("process.start.before_commit")
    return instance


def _lock_open_task(user: User, task: HumanTask) -> ProcessInstance:
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
    result = db.session.execute(
        update(HumanTask)
        .where(HumanTask.id == task.id, HumanTask.status == "open", holder_now)
        .values(assignee_id=assignee_id)
        .execution_options(synchronize_session=False)
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
    _check_separation(user, db.session.get(Case, task.case_id), task)  # say so before the work, not at the end
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


def _check_separation(user: User, case: Case, task: HumanTask) -> None:
    # The refusal is audited once, as a 403 denial with this code, by the web and API error handlers.
    if separation_conflict(user, case, task):
        raise Forbidden(_("不能审批本人提交、审查、核查或拟定的事项（职责分离）。"), code="separation_of_duties")


def complete_task(user: User, task_id: str, values: dict) -> HumanTask:
    """Validate and complete a user task, run the engine on, and save everything in one transaction."""
    task = access.get_task(user, task_id)
    form = form_for(task.form_key)
    clean = form.validate(values)  # before locking: bad input changes nothing
    instance = _lock_open_task(user, task)
    case = db.session.get(Case, task.case_id)
    _check_separation(user, case, task)
    ctx = runtime.RunContext()
    wf = runtime.load_workflow(instance, ctx)
    spiff_task = runtime.ready_task(wf, task.id)
    if spiff_task is None:
        raise Conflict(_("该任务已被他人办理完毕。"), code="task_closed")
    hook = COMPLETION_HOOKS.get(task.form_key)
    extra = hook(case, user, clean) if hook else {}
    spiff_task.data.update(form.routing_values(clean))
    spiff_task.data.update(extra)
    spiff_task.run()
    wf.do_engine_steps()
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="task_completed", step=task.bpmn_id,
                             choice=next(iter(form.routing_values(clean).values()), None), comment=task.title,
                             internal=not form.public, details={"values": clean}))
    audit.record("task.complete", object_type="task", object_id=task.id,
                 details={"case_id": case.id, "step": task.bpmn_id, "routing": form.routing_values(clean)})
    actor_id = user.id if user else None
    _apply_effects(case, ctx, actor_id)
    opened = runtime.save_workflow(instance, wf, _describer(case), actor_id=actor_id)
    _after_save(case, opened, wf)
    faults.fault_point("process.complete.before_commit")
    faults.after_commit("process.complete.after_commit")
    return task


def fire_timer(job_id: str) -> bool:
    """Fire one due timer under the instance lock; False when another worker already did."""
    job = db.session.get(TimerJob, job_id)
    if job is None or job.status != "pending":
        return False
    instance = runtime.lock_instance(job.instance_id, wait=True)
    db.session.refresh(job)
    if job.status != "pending" or job.fire_at > now():
        return False
    case = db.session.get(Case, instance.case_id)
    ctx = runtime.RunContext()
    wf = runtime.load_workflow(instance, ctx)
    wf.refresh_timers()
    wf.do_engine_steps()
    db.session.add(CaseEvent(case_id=case.id, at=now(), action="timer_fired", step=job.bpmn_id, comment="期限届满"))
    audit.record("timer.fire", object_type="timer", object_id=job.id, details={"case_id": case.id, "step": job.bpmn_id})
    _apply_effects(case, ctx, None)
    opened = runtime.save_workflow(instance, wf, _describer(case))
    _after_save(case, opened, wf)
    return True


def due_timer_ids(limit: int = 100) -> list[str]:
    """Ids of pending timers that are due by the app clock (read from the projection only)."""
    return list(db.session.scalars(
        select(TimerJob.id).where(TIMER_IS_PENDING, TimerJob.fire_at <= now()).order_by(TimerJob.fire_at).limit(limit)
    ))


def last_values(case: Case, step: str) -> dict:
    """Return the values last submitted at a step of this case (from the history)."""
    event = db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "task_completed", CaseEvent.step == step)
        .order_by(CaseEvent.id.desc()).limit(1)
    )
    return dict(event.details.get("values", {})) if event else {}


@effect("close_case")
def _close_case(case: Case, user_id: int | None, *, status: str, outcome: str) -> None:
    from app.services.transitions import change_case_status

    from app.i18n import chinese
    from app.services.outcomes import OUTCOME_LABELS

    case.outcome = outcome
    # The history is data: it keeps the Chinese words whatever language the actor browses in.
    change_case_status(case, status, user_id=user_id, reason=f"办结：{chinese(OUTCOME_LABELS.get(outcome, outcome))}")


@effect("notify_overdue")
def _notify_overdue(case: Case, user_id: int | None, *, step: str) -> None:
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.bpmn_id == step,
                                                     HumanTask.status == "open"))
    if task is None:
        return
    notifications.notify(task.candidate_unit_id, task.lane, kind="overdue", title=f"催办：{task.title}已超期",
                         body=f"办件 {case.number}", case_id=case.id)
    notifications.notify(credit_office_id(), "intake", kind="escalation", title=f"超期报告：{task.title}",
                         body=f"办件 {case.number}", case_id=case.id)
    db.session.add(CaseEvent(case_id=case.id, at=now(), action="overdue_escalated", step=step, internal=True,
                             comment=f"{task.title}超期，已催办并报受理员"))


@effect("issue_letter")
def _issue_letter(case: Case, user_id: int | None, *, letter: str) -> None:
    from app.services import letters

    letters.issue_letter(case, letter, user_id=user_id, context=LETTER_CONTEXTS.get(letter, lambda c: {})(case))
