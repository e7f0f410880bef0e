"""The objection review (SPEC §4.1): filing, and the effects and hooks its BPMN asks for."""
from __future__ import annotations

from app.i18n import chinese
from flask_babel import gettext as _, lazy_gettext as _l
from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import CASE_OPEN, RECORD_SETTLED, Case, CaseEvent, CreditRecord, HumanTask, RecordHistory, Unit, User
from app.models.records import CATEGORIES, SEVERITIES
from app.services import access, applications, audit, calendar, locks, notifications, publication, rules
from app.services.workflow import run
from app.services.workflow.claims import may_work
from app.core.clock import local_today, now
from app.core.errors import Conflict, Forbidden, Invalid
from app.services.workflow.run import last_values
from app.services.transitions import change_record_status

REASONS = {
    "wrong_content": _l("信息错误"),
    "omission": _l("遗漏"),
    "duplicate": _l("重复公示"),
    "should_not_publish": _l("不应公示"),
    "overdue_publication": _l("超期公示"),
    "inconsistent_with_decision": _l("与认定文书不一致"),
    "decision_revoked": _l("认定文书已被撤销/变更"),
}
OBJECTIONABLE = RECORD_SETTLED
# The office's possible decisions, as the 拟定处理意见 form offers them (task_forms.DECISION_CHOICES).
DECISION_LABELS = (("correct", _l("更正")), ("revoke", _l("撤销")), ("maintain", _l("维持，不予更正")),
                   ("annotate", _l("无法确认，记载异议")))


def objection_block(record: CreditRecord) -> str | None:
    """Say why no objection can be filed against a record now (None when one can)."""
    open_case = db.session.scalar(
        select(Case.number).where(Case.record_id == record.id, Case.type == "objection",
                                  Case.status.in_(CASE_OPEN))
    )
    if open_case:  # first: the record is flagged 异议中 from the objection's receipt
        return _("该记录已有正在办理的异议（受理编号 %(number)s），同一记录同时只能有一件异议。", number=open_case)
    if record.status not in OBJECTIONABLE:
        return _("该记录当前状态为“%(status)s”，不能提出异议。", status=record.status_label)
    change = db.session.scalar(select(Case.number).where(Case.record_id == record.id, Case.type == "source_change",
                                                         Case.status.in_(CASE_OPEN)))
    if change:
        # The recording unit is already changing the record at the source (issue 12 §4): that comes first.
        return _("认定单位已报送该记录认定文书的撤销或变更（编号 %(number)s），信用办正在办理；办结后仍有异议的，可再行提出。",
                 number=change)
    return None


def create_objection(user: User, record_id: int, reason: str, statement: str) -> Case:
    """Create a draft objection for one of the user's unit's records (flushes only)."""
    if not user.has_role("applicant"):
        raise Invalid(_("只有申请单位经办人可以提出异议。"), code="role")
    record = access.get_record(user, record_id)
    if record.subject_unit_id != user.unit_id:
        raise Invalid(_("只能对本单位的记录提出异议。"), code="not_own_record")
    errors = {}
    if reason not in REASONS:
        errors["reason"] = _("请选择异议理由。")
    statement = (statement or "").strip()
    if not statement:
        errors["statement"] = _("请填写异议陈述。")
    elif len(statement) > 4000:
        errors["statement"] = _("异议陈述不能超过 4000 字。")
    if errors:
        raise Invalid(_("申请内容有误，请修改后重新提交。"), fields=errors)
    block = objection_block(record)
    if block:
        raise Conflict(block, code="objection_blocked")
    case = applications.new_draft(user, "objection", record, {"reason": reason, "statement": statement})
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="created", to_status="draft",
                             comment=f"异议理由：{chinese(REASONS[reason])}"))
    audit.record("case.create", object_type="case", object_id=case.id, details={"type": "objection", "record_id": record.id})
    return case


def _intake_decided(case: Case, user: User, values: dict) -> dict:
    if values["intake_choice"] == "request_supplement":
        return applications.request_supplement(case, user, values)
    if values["intake_choice"] == "accept":
        due = calendar.deadline(now(), rules.time_limit(case.rule_set, "objection_verify"))
        return {"verify_due": due.due.isoformat()}
    return {}


