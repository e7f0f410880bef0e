"""认定文书撤销或变更 (issue 12 §4): the recording unit revokes or changes the 认定文书 a record rests on.

The recording unit files a ``source_change`` case with the new document (:func:`file_change`); the credit office checks
the document within the rule set's ``source_change`` limit (3 working days) and applies it (``apply_change``) or
returns it with reasons (``correct_change`` in the recording unit's lane: correct and resubmit, or withdraw). Applying
revokes or corrects the record with history, sends the provincial platform the withdraw or update message, lifts the
sanctions that rested on a revoked record alone, and informs the subject by letter. The office applies only what the
source says (谁认定、谁更正): the content of the change is the recording unit's, never the office's.

A record under objection (异议中) is not changed this way: the recording unit answers in the objection's 核查 step, or
files once the objection has ended. Nor while a repair or a rectification of the record is running: those cases
would act on a record that no longer says what they were opened on.
"""
from __future__ import annotations

import secrets
from datetime import date

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from app.core.clock import now
from app.core.errors import Conflict, Invalid, NotFound
from app.extensions import db
from app.i18n import chinese
from app.models import (
    CASE_OPEN, CASE_TYPES, CATEGORIES, RECORD_SETTLED, SEVERITIES, Attachment, Case, CaseEvent, CreditRecord, HumanTask,
    Sanction, User, sanction_record,
)
from app.services import access, attachments, audit, calendar, locks, notifications, publication, rules, sanctions
from app.services.applications import assign_number
from app.services.transitions import change_case_status, change_record_status
from app.services.workflow.run import complete_task, last_values, start_process
from processes.record_registration import service as registration

KINDS = {"revoke": _l("撤销认定文书（记录予以撤销）"), "correct": _l("变更认定文书（按新文书更正记录）")}
# What a change may correct, in the order the form and the letter show them.
FIELDS = {
    "category": _l("失信类别"),
    "severity": _l("失信程度"),
    "basis_doc_no": _l("认定文书号"),
    "basis_date": _l("认定日期"),
    "facts": _l("失信事实"),
    "legal_basis": _l("法律依据"),
}
DOCUMENT_KIND = "change_document"
MAX_REASON = 2000
# Cases that act on the record as it stands: while one is open the record is not changed under it.
BLOCKING_TYPES = ("objection", "repair", "rectification", "source_change")


def change_block(record: CreditRecord) -> str | None:
    """Say why the recording unit cannot report a change of this record's 认定文书 now (None when it can)."""
    if record.status == "disputed":
        number = db.session.scalar(select(Case.number).where(Case.record_id == record.id, Case.type == "objection",
                                                             Case.status.in_(CASE_OPEN)))
        return _("该记录正在异议处理中（受理编号 %(number)s），认定文书撤销或变更的情况请在异议核查中答复；"
                 "异议办结后仍需撤销或变更的，再行报送。", number=number or "—")
    if record.status not in RECORD_SETTLED:
        return _("该记录当前状态为“%(status)s”，不能报送认定文书撤销或变更。", status=record.status_label)
    open_case = db.session.execute(select(Case.number, Case.type).where(
        Case.record_id == record.id, Case.type.in_(BLOCKING_TYPES), Case.status.in_(CASE_OPEN))
        .order_by(Case.id).limit(1)).first()
    if open_case:
        return _("该记录有正在办理的%(type)s（编号 %(number)s），请待其办结后再报送认定文书撤销或变更。",
                 type=CASE_TYPES[open_case.type], number=open_case.number)
    return None


def may_file(user: User, record: CreditRecord) -> bool:
    """Whether the user may report a change of this record: a verifier of the unit that made it (谁认定、谁更正)."""
    return user.has_role("verifier") and record.recording_unit_id == user.unit_id


def current_values(record: CreditRecord) -> dict:
    """The record's correctable content as the form shows it (pre-filled)."""
    return {name: (value.isoformat() if isinstance(value, date) else value)
            for name in FIELDS for value in [getattr(record, name)]}


