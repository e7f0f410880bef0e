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
    rectification_reminder working days before (3 by default) at 09:00 local time; and the end of the window to state
    a case (陈述申辩) should the deadline pass: statement_window working days after it (the 拟惩戒告知书 is issued the
    moment the deadline passes; its delivery moves the window once deliveries are recorded)."""
    due = calendar.deadline(now(), days)
    cal = calendar.load_calendar()
    lead = rules.time_limit(case.rule_set, "rectification_reminder")
    remind_day, remind_provisional = workdays.subtract_working_days(cal, due.due_date, lead)
    remind_at = clock.local_instant(remind_day, time(9, 0))
    statement = calendar.deadline(due.due, rules.time_limit(case.rule_set, "statement_window"))
    return {
        "rectification_due": due.due.isoformat(),
        "rectification_due_provisional": due.provisional or remind_provisional,
        "reminder_due": max(remind_at, now()).isoformat(),
        "deadline_days": days,
        "statement_due": statement.due.isoformat(),
        "statement_due_provisional": statement.provisional,
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


def _measures(case: Case) -> dict:
    return dict(case.form.get("measures") or {})


def _set_measures(case: Case, **values) -> None:
    case.form = {**case.form, "measures": {**_measures(case), **values}}


def _reviewed(case: Case, user: User, values: dict) -> dict:
    """审核整改: a return for rework sets the new deadline and issues the 重新整改通知书 stating it."""
    if values["review"] != "return_for_rework":
        return {}
    days = parse_days(values["new_deadline_days"])
    extra = deadline_values(case, days)
    case.form = {**case.form, "current_due": extra["rectification_due"], "deadline_days": days,
                 "rework_opinion": values.get("opinion", "")}
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="deadline_set", step="review_rectification",
                             comment=f"退回重新整改，新期限 {days} 个工作日"))
    _issue(case, "rework_notice", user.id)
    return extra


def _stated(case: Case, user: User, values: dict) -> dict:
    """陈述申辩: the unit's statement is kept for the office's review and the decision letter."""
    _set_measures(case, statement=values["statement"])
    return {}


def _statement_reviewed(case: Case, user: User, values: dict) -> dict:
    """The office's review of the statement: confirm, 从轻 or 免于惩戒, with its reasons (the approver decides)."""
    _set_measures(case, outcome=values["outcome"], reasons=values["reasons"])
    return {}


def _approval(case: Case, user: User, values: dict) -> dict:
    _set_measures(case, approval=values["measures_approval"], approval_comment=values.get("comment", ""))
    return {}


def _issue(case: Case, letter_type: str, user_id: int | None) -> None:
    letters.issue_letter(case, letter_type, user_id=user_id, context=registry.letter_type(letter_type).context(case))


def _activate(case: Case, user_id: int | None, *, kind: str) -> None:
    sanctions.impose(kind, case, status="active", user_id=user_id, reason=f"{case.number}：限期整改通知")


def _notify_applicant(case: Case, user_id: int | None, *, kind: str) -> None:
    notifications.notify(case.applicant_unit_id, "applicant", kind=kind, case_id=case.id,
                         title=f"整改期限即将届满：{case.number}",
                         body="请在期限届满前提交书面说明和整改情况报告；逾期的，本办将书面告知拟采取的惩戒措施。")
    db.session.add(CaseEvent(case_id=case.id, at=now(), action="reminder_sent", step="submit_rectification",
                             comment="期满前提醒已发送"))


def propose(case: Case, user_id: int | None, *, notice: bool) -> list[str]:
    """An overdue rectification: propose (never impose) the catalogue's measures for it, each at most once per record
    (one already active or proposed stands and is not stacked), and issue the 拟惩戒告知书 when `notice`."""
    catalogue = sanctions.catalogue(case.rule_set)
    proposed, existing = [], []
    for kind, entry in catalogue.items():
        if not entry.get("on_overdue") or case.record.subject_type not in entry.get("applies_to", ()):
            continue
        if sanctions.standing(case, kind) is not None:
            existing.append(entry["name"])
            continue
        sanctions.impose(kind, case, status="proposed", user_id=user_id,
                         reason=f"{case.number}：逾期未提交整改材料，拟{entry['name']}（经书面决定后方予实施）")
        proposed.append({"kind": kind, "name": entry["name"], "basis": entry["basis"]})
    case.form = {**case.form, "measures": {"proposed": proposed, "existing": existing,
                                           "noticed_on": clock.local_today().isoformat() if notice else None}}
    db.session.add(CaseEvent(case_id=case.id, at=now(), action="measures_proposed", step="submit_rectification",
                             comment="逾期未整改，拟采取：" + ("、".join(p["name"] for p in proposed) or "无新增措施"),
                             details={"proposed": [p["kind"] for p in proposed], "existing": existing}))
    audit.record("sanction.propose", object_type="case", object_id=case.id,
                 details={"proposed": [p["kind"] for p in proposed], "existing": existing})
    if notice:
        _issue(case, "measures_notice", user_id)
    notifications.notify(case.applicant_unit_id, "applicant", kind="overdue", case_id=case.id,
                         title=f"整改已逾期：{case.number}",
                         body="本办拟对你单位采取失信惩戒措施（经书面决定后方予实施），你单位可在规定期限内陈述申辩，"
                              "仍可逾期提交整改材料。")
    return [p["kind"] for p in proposed]