# --- whose answer decides (谁认定、谁更正) -----------------------------------------------------------------------
# The unit that made a record decides whether it is wrong (国家发展改革委令第36号第三条; LAW.md "Who decides"): its 核查
# answer binds the office, whose decision letter records that conclusion and never contradicts it. "核实无误" leaves
# only 维持; "确认有误" only what the verifier proposed (更正 with the corrected content, or 撤销); "无法确认" leaves what
# the rule set's policy `objection_unconfirmed` says (default 记载异议: the record stays, with the objection noted — the
# office cannot find an error the recording unit does not confirm, nor dismiss an objection it cannot verify).
# A court's record (失信被执行人 and other judicial records) is corrected or deleted only by the court (最高人民法院
# 《关于公布失信被执行人名单信息的若干规定》第十二条): the court answers one way or the other and its 确认有误 leaves
# 更正 or 撤销 as it ordered.
BINDING_ANSWERS = {"error_confirmed": ("correct", "revoke"), "no_error": ("maintain",), "cannot_confirm": ("annotate",)}
ANSWER_TEXT = {"error_confirmed": "确认有误", "no_error": "核实无误", "cannot_confirm": "无法确认"}
PROPOSALS = (("correct", _l("更正")), ("revoke", _l("撤销")))


def answer_binds(record: CreditRecord) -> bool:
    """Whether the recording unit's answer decides the objection: always (谁认定、谁更正)."""
    return True


def binding_decisions(case: Case) -> set[str]:
    """The decisions the recording unit's 核查 answer leaves the office (empty before it answered)."""
    verified = last_values(case, "verify_record")
    answer = verified.get("verify_choice")
    if answer == "error_confirmed" and not case.record.judicial and verified.get("proposal"):
        return {verified["proposal"]}
    if answer == "cannot_confirm" and not case.record.judicial:
        return set(rules.policy(case.rule_set, "objection_unconfirmed"))
    if answer == "cannot_confirm":
        return set()
    # A court's 确认有误, or one given before the verifier's form asked for a proposal, leaves 更正 or 撤销.
    return set(BINDING_ANSWERS.get(answer, ()))


def decision_choices(case: Case) -> dict:
    """For the 拟定处理意见 form: only the decisions the answer leaves (TaskForm.choices_for)."""
    allowed = binding_decisions(case)
    return {"decision": tuple((value, label) for value, label in DECISION_LABELS if value in allowed)}


def court_answer(case: Case) -> dict:
    """For the decision letter: the recording unit (the court, on a judicial record) and its answer."""
    verified = last_values(case, "verify_record")
    return {"court": case.record.recording_unit.name if case.record.judicial else "",
            "verifier": case.record.recording_unit.name,
            "answer": ANSWER_TEXT.get(verified.get("verify_choice"), ""),
            "court_answer": ANSWER_TEXT.get(verified.get("verify_choice"), ""),
            "court_opinion": verified.get("opinion", "")}


def _binding_refusal(case: Case, decision: str) -> Invalid | None:
    allowed = binding_decisions(case)
    if decision in allowed:
        return None
    labels = {value: label for value, label in DECISION_LABELS}
    verified = last_values(case, "verify_record")
    answer = ANSWER_TEXT.get(verified.get("verify_choice"), "")
    allowed_text = _("、").join(f"“{labels[d]}”" for d in sorted(allowed, key=list(labels).index)) or _("（无）")
    if case.record.judicial:
        return Invalid(_("该记录由%(court)s作出（司法记录），只能依照法院的审查答复处理：法院答复“%(answer)s”，处理意见只能为"
                         "%(allowed)s。", court=case.record.recording_unit.name, answer=answer, allowed=allowed_text),
                       code="court_answer_binds", fields={"decision": _("须依照法院的审查答复")})
    return Invalid(_("谁认定、谁更正：该记录由%(unit)s认定，处理意见须依照其核查结论。核查结论为“%(answer)s”，处理意见只能为"
                     "%(allowed)s。", unit=case.record.recording_unit.name, answer=answer, allowed=allowed_text),
                   code="verifier_answer_binds", fields={"decision": _("须依照认定单位的核查结论")})