def check_request(record: CreditRecord, data: dict) -> dict:
    """Check a change as reported; return what the case keeps (kind, new values, the new document, reason).

    Raises Invalid naming every bad field; changes nothing."""
    if not isinstance(data, dict):
        raise Invalid(_("提交内容格式不正确。"), code="bad_payload")
    errors: dict[str, str] = {}
    known = {"kind", "change_doc_no", "change_doc_date", "reason", *FIELDS}
    for name in sorted(set(data) - known):
        errors[name] = _("未知字段。")
    kind = data.get("kind")
    if kind not in KINDS:
        errors["kind"] = _("请选择撤销或变更。")
    doc_no = registration.required_text(data, "change_doc_no", errors, limit=registration.MAX_DOC_NO, label=_("撤销或变更文书的文号"))
    doc_date, problem = registration.parse_basis_date(data.get("change_doc_date"))
    if problem:
        errors["change_doc_date"] = _("撤销或变更文书的日期有误：%(problem)s", problem=problem)
    elif doc_date < record.basis_date:
        errors["change_doc_date"] = _("撤销或变更文书的日期 %(day)s 早于原认定日期 %(basis)s。", day=doc_date.isoformat(),
                                      basis=record.basis_date.isoformat())
    reason = registration.required_text(data, "reason", errors, limit=MAX_REASON, label=_("撤销或变更的理由"))
    changes: dict[str, str] = {}
    if kind == "correct":
        new = {}
        category = data.get("category", record.category)
        if category not in CATEGORIES:
            errors["category"] = _("失信类别不正确。")
        new["category"] = category
        severity = data.get("severity", record.severity)
        if severity not in SEVERITIES:
            errors["severity"] = _("失信程度不正确。")
        new["severity"] = severity
        for name, limit in (("basis_doc_no", registration.MAX_DOC_NO), ("facts", registration.MAX_FACTS),
                            ("legal_basis", registration.MAX_FACTS)):
            new[name] = registration.required_text({name: data.get(name, getattr(record, name))}, name, errors, limit=limit,
                              label=str(FIELDS[name]))
        basis_date, problem = registration.parse_basis_date(data.get("basis_date", record.basis_date.isoformat()))
        if problem:
            errors["basis_date"] = problem
        new["basis_date"] = basis_date.isoformat() if basis_date else None
        if not errors:
            changes = {name: value for name, value in new.items() if value != current_values(record)[name]}
            if not changes:
                errors["kind"] = _("变更后的内容与现有记录相同；认定文书被撤销的，请选择“撤销”。")
            elif "basis_doc_no" in changes:
                same = registration.find_same(record.recording_unit_id, changes["basis_doc_no"], record.subject_key)
                if same is not None and same.id != record.id:
                    errors["basis_doc_no"] = _("本单位已有同一主体、认定文书号为 %(doc)s 的记录。", doc=changes["basis_doc_no"])
    if errors:
        raise Invalid(_("认定文书撤销或变更的报送内容有误，请按提示修改。"), code="invalid_change", fields=errors)
    return {"kind": kind, "changes": changes, "change_doc_no": doc_no, "change_doc_date": doc_date.isoformat(),
            "reason": reason}


def _own_record(user: User, record_id: int) -> CreditRecord:
    """The record, for a verifier of the unit that made it; NotFound for everybody else."""
    if not user.has_role("verifier"):
        raise NotFound()
    record = access.get_record(user, record_id)
    if record.recording_unit_id != user.unit_id:
        raise NotFound()
    return record


def has_document(case: Case) -> bool:
    return db.session.scalar(select(Attachment.id).where(Attachment.case_id == case.id,
                                                         Attachment.kind == DOCUMENT_KIND).limit(1)) is not None


def apply_deadline(case: Case) -> dict:
    """The office step's due instant, for its overdue timer (3 working days by default)."""
    due = calendar.deadline(now(), rules.time_limit(case.rule_set, "source_change"))
    return {"apply_due": due.due.isoformat()}


