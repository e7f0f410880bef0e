"""The rectification (SPEC §4.2): opening an order, deadlines, overdue consequences, acceptance."""
from __future__ import annotations

from flask_babel import gettext as _
import secrets
from datetime import time

from sqlalchemy import select

from app.extensions import db
from app.models import RECORD_PUBLIC, Case, CaseEvent, CreditRecord, RecordHistory, User
from app.services import access, audit, calendar, letters, locks, notifications, rules, sanctions, sequences, workdays
from app.services.workflow import registry
from app.core import clock
from app.core.clock import now
from app.core.errors import Conflict, Invalid
from app.services.workflow.run import start_process
from app.services.transitions import change_case_status

MAX_DAYS = 120


def deadline_values(case: Case, days: int) -> dict:
    """Workflow variables for a deadline N working days from now and its reminder, which comes the case's rule set's
    rectification_reminder working days before (3 by default) at 09:00 local time."""
    due = calendar.deadline(now(), days)
    cal = calendar.load_calendar()
    lead = rules.time_limit(case.rule_set, "rectification_reminder")
    remind_day, remind_provisional = workdays.subtract_working_days(cal, due.due_date, lead)
    remind_at = clock.local_instant(remind_day, time(9, 0))
    return {
        "rectification_due": due.due.isoformat(),
        "rectification_due_provisional": due.provisional or remind_provisional,
        "reminder_due": max(remind_at, now()).isoformat(),
        "deadline_days": days,
    }


def deadline_delivered(case: Case, due) -> dict:
    """The notice was delivered (or is still awaited) and its deadline now ends at `due` (delivery.py): the reminder
    follows it, and the case shows the new last day. LetterType.follow_on of 限期整改通知书."""
    lead = rules.time_limit(case.rule_set, "rectification_reminder")
    remind_day, _provisional = workdays.subtract_working_days(calendar.load_calendar(), clock.local_date(due), lead)
    case.form = {**case.form, "current_due": due.isoformat()}
    return {"reminder_due": clock.local_instant(remind_day, time(9, 0))}


def parse_days(raw) -> int:
    """Read a deadline in working days (1–120) or raise Invalid."""
    try:
        days = int(str(raw).strip())
    except ValueError:
        raise Invalid(_("整改期限应为工作日天数（整数）。"), fields={"deadline_days": _("1–120 的整数")}) from None
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(_("整改期限应在 1 到 %(max)s 个工作日之间。", max=MAX_DAYS), fields={"deadline_days": f"1–{MAX_DAYS}"})
    return days


def rectification_block(record: CreditRecord) -> str | None:
    """Say why no rectification can be opened for a record now (None when one can)."""
    if record.subject_type != "unit":
        return _("限期整改只适用于失信主体为单位的记录。")
    if record.status not in RECORD_PUBLIC:
        return _("该记录当前状态为“%(status)s”，不能发起限期整改。", status=record.status_label)
    if record.rectified_at is not None:
        return _("该记录已整改完毕。")
    open_case = db.session.scalar(select(Case.number).where(
        Case.record_id == record.id, Case.type == "rectification", Case.status == "in_progress"))
    if open_case:
        return _("该记录已有正在办理的限期整改（%(number)s）。", number=open_case)
    return None


def open_rectification(user: User, record_id: int, deadline_days, requirements: str) -> Case:
    """Open a rectification order for a unit's record; it starts at once (flushes only)."""
    if not user.has_role("intake"):
        raise Invalid(_("只有信用办受理员可以发起限期整改。"), code="role")
    record = access.get_record(user, record_id)
    locks.lock_record(record.id)  # two officers opening an order for the same record at once: one wins
    db.session.refresh(record)
    days = parse_days(deadline_days)
    requirements = (requirements or "").strip()
    if not requirements:
        raise Invalid(_("请填写整改要求。"), fields={"requirements": _("必填")})
    if len(requirements) > 4000:
        raise Invalid(_("整改要求不能超过 4000 字。"), fields={"requirements": _("不超过 4000 字")})
    block = rectification_block(record)
    if block:
        raise Conflict(block, code="rectification_blocked")
    year = clock.local_today().year
    case = Case(
        type="rectification", status="draft", record_id=record.id, applicant_unit_id=record.subject_unit_id,
        created_by_id=user.id, rule_set_id=rules.rule_set_on(record.basis_date).id,
        form={"deadline_days": days, "requirements": requirements}, query_code=secrets.token_hex(4).upper(),
        created_at=now(), submitted_at=now(),
        number=f"ZG-{year}-{sequences.next_number('case:rectification', year):06d}",
    )
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="created", to_status="draft",
                             comment=f"发起限期整改，期限 {days} 个工作日"))
    audit.record("case.create", object_type="case", object_id=case.id, details={"type": "rectification",
                                                                               "record_id": record.id, "days": days})
    change_case_status(case, "in_progress", user_id=user.id, reason="信用办发起限期整改")
    values = deadline_values(case, days)
    case.form = {**case.form, "current_due": values["rectification_due"]}
    start_process(case, user, values)
    return case


