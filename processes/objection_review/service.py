"""The objection review (SPEC §4.1): filing, and the effects and hooks its BPMN asks for."""
from __future__ import annotations

from app.i18n import chinese
from flask_babel import gettext as _, lazy_gettext as _l
from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import CASE_OPEN, RECORD_SETTLED, Case, CaseEvent, CreditRecord, User
from app.services import access, applications, audit, calendar, publication, rules
from app.core.clock import now
from app.core.errors import Conflict, Invalid
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
    if record.status not in OBJECTIONABLE:
        return _("该记录当前状态为“%(status)s”，不能提出异议。", status=record.status_label)
    open_case = db.session.scalar(
        select(Case.number).where(Case.record_id == record.id, Case.type == "objection",
                                  Case.status.in_(CASE_OPEN))
    )
    if open_case:
        return _("该记录已有正在办理的异议（受理编号 %(number)s），同一记录同时只能有一件异议。", number=open_case)
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
# A court's record (失信被执行人 and other judicial records) is corrected or deleted only by the court (最高人民法院
# 《关于公布失信被执行人名单信息的若干规定》第十二条): the objection goes to the court, whose unit is the record's recording
# unit and so answers the 核查 step, and the office's decision follows that answer. Issue 13 extends this to every
# record; binding_decisions is the one place that says when and how an answer binds.
BINDING_ANSWERS = {"error_confirmed": ("correct", "revoke"), "no_error": ("maintain",)}
ANSWER_TEXT = {"error_confirmed": "确认有误", "no_error": "核实无误", "cannot_confirm": "无法确认"}


def answer_binds(record: CreditRecord) -> bool:
    """Whether the recording unit's answer decides the objection (today: the court's, on a judicial record)."""
    return bool(record.judicial)


def binding_decisions(case: Case) -> set[str] | None:
    """The decisions the recording unit's answer leaves the office, or None when the office decides itself."""
    if not answer_binds(case.record):
        return None
    answer = last_values(case, "verify_record").get("verify_choice")
    return set(BINDING_ANSWERS.get(answer, ()))


def court_answer(case: Case) -> dict:
    """For the decision letter: the court and its answer when the answer bound the decision (else nothing)."""
    if not answer_binds(case.record):
        return {}
    verified = last_values(case, "verify_record")
    return {"court": case.record.recording_unit.name, "court_answer": ANSWER_TEXT.get(verified.get("verify_choice"), ""),
            "court_opinion": verified.get("opinion", "")}


def _binding_refusal(case: Case, decision: str) -> Invalid | None:
    allowed = binding_decisions(case)
    if allowed is None or decision in allowed:
        return None
    labels = {value: label for value, label in DECISION_LABELS}
    answer = ANSWER_TEXT.get(last_values(case, "verify_record").get("verify_choice"), "")
    return Invalid(_("该记录由%(court)s作出（司法记录），只能依照法院的审查答复处理：法院答复“%(answer)s”，处理意见只能为"
                     "%(allowed)s。", court=case.record.recording_unit.name, answer=answer,
                     allowed=_("、").join(f"“{labels[d]}”" for d in sorted(allowed, key=list(labels).index))),
                   code="court_answer_binds", fields={"decision": _("须依照法院的审查答复")})


def _verified(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 核查: a court answers its own record one way or the other (no 无法确认)."""
    if answer_binds(case.record) and values["verify_choice"] not in BINDING_ANSWERS:
        raise Invalid(_("该记录由本院作出（司法记录），异议处理依照本院的审查答复，请答复“确认有误”或“核实无误”。"),
                      code="court_must_answer", fields={"verify_choice": _("请答复确认有误或核实无误")})
    return {}


def _drafted(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 拟定处理意见: on a judicial record only what the court answered."""
    refusal = _binding_refusal(case, values["decision"])
    if refusal:
        raise refusal
    return {}


def _approved(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 审批: approval of a decision the court's answer does not allow is refused too."""
    if values["approval"] == "approve":
        refusal = _binding_refusal(case, last_values(case, "draft_decision").get("decision", ""))
        if refusal:
            raise refusal
    return {}


def _flag_disputed(case: Case, user_id: int | None) -> None:
    change_record_status(case.record, "disputed", user_id=user_id, case_id=case.id,
                         reason=f"异议受理（{case.number}），标注“异议中”，继续公示")


def _apply_decision(case: Case, user_id: int | None) -> None:
    draft = last_values(case, "draft_decision")
    decision, reasons = draft["decision"], draft["reasons"]
    record = case.record
    if decision == "correct":
        verified = last_values(case, "verify_record")
        changes = _corrections(record, verified)
        for field, (_old, new) in changes.items():
            setattr(record, field, new)
        change_record_status(record, "corrected", user_id=user_id, case_id=case.id,
                             reason=f"异议处理决定：更正。{reasons}", changes=_jsonable(changes))
    elif decision == "revoke":
        change_record_status(record, "revoked", user_id=user_id, case_id=case.id, reason=f"异议处理决定：撤销。{reasons}")
    else:
        if decision == "annotate":
            record.annotation = f"异议（{case.number}）：{reasons}"
        change_record_status(record, "published", user_id=user_id, case_id=case.id,
                             reason=f"异议处理决定：{'维持' if decision == 'maintain' else '记载异议'}。{reasons}",
                             changes={"annotation": [None, record.annotation]} if decision == "annotate" else None)
    # The result goes to the provincial platform (信用中国（湖北）) through the outbox, after commit.
    publication.push(record, "withdraw" if decision == "revoke" else "update", case)


def _corrections(record: CreditRecord, verified: dict) -> dict:
    mapping = {"facts": "corrected_facts", "basis_doc_no": "corrected_basis_doc_no", "severity": "corrected_severity"}
    changes = {}
    for field, key in mapping.items():
        new = verified.get(key)
        if new and new != getattr(record, field):
            changes[field] = (getattr(record, field), new)
    if "severity" in changes:
        record_rules = record.rule_set
        earliest, end = rules.publication_dates(record_rules, changes["severity"][1], record.basis_date)
        changes["earliest_repair_date"] = (record.earliest_repair_date, earliest)
        changes["auto_end_date"] = (record.auto_end_date, end)
    return changes


def _jsonable(changes: dict) -> dict:
    return {k: [str(o) if isinstance(o, date) else o, str(n) if isinstance(n, date) else n] for k, (o, n) in changes.items()}


EFFECTS = {"flag_disputed": _flag_disputed, "apply_objection_decision": _apply_decision}
HOOKS = {"objection_intake_review": _intake_decided, "verify_record": _verified, "draft_decision": _drafted,
         "approve_decision": _approved, **applications.SUPPLEMENT_HOOKS}
APPLICATION = applications.ApplicationKind(
    materials={"evidence": _("证据材料"), "commitment": _("加盖公章的异议申诉信用承诺书")},
    block=lambda case: objection_block(case.record),
)