def file_change(user: User, record_id: int, data: dict, filename: str | None, stream) -> Case:
    """Report a revocation or change of a record's 认定文书 with the new document; starts the office's step (flushes)."""
    record = _own_record(user, record_id)
    locks.lock_record(record.id)  # two reports at once: the second sees the first one's open case
    db.session.refresh(record)
    block = change_block(record)
    if block:
        raise Conflict(block, code="change_blocked")
    form = check_request(record, data)
    if stream is None or not filename:
        raise Invalid(_("请上传撤销或变更认定的文书（PDF、OFD 或图片）。"), code="missing_document",
                      fields={"file": _("缺少撤销或变更文书")})
    case = Case(type="source_change", status="draft", record_id=record.id, applicant_unit_id=record.subject_unit_id,
                created_by_id=user.id, rule_set_id=record.rule_set_id, form=form,
                query_code=secrets.token_hex(4).upper(), created_at=now())
    db.session.add(case)
    db.session.flush()
    attachments.store_attachment(user, case, DOCUMENT_KIND, filename, stream)
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="created", to_status="draft",
                             comment=f"认定单位报送认定文书{'撤销' if form['kind'] == 'revoke' else '变更'}：{form['change_doc_no']}"))
    audit.record("case.create", object_type="case", object_id=case.id,
                 details={"type": "source_change", "record_id": record.id, "kind": form["kind"],
                          "fields": sorted(form["changes"])})
    assign_number(case)
    case.submitted_at = now()
    change_case_status(case, "in_progress", user_id=user.id, reason="认定单位报送认定文书撤销或变更")
    start_process(case, user, {"kind": form["kind"], **apply_deadline(case)})
    return case


def open_correction(user: User, case_id: int) -> tuple[Case, HumanTask]:
    """A returned change of the user's unit and its open correction task (NotFound when there is none)."""
    if not user.has_role("verifier"):
        raise NotFound()
    case = access.get_case(user, case_id)
    if case.type != "source_change" or case.record.recording_unit_id != user.unit_id:
        raise NotFound()
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open",
                                                     HumanTask.bpmn_id == "correct_change"))
    if task is None:
        raise Conflict(_("该报送当前没有待补正的任务。"), code="no_task")
    return case, task


def amend_change(user: User, case_id: int, data: dict, filename: str | None, stream, statement: str) -> Case:
    """The recording unit corrects a returned report (content and, if given, a new document) and resubmits it."""
    case, task = open_correction(user, case_id)
    form = check_request(case.record, data)
    statement = (statement or "").strip() or "已按退回理由补正，重新报送。"
    before = dict(case.form)
    case.form = form
    if filename and stream is not None:
        attachments.store_attachment(user, case, DOCUMENT_KIND, filename, stream)
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="change_amended", step="correct_change",
                             comment="认定单位补正报送内容", internal=True, details={"before": before, "after": form}))
    complete_task(user, task.id, {"correction": "resubmit", "statement": statement[:4000]})
    return case


# --- completion hooks ----------------------------------------------------------------------------------------------

def _office_checked(case: Case, user: User, values: dict) -> dict:
    """Completion hook of the office's step: it applies only a complete report on a record that may still change."""
    if values["conclusion"] != "apply":
        return {}
    if values.get("check_document") != "pass" or not has_document(case):
        raise Invalid(_("撤销或变更文书未上传或与报送内容不一致的，不能照文书办理；请退回认定单位补正并说明理由。"),
                      code="document_check", fields={"check_document": _("未通过")})
    record = case.record
    locks.lock_record(record.id)
    db.session.refresh(record)
    if record.status not in RECORD_SETTLED:
        raise Conflict(_("该记录当前状态为“%(status)s”，不能照文书撤销或更正；请退回认定单位并说明情况。",
                         status=record.status_label), code="record_changed")
    return {}