# --- what an objection can correct: every field of the record -----------------------------------------------------
CORRECTABLE = {
    # record field -> (verifier's form field, label in history and letters)
    "facts": ("corrected_facts", "失信事实"),
    "basis_doc_no": ("corrected_basis_doc_no", "认定文书号"),
    "basis_date": ("corrected_basis_date", "认定文书日期"),
    "category": ("corrected_category", "失信类别"),
    "severity": ("corrected_severity", "失信程度"),
    "legal_basis": ("corrected_legal_basis", "认定依据"),
}
DATE_LABELS = {"earliest_repair_date": "最早可申请修复日期", "auto_end_date": "公示截止日期"}


def current_facts(case: Case) -> dict[str, str]:
    """The record's correctable values as the verifier's form writes them (dates as 2026-04-01, codes for choices)."""
    record = case.record
    return {key: (getattr(record, field).isoformat() if field == "basis_date" else str(getattr(record, field) or ""))
            for field, (key, _label) in CORRECTABLE.items()}


def _parse_corrections(record: CreditRecord, verified: dict) -> dict:
    """The corrected values the verifier gave, parsed (raises Invalid naming every bad one)."""
    errors, values = {}, {}
    for field, (key, _label) in CORRECTABLE.items():
        raw = (verified.get(key) or "").strip()
        if not raw or raw == "—":
            continue
        if field == "basis_date":
            try:
                raw = date.fromisoformat(raw)
            except ValueError:
                errors[key] = _("请按 2026-04-01 的格式填写日期。")
                continue
            if raw > local_today():
                errors[key] = _("认定文书日期不能晚于今天。")
                continue
        elif field == "category" and raw not in CATEGORIES:
            errors[key] = _("请从给定选项中选择。")
            continue
        values[field] = raw
    if errors:
        raise Invalid(_("更正内容有误，请修改后重新提交。"), fields=errors)
    return values


def _corrections(record: CreditRecord, verified: dict) -> dict:
    """field -> (old, new) for every value the correction changes, with the recomputed dates."""
    changes = {}
    for field, new in _parse_corrections(record, verified).items():
        if new != getattr(record, field):
            changes[field] = (getattr(record, field), new)
    if "severity" in changes or "basis_date" in changes:
        severity = changes.get("severity", (None, record.severity))[1]
        basis_date = changes.get("basis_date", (None, record.basis_date))[1]
        earliest, end = rules.publication_dates(record.rule_set, severity, basis_date)
        for field, value in (("earliest_repair_date", earliest), ("auto_end_date", end)):
            if value != getattr(record, field):
                changes[field] = (getattr(record, field), value)
    return changes


def _shown(field: str, value) -> str:
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    if field == "severity":
        return chinese(SEVERITIES.get(value, value))
    if field == "category":
        return chinese(CATEGORIES.get(value, value))
    return str(value)


def correction_lines(changes: dict) -> list[str]:
    """"失信程度由“一般”更正为“严重”" for every change (the long texts: "失信事实更正为：…")."""
    labels = {field: label for field, (_key, label) in CORRECTABLE.items()} | DATE_LABELS
    lines = []
    for field, (old, new) in changes.items():
        if field in ("facts", "legal_basis"):
            lines.append(f"{labels[field]}更正为：{str(new).rstrip('。')}")
        elif field in DATE_LABELS:
            lines.append(f"{labels[field]}相应调整为{_shown(field, new)}")
        else:
            lines.append(f"{labels[field]}由“{_shown(field, old)}”更正为“{_shown(field, new)}”")
    return lines


def corrected_content(case: Case) -> list[str]:
    """What the 更正 changed (after the decision: from the record's history; before it: from the verifier's form)."""
    row = db.session.scalar(select(RecordHistory).where(RecordHistory.case_id == case.id,
                                                        RecordHistory.record_id == case.record_id,
                                                        RecordHistory.to_status == "corrected")
                            .order_by(RecordHistory.id.desc()).limit(1))
    if row is not None:
        changes = {}
        for field, (old, new) in (row.changes or {}).items():
            if field in ("basis_date", *DATE_LABELS):
                old, new = (date.fromisoformat(v) if v else v for v in (old, new))
            changes[field] = (old, new)
        return correction_lines(changes)
    try:
        return correction_lines(_corrections(case.record, last_values(case, "verify_record")))
    except Invalid:
        return []


