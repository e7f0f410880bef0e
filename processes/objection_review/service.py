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
HOOKS = {"objection_intake_review": _intake_decided, **applications.SUPPLEMENT_HOOKS}
APPLICATION = applications.ApplicationKind(
    materials={"evidence": _("证据材料"), "commitment": _("加盖公章的异议申诉信用承诺书")},
    block=lambda case: objection_block(case.record),
)