def _corrected(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 补正后重新报送: back to the office with a new deadline, the kind as now reported."""
    if values["correction"] != "resubmit":
        return {}
    if not has_document(case):
        raise Invalid(_("请先上传撤销或变更文书再重新报送。"), code="missing_document", fields={"file": _("缺少文书")})
    return {"kind": case.form["kind"], **apply_deadline(case)}


# --- effects -------------------------------------------------------------------------------------------------------

def _return(case: Case, user_id: int | None) -> None:
    values = last_values(case, "apply_change")
    reasons = values.get("return_reasons", "")
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user_id, action="returned", step="apply_change",
                             comment="退回认定单位补正：" + reasons, details={"reasons": reasons}))
    notifications.notify(case.record.recording_unit_id, "verifier", kind="returned", case_id=case.id,
                         title=f"认定文书撤销或变更报送被退回：{case.number}", body="退回理由：" + reasons)


def _jsonable(value):
    return value.isoformat() if isinstance(value, date) else value


def _correct(record: CreditRecord, new: dict) -> dict:
    """Write the reported values onto the record, with the dates that follow from them; return {field: [old, new]}."""
    changes = {}

    def put(name, value):
        old = getattr(record, name)
        if old != value:
            changes[name] = [_jsonable(old), _jsonable(value)]
            setattr(record, name, value)

    for name, value in new.items():
        put(name, date.fromisoformat(value) if name == "basis_date" else value)
    put("judicial", record.category == "judgment")
    if {"severity", "basis_date"} & set(changes):
        rule_set = rules.rule_set_on(record.basis_date)
        put("rule_set_id", rule_set.id)
        earliest, end = rules.publication_dates(rule_set, record.severity, record.basis_date)
        put("earliest_repair_date", earliest)
        put("auto_end_date", end)
    if "basis_doc_no" in changes:
        same = registration.find_same(record.recording_unit_id, record.basis_doc_no, record.subject_key)
        if same is not None and same.id != record.id:
            raise Conflict(_("本单位已有同一主体、认定文书号为 %(doc)s 的记录，不能更正为该文号。", doc=record.basis_doc_no),
                           code="duplicate_record")
    return changes


def _lift_sanctions(record: CreditRecord, case: Case, user_id: int | None) -> list[str]:
    """Lift the measures in force that rested on revoked records only (this one among them); return their kinds."""
    rows = db.session.scalars(select(Sanction).join(sanction_record, sanction_record.c.sanction_id == Sanction.id)
                              .where(sanction_record.c.record_id == record.id, Sanction.status == "active")
                              .order_by(Sanction.id)).all()
    lifted = []
    for sanction in rows:
        if all(r.status == "revoked" for r in sanction.records):
            sanctions.lift(sanction, case, user_id=user_id,
                           reason=f"{case.number}：所依据的失信记录因认定文书撤销而撤销，同步解除")
            lifted.append(sanction.kind)
    return lifted


def _apply(case: Case, user_id: int | None) -> None:
    """Revoke or correct the record as the recording unit's new document says; push; lift; tell the parties."""
    record = case.record
    form = case.form
    source = (f"{record.recording_unit.name}以{form['change_doc_no']}（{form['change_doc_date']}）"
              f"{'撤销认定文书' if form['kind'] == 'revoke' else '变更认定文书'}：{form['reason']}")
    if form["kind"] == "revoke":
        change_record_status(record, "revoked", user_id=user_id, case_id=case.id, reason=f"{case.number}：{source}",
                             changes={"source_change_doc": [None, form["change_doc_no"]]})
        publication.push(record, "withdraw", case)
        lifted = _lift_sanctions(record, case, user_id)
        case.form = {**form, "lifted": lifted}
    else:
        changes = _correct(record, form["changes"])
        change_record_status(record, "corrected", user_id=user_id, case_id=case.id, reason=f"{case.number}：{source}",
                             changes={**changes, "source_change_doc": [None, form["change_doc_no"]]})
        publication.push(record, "update", case)
        case.form = {**form, "applied": changes}
    audit.record("record.source_change", object_type="credit_record", object_id=record.id,
                 details={"case_id": case.id, "kind": form["kind"], "fields": sorted(form.get("changes", {}))})
    notifications.notify(record.recording_unit_id, "verifier", kind="decision", case_id=case.id,
                         title=f"认定文书{'撤销' if form['kind'] == 'revoke' else '变更'}已办理：{case.number}",
                         body=record.subject_label)


def summary(case: Case) -> dict:
    """The report as the case page shows it: kind, the changed fields with their labels, the new document."""
    form = case.form or {}
    record = case.record

    def shown(name, value):
        if name == "category":
            return chinese(CATEGORIES.get(value, value))
        if name == "severity":
            return chinese(SEVERITIES.get(value, value))
        return value

    applied = form.get("applied")
    rows = [(chinese(FIELDS[name]), shown(name, old), shown(name, new))
            for name, (old, new) in (applied or {}).items() if name in FIELDS] if applied is not None else [
        (chinese(FIELDS[name]), shown(name, _jsonable(getattr(record, name))), shown(name, new))
        for name, new in form.get("changes", {}).items()]
    return {"kind": form.get("kind"), "kind_label": chinese(KINDS.get(form.get("kind"), "")), "rows": rows,
            "change_doc_no": form.get("change_doc_no", ""), "change_doc_date": form.get("change_doc_date", ""),
            "reason": form.get("reason", "")}


EFFECTS = {"apply_source_change": _apply, "return_source_change": _return}
HOOKS = {"apply_source_change": _office_checked, "correct_source_change": _corrected}