def decide(case: Case, user_id: int | None, *, approved: bool, reasons: str) -> None:
    """The approver's decision on the proposed measures: those the outcome keeps start today (the decision date), the
    rest are declined; the 失信惩戒决定书 says which, and a public criticism is issued as a 通报."""
    catalogue = sanctions.catalogue(case.rule_set)
    outcome = _measures(case).get("outcome", "confirm") if approved else "exempt"
    imposed, not_imposed, criticised = [], [], False
    for kind, entry in catalogue.items():
        for sanction in sanctions.of_case(case, kind, "proposed"):
            keep = outcome == "confirm" or (outcome == "lighten" and entry.get("lenient") == "keep")
            if keep:
                sanctions.activate(sanction, case, user_id=user_id, reason=f"{case.number}：经书面决定实施{entry['name']}")
                imposed.append({"kind": kind, "name": entry["name"], "basis": entry["basis"],
                                "start": letters.chinese_date(sanction.start_date),
                                "term_end": letters.chinese_date(sanction.term_end) if sanction.term_end else ""})
                criticised = criticised or kind == "public_criticism"
            else:
                sanctions.decline(sanction, case, user_id=user_id,
                                  reason=f"{case.number}：{'从轻处理' if outcome == 'lighten' else '免于惩戒'}，不予实施")
                not_imposed.append(entry["name"])
    _set_measures(case, outcome=outcome, reasons=reasons, imposed=imposed, not_imposed=not_imposed,
                  decided_on=clock.local_today().isoformat())
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user_id, action="measures_decided",
                             comment="决定实施：" + ("、".join(m["name"] for m in imposed) or "无"),
                             details={"outcome": outcome, "imposed": [m["kind"] for m in imposed]}))
    audit.record("sanction.decide", object_type="case", object_id=case.id,
                 details={"outcome": outcome, "imposed": [m["kind"] for m in imposed], "declined": not_imposed})
    _issue(case, "measures_decision", user_id)
    if criticised:
        _issue(case, "public_criticism_decision", user_id)


def _overdue(case: Case, user_id: int | None) -> None:
    """The old diagram's overdue step (version 1): it now only proposes the measures; its approve_public_criticism step
    decides them (decide_public_criticism)."""
    propose(case, user_id, notice=False)


def _propose_measures(case: Case, user_id: int | None) -> None:
    propose(case, user_id, notice=True)


def _decide_measures(case: Case, user_id: int | None) -> None:
    m = _measures(case)
    approved = m.get("approval") == "approve"
    reasons = m.get("reasons", "") if approved else m.get("approval_comment", "")
    decide(case, user_id, approved=approved, reasons=reasons)


def _decide_criticism(case: Case, user_id: int | None, *, approved: str) -> None:
    """The old diagram's decision (version 1): the approver's 批准 decides every proposed measure, 不予 none."""
    from app.services.workflow.run import last_values

    comment = last_values(case, "approve_public_criticism").get("comment", "")
    decide(case, user_id, approved=approved == "yes",
           reasons=comment or _("你单位未在整改期限内书面说明原因并完成整改。"))


def _accepted(case: Case, user_id: int | None) -> None:
    record = case.record
    record.rectified_at = now()
    db.session.add(RecordHistory(record_id=record.id, at=now(), user_id=user_id, case_id=case.id, action="rectified",
                                 changes={"rectified_at": [None, record.rectified_at.isoformat()]},
                                 reason=f"{case.number}：整改通过审核（信用修复的前提条件）"))
    for sanction in sanctions.of_case(case, "rectification_order", "active"):
        sanctions.lift(sanction, case, user_id=user_id, reason="整改已通过审核")
    case.outcome = "accepted"
    _issue(case, "rectification_accepted_notice", user_id)
    notifications.notify(case.applicant_unit_id, "applicant", kind="decision", case_id=case.id,
                         title=f"整改已通过审核：{case.number}", body="限期整改措施已解除。")


EFFECTS = {"activate_sanction": _activate, "notify_applicant": _notify_applicant, "rectification_overdue": _overdue,
           "decide_public_criticism": _decide_criticism, "rectification_accepted": _accepted,
           "propose_measures": _propose_measures, "decide_measures": _decide_measures}
HOOKS = {"review_rectification": _reviewed, "state_case": _stated, "review_statement": _statement_reviewed,
         "approve_measures": _approval}