def _reviewed(case: Case, user: User, values: dict) -> dict:
    if values["review"] != "return_for_rework":
        return {}
    days = parse_days(values["new_deadline_days"])
    extra = deadline_values(case, days)
    case.form = {**case.form, "current_due": extra["rectification_due"], "deadline_days": days}
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="deadline_set", step="review_rectification",
                             comment=f"退回重新整改，新期限 {days} 个工作日"))
    return extra


def _activate(case: Case, user_id: int | None, *, kind: str) -> None:
    sanctions.impose(kind, case, status="active", user_id=user_id, reason=f"{case.number}：限期整改通知")


def _notify_applicant(case: Case, user_id: int | None, *, kind: str) -> None:
    notifications.notify(case.applicant_unit_id, "applicant", kind=kind, case_id=case.id,
                         title=f"整改期限即将届满：{case.number}",
                         body="请在期限届满前提交书面说明和整改情况报告，逾期将取消荣誉评选资格并可能被通报批评。")
    db.session.add(CaseEvent(case_id=case.id, at=now(), action="reminder_sent", step="submit_rectification",
                             comment="期满前提醒已发送"))


def _overdue(case: Case, user_id: int | None) -> None:
    sanctions.impose("honor_disqualification", case, status="active", user_id=user_id,
                     reason=f"{case.number}：逾期未提交整改材料，取消荣誉评选资格")
    sanctions.impose("public_criticism", case, status="proposed", user_id=user_id,
                     reason=f"{case.number}：逾期未整改，拟公开通报批评")
    notifications.notify(case.applicant_unit_id, "applicant", kind="overdue", case_id=case.id,
                         title=f"整改已逾期：{case.number}",
                         body="已取消你单位荣誉评选资格，并拟予通报批评。你单位仍可逾期提交整改材料。")


def _decide_criticism(case: Case, user_id: int | None, *, approved: str) -> None:
    for sanction in sanctions.of_case(case, "public_criticism", "proposed"):
        if approved == "yes":
            sanctions.activate(sanction, case, user_id=user_id, reason="信用办负责人批准通报批评")
        else:
            from app.services.transitions import change_sanction_status

            change_sanction_status(sanction, "declined", user_id=user_id, case_id=case.id, reason="不予通报批评")
    if approved == "yes":
        letters.issue_letter(case, "public_criticism_decision", user_id=user_id,
                             context=registry.letter_type("public_criticism_decision").context(case))


def _accepted(case: Case, user_id: int | None) -> None:
    record = case.record
    record.rectified_at = now()
    db.session.add(RecordHistory(record_id=record.id, at=now(), user_id=user_id, case_id=case.id, action="rectified",
                                 changes={"rectified_at": [None, record.rectified_at.isoformat()]},
                                 reason=f"{case.number}：整改通过审核（信用修复的前提条件）"))
    for sanction in sanctions.of_case(case, "rectification_order", "active"):
        sanctions.lift(sanction, case, user_id=user_id, reason="整改已通过审核")
    case.outcome = "accepted"
    notifications.notify(case.applicant_unit_id, "applicant", kind="decision", case_id=case.id,
                         title=f"整改已通过审核：{case.number}", body="限期整改措施已解除。")


EFFECTS = {"activate_sanction": _activate, "notify_applicant": _notify_applicant, "rectification_overdue": _overdue,
           "decide_public_criticism": _decide_criticism, "rectification_accepted": _accepted}
HOOKS = {"review_rectification": _reviewed}