def _verified(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 核查: a court answers one way or the other; a 确认有误 says what to do (更正 with the
    corrected content, or 撤销)."""
    if case.record.judicial:
        if values["verify_choice"] not in ("error_confirmed", "no_error"):
            raise Invalid(_("该记录由本院作出（司法记录），异议处理依照本院的审查答复，请答复“确认有误”或“核实无误”。"),
                          code="court_must_answer", fields={"verify_choice": _("请答复确认有误或核实无误")})
        if values["verify_choice"] == "error_confirmed" and values.get("proposal") == "correct":
            _require_a_correction(case, values)
        return {}
    if values["verify_choice"] != "error_confirmed":
        return {}
    if values.get("proposal") not in {p for p, _label in PROPOSALS}:
        raise Invalid(_("确认有误的，请写明处理建议：更正（并填写更正后的内容）或撤销。"), code="proposal_required",
                      fields={"proposal": _("请选择更正或撤销")})
    if values["proposal"] == "correct":
        _require_a_correction(case, values)
    return {}


def _require_a_correction(case: Case, values: dict) -> None:
    if not _corrections(case.record, values):
        raise Invalid(_("建议更正的，请至少填写一项与现有记录不同的更正后内容。"), code="correction_required",
                      fields={"corrected_facts": _("请填写更正后的内容")})


def _drafted(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 拟定处理意见: only what the recording unit's answer leaves."""
    refusal = _binding_refusal(case, values["decision"])
    if refusal:
        raise refusal
    return {}


def _approved(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 审批: approval of a decision the answer does not allow is refused too."""
    if values["approval"] == "approve":
        refusal = _binding_refusal(case, last_values(case, "draft_decision").get("decision", ""))
        if refusal:
            raise refusal
    return {}


# --- the 异议中 flag: from receipt (submission) to the decision ----------------------------------------------------
# LAW.md (上海条例第三十六条 as the model): flag within 1 working day of receiving the objection. The diagram flags at
# submission (the receipt itself, so always within the day); a refusal or a deemed withdrawal removes the flag and
# the record goes back to the status it had.

def _flag_disputed(case: Case, user_id: int | None) -> None:
    if case.record.status == "disputed":
        return  # flagged at receipt already (an old-version case reaching its acceptance step)
    change_record_status(case.record, "disputed", user_id=user_id, case_id=case.id,
                         reason=f"收到异议申请（{case.number}），标注“异议中”，继续公示")


def _unflag_disputed(case: Case, user_id: int | None) -> None:
    record = case.record
    if record.status != "disputed":
        return
    before = db.session.scalar(select(RecordHistory.from_status).where(
        RecordHistory.record_id == record.id, RecordHistory.case_id == case.id, RecordHistory.to_status == "disputed")
        .order_by(RecordHistory.id.desc()).limit(1)) or "published"
    change_record_status(record, before, user_id=user_id, case_id=case.id,
                         reason=f"异议未进入处理（{case.number}）：撤销“异议中”标注，恢复原公示状态")


def _apply_decision(case: Case, user_id: int | None) -> None:
    draft = last_values(case, "draft_decision")
    decision, reasons = draft["decision"], draft["reasons"]
    record = case.record
    changes = _corrections(record, last_values(case, "verify_record")) if decision == "correct" else {}
    for field, (_old, new) in changes.items():
        setattr(record, field, new)
    if decision == "annotate":
        record.annotation = f"异议（{case.number}）：{reasons}"
        changes["annotation"] = (None, record.annotation)
    label = {"correct": "更正", "revoke": "撤销", "maintain": "维持", "annotate": "记载异议"}[decision]
    if record.status != "disputed":
        # The record reached its maximum period while under objection (it ends then all the same): the decision is
        # recorded in its history without a status change.
        db.session.add(RecordHistory(record_id=record.id, at=now(), user_id=user_id, case_id=case.id,
                                     action="objection_decided", from_status=record.status, to_status=record.status,
                                     changes=_jsonable(changes), reason=f"异议处理决定：{label}。{reasons}"))
        audit.record("record.objection_decided", object_type="credit_record", object_id=record.id,
                     details={"case_id": case.id, "decision": decision, "fields": sorted(changes)})
        return
    to = {"correct": "corrected", "revoke": "revoked"}.get(decision, "published")
    change_record_status(record, to, user_id=user_id, case_id=case.id, reason=f"异议处理决定：{label}。{reasons}",
                         changes=_jsonable(changes) or None)
    # The result goes to the provincial platform (信用中国（湖北）) through the outbox, after commit.
    publication.push(record, "withdraw" if decision == "revoke" else "update", case)


def _jsonable(changes: dict) -> dict:
    return {k: [str(o) if isinstance(o, date) else o, str(n) if isinstance(n, date) else n] for k, (o, n) in changes.items()}


# --- extending 核查 once, with the office's approval (issue 13 §6) ------------------------------------------------
# The recording unit's verifier asks, with reasons, while 核查 is open; an intake officer of the credit office approves
# or refuses; approved, the 核查 due date (verify_due, the timer of the 核查超期 boundary event) moves by the rule set's
# objection_verify_extension working days. Once per case: a second request is refused.
EXTENSION_STEPS = ("verify_extension_requested", "verify_extension_approved", "verify_extension_refused")


def _verify_task(case: Case) -> HumanTask | None:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.bpmn_id == "verify_record",
                                                     HumanTask.status == "open"))


def extension_state(case: Case) -> str | None:
    """None (never asked), "requested" (waiting for the office), "approved" or "refused"."""
    action = db.session.scalar(select(CaseEvent.action).where(CaseEvent.case_id == case.id,
                                                              CaseEvent.action.in_(EXTENSION_STEPS))
                               .order_by(CaseEvent.id.desc()).limit(1))
    return action.rsplit("_", 1)[1] if action else None


def extension_request(case: Case) -> dict | None:
    """The pending or decided request to extend the 核查, for the case page: state, reasons, days, when (or None)."""
    state = extension_state(case)
    if state is None:
        return None
    asked = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                      CaseEvent.action == "verify_extension_requested")
                              .order_by(CaseEvent.id.desc()).limit(1))
    return {"state": state, "reason": (asked.details or {}).get("reason", ""), "days": (asked.details or {}).get("days"),
            "at": asked.at}


def extension_days(case: Case) -> int:
    """By how many working days an approved request extends the 核查 (the rule set's objection_verify_extension)."""
    return rules.time_limit(case.rule_set, "objection_verify_extension")


def request_verify_extension(user: User, task_id: str, reason: str) -> CaseEvent:
    """The verifier working 核查 asks once for more time, with reasons (flushes only)."""
    task = access.get_task(user, task_id)
    if task.bpmn_id != "verify_record" or task.status != "open" or task.case_type != "objection":
        raise Conflict(_("只有正在办理的异议核查任务可以申请延长核查期限。"), code="not_verification")
    if not may_work(user, task):
        raise Forbidden(_("只有认定单位的核查人员可以申请延长核查期限。"), code="role")
    case = db.session.get(Case, task.case_id)
    locks.lock_record(case.record_id)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("请写明申请延长核查期限的理由。"), fields={"reason": _("请填写理由")})
    if len(reason) > 1000:
        raise Invalid(_("理由不能超过 1000 字。"), fields={"reason": _("不能超过 1000 字")})
    if extension_state(case) is not None:
        raise Conflict(_("本件已申请过延长核查期限，核查期限只能延长一次。"), code="extension_once")
    days = rules.time_limit(case.rule_set, "objection_verify_extension")
    event = CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="verify_extension_requested",
                      step="verify_record", comment=f"申请延长核查期限 {days} 个工作日：{reason}", internal=True,
                      details={"reason": reason, "days": days})
    db.session.add(event)
    audit.record("objection.extension_requested", object_type="case", object_id=case.id,
                 details={"task_id": task.id, "days": days})
    notifications.notify(_office_id(), "intake", kind="extension", title=f"核查延期申请待审批：{case.number}",
                         body=f"{case.record.recording_unit.name}申请延长核查期限 {days} 个工作日：{reason}",
                         case_id=case.id)
    return event


def decide_verify_extension(user: User, case_id: int, approve: bool, comment: str) -> CaseEvent:
    """An intake officer of the credit office approves or refuses the pending request (flushes only)."""
    if not user.has_role("intake"):
        raise Forbidden(_("只有信用办受理人员可以审批延长核查期限的申请。"), code="role")
    case = access.get_case(user, case_id)
    locks.lock_record(case.record_id)
    if extension_state(case) != "requested":
        raise Conflict(_("本件没有待审批的延长核查期限申请。"), code="no_extension_request")
    task = _verify_task(case)
    if task is None:
        raise Conflict(_("核查已经完成，无需延长核查期限。"), code="verification_done")
    comment = (comment or "").strip()
    if not approve and not comment:
        raise Invalid(_("不同意延长的，请写明理由。"), fields={"comment": _("请填写理由")})
    days = rules.time_limit(case.rule_set, "objection_verify_extension")
    details = {"comment": comment, "days": days}
    if approve:
        old = task.due_at
        due = calendar.deadline(old, days)
        run.reschedule(case, "verify_due", due.due, user_id=user.id,
                       reason=f"经信用办批准，核查期限延长 {days} 个工作日")
        task.due_at = due.due
        details |= {"from": old.isoformat(), "to": due.due.isoformat()}
        text = f"同意延长核查期限 {days} 个工作日，核查期限延至{due.due_date.isoformat()}"
    else:
        text = "不同意延长核查期限"
    event = CaseEvent(case_id=case.id, at=now(), user_id=user.id,
                      action="verify_extension_approved" if approve else "verify_extension_refused",
                      step="verify_record", comment=f"{text}。{comment}".rstrip("。") + "。", internal=True,
                      details=details)
    db.session.add(event)
    audit.record("objection.extension_decided", object_type="case", object_id=case.id,
                 details={"approved": approve, **details})
    notifications.notify(case.record.recording_unit_id, "verifier", kind="extension",
                         title=f"核查延期申请{'已同意' if approve else '未同意'}：{case.number}", body=text, case_id=case.id)
    return event


def _office_id() -> int | None:
    return db.session.scalar(select(Unit.id).where(Unit.is_credit_office.is_(True)).limit(1))


EFFECTS = {"flag_disputed": _flag_disputed, "unflag_disputed": _unflag_disputed,
           "apply_objection_decision": _apply_decision}
HOOKS = {"objection_intake_review": _intake_decided, "verify_record": _verified, "draft_decision": _drafted,
         "approve_decision": _approved, **applications.SUPPLEMENT_HOOKS}
COMMITMENT = applications.Commitment("异议申诉信用承诺书", (
    "本单位（单位名称：＿＿＿＿＿＿＿＿＿＿＿＿，统一社会信用代码：＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿）"
    "对“信用随州”网站公示的下列政务失信记录提出异议申诉：",
    "失信记录所依据的认定文书（文号）：＿＿＿＿＿＿＿＿",
    "承诺事项：" + "＿" * 48,
    "本单位郑重承诺：",
    "一、所提交的异议申请、陈述理由和证据材料真实、准确、完整、合法有效，不存在虚假记载、误导性陈述或者重大遗漏；",
    "二、积极配合信用办和认定单位的核查工作，如实说明情况，按照要求一次性补正材料；",
    "三、不以提出异议为由拖延或者拒绝履行认定文书确定的义务，不恶意、重复提出异议申诉；",
    "四、如违反上述承诺，本单位自愿承担相应的法律责任，并同意将违背承诺的情况记入本单位信用记录，依法依规公示和共享。",
))

APPLICATION = applications.ApplicationKind(
    materials={"evidence": _("证据材料"), "commitment": _("加盖公章的异议申诉信用承诺书")},
    block=lambda case: objection_block(case.record),
    commitment=COMMITMENT,
)
