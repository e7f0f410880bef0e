"""失信记录认定登记与公示 (issue 12 §1): the recording unit enters a record, the credit office reviews and registers it.

A record is entered as a draft with a draft case of type ``registration`` that holds its 认定文书. Submitting starts
record_registration.bpmn: the office reviews (``office_review``) and returns it with reasons (``correct_record`` in the
recording unit's lane: correct and resubmit, or withdraw) or registers it — the subject is informed by the letter
pair and the record is published from its publication start. The same functions serve the page and the API; the
bulk import (record_import.py) checks each row with :func:`prepare` and writes the same rows in bulk.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import clock
from app.core.clock import now
from app.core.errors import Conflict, Invalid, NotFound
from app.core.ids import is_object_id
from app.extensions import db
from app.models import (
    CATEGORIES, SEVERITIES, Attachment, Case, CaseEvent, CreditRecord, HumanTask, Person, RecordHistory, Unit, User,
)
from app.services import access, attachments, audit, calendar, locks, notifications, persons, publication, rules
from app.services.applications import assign_number
from app.services.transitions import change_case_status, change_record_status
from app.services.workflow.run import last_values, start_process

MAX_FACTS = 4000
MAX_DOC_NO = 80
EARLIEST_BASIS_DATE = date(2014, 1, 1)  # 社会信用体系建设规划纲要（2014—2020年）: no record predates it
EDITABLE = ("draft", "returned")
# The fields a record is entered with, as GET /api/v1/records/{id} names them.
FIELDS = ("subject_type", "subject_unit_id", "person", "category", "severity", "basis_doc_no", "basis_date", "facts",
          "legal_basis")
DOCUMENT_KIND = "basis_document"
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class Entry:
    """A record's content, checked: what a draft is made of."""
    subject_type: str
    subject_unit_id: int
    person_id: int | None
    person_name: str | None
    person_post: str | None
    category: str
    severity: str
    basis_doc_no: str
    basis_date: date
    facts: str
    legal_basis: str

    def key(self) -> str:
        return CreditRecord.key_for(self.subject_type, self.subject_unit_id, self.person_id)


def required_text(data: dict, name: str, errors: dict, *, limit: int, label: str) -> str:
    """A required text field of an entry, stripped; its problem goes into errors[name]."""
    raw = data.get(name)
    if raw is not None and not isinstance(raw, str):
        errors[name] = _("应为文本。")
        return ""
    value = (raw or "").strip()
    if not value:
        errors[name] = _("请填写%(label)s。", label=label)
    elif len(value) > limit:
        errors[name] = _("%(label)s不能超过 %(max)s 字。", label=label, max=limit)
    return value


def parse_basis_date(raw, today: date | None = None) -> tuple[date | None, str | None]:
    """Read a 认定日期 (YYYY-MM-DD): not before 2014 and not in the future. Returns (date, error)."""
    if isinstance(raw, str) and raw.strip() and not DATE_TEXT.fullmatch(raw.strip()):
        return None, _("认定日期“%(text)s”格式不正确，应为 YYYY-MM-DD。", text=raw.strip()[:20])
    if isinstance(raw, date) and not isinstance(raw, datetime):
        day = raw
    elif isinstance(raw, datetime):
        day = raw.date()
    else:
        text = str(raw or "").strip()
        if not text:
            return None, _("请填写认定日期。")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None, _("认定日期“%(text)s”格式不正确，应为 YYYY-MM-DD。", text=text[:20])
    today = today or clock.local_today()
    if day > today:
        return None, _("认定日期 %(day)s 晚于今天，不在允许范围内。", day=day.isoformat())
    if day < EARLIEST_BASIS_DATE:
        return None, _("认定日期 %(day)s 早于 %(min)s，不在允许范围内。", day=day.isoformat(),
                       min=EARLIEST_BASIS_DATE.isoformat())
    return day, None


def prepare(data: dict, recording_unit: Unit, *, units_by_id: dict | None = None) -> Entry:
    """Check a record's content as entered (page, API or import row); raise Invalid naming every bad field.

    ``units_by_id`` lets the bulk import look units up once for many rows.
    """
    if not isinstance(data, dict):
        raise Invalid(_("提交内容格式不正确。"), code="bad_payload")
    errors: dict[str, str] = {}
    unknown = sorted(set(data) - set(FIELDS))
    for name in unknown:
        errors[name] = _("未知字段。")
    subject_type = data.get("subject_type") or "unit"
    if subject_type not in ("unit", "person"):
        errors["subject_type"] = _("主体类型应为单位（unit）或个人（person）。")
    person: Person | None = None
    person_post: str | None = None
    unit_id = None
    if subject_type == "person":
        raw = data.get("person")
        if not isinstance(raw, dict):
            errors["person"] = _("失信主体为个人时，请填写姓名、身份证号、职务和所在单位。")
        else:
            try:
                person = persons.resolve(raw, units_by_id=units_by_id)
                if raw.get("person_id") in (None, ""):  # the unit and post the record names (held at the time)
                    unit_id, person_post = int(str(raw["unit_id"]).strip()), str(raw.get("post") or "").strip()
                else:
                    unit_id, person_post = person.unit_id, person.post
            except Invalid as exc:
                errors.update({f"person.{k}": v for k, v in (exc.fields or {"person": exc.message}).items()})
    raw_unit = data.get("subject_unit_id")
    if subject_type == "unit" or (raw_unit not in (None, "") and person is None):
        unit = None
        if isinstance(raw_unit, bool) or not isinstance(raw_unit, (int, str)) or not is_object_id(str(raw_unit).strip()):
            errors["subject_unit_id"] = _("请选择失信主体单位。")
        else:
            unit = (units_by_id or {}).get(int(raw_unit)) or db.session.get(Unit, int(raw_unit))
            if unit is None or not unit.active:
                errors["subject_unit_id"] = _("失信主体单位不存在或已停用。")
            elif unit.is_credit_office:
                errors["subject_unit_id"] = _("信用办不能作为失信主体登记。")
        unit_id = unit.id if unit is not None and "subject_unit_id" not in errors else unit_id
    category = data.get("category")
    if category not in CATEGORIES:
        errors["category"] = _("失信类别不正确，可选：%(choices)s。", choices=_("、").join(str(v) for v in CATEGORIES.values()))
    severity = data.get("severity")
    if severity not in SEVERITIES:
        errors["severity"] = _("失信程度不正确，可选：%(choices)s。", choices=_("、").join(str(v) for v in SEVERITIES.values()))
    doc_no = required_text(data, "basis_doc_no", errors, limit=MAX_DOC_NO, label=_("认定文书号"))
    basis_date, problem = parse_basis_date(data.get("basis_date"))
    if problem:
        errors["basis_date"] = problem
    facts = required_text(data, "facts", errors, limit=MAX_FACTS, label=_("失信事实"))
    legal_basis = required_text(data, "legal_basis", errors, limit=MAX_FACTS, label=_("法律依据"))
    if unit_id is not None and unit_id == recording_unit.id and subject_type == "unit":
        errors["subject_unit_id"] = _("认定单位不能将本单位登记为失信主体，请由上级或监督机关认定。")
    if errors:
        raise Invalid(_("失信记录有误，请按提示修改后重新提交。"), code="invalid_record", fields=errors)
    return Entry(subject_type, unit_id, person.id if person else None, person.name if person else None,
                 person_post if person else None, category, severity, doc_no, basis_date, facts, legal_basis)


def find_same(recording_unit_id: int, basis_doc_no: str, subject_key: str) -> CreditRecord | None:
    """The record with this identity (recording unit + basis document + subject), if any."""
    return db.session.scalar(select(CreditRecord).where(
        CreditRecord.recording_unit_id == recording_unit_id, CreditRecord.basis_doc_no == basis_doc_no,
        CreditRecord.subject_key == subject_key))


def _require_recorder(user: User) -> None:
    if not user.has_role("verifier"):
        raise Invalid(_("只有认定单位核查员可以登记本单位认定的失信记录。"), code="role")


def _apply(record: CreditRecord, entry: Entry) -> dict:
    """Write an entry onto a record; return the changes {field: [old, new]}."""
    changes = {}
    for name in ("subject_type", "subject_unit_id", "person_id", "person_name", "person_post", "category", "severity",
                 "basis_doc_no", "basis_date", "facts", "legal_basis"):
        old, new = getattr(record, name), getattr(entry, name)
        if old != new:
            changes[name] = [old.isoformat() if isinstance(old, date) else old,
                             new.isoformat() if isinstance(new, date) else new]
            setattr(record, name, new)
    record.subject_key = entry.key()
    record.judicial = entry.category == "judgment"
    rule_set = rules.rule_set_on(entry.basis_date)
    record.rule_set_id = rule_set.id
    record.earliest_repair_date, record.auto_end_date = rules.publication_dates(rule_set, entry.severity,
                                                                                entry.basis_date)
    record.publication_start = max(entry.basis_date, clock.local_today())
    record.updated_at = now()
    return changes


def create_draft(user: User, entry: Entry, *, source: str = "web", import_id: int | None = None) -> CreditRecord:
    """Enter a record as a draft of the user's unit, with its draft registration case (flushes only).

    Raises Conflict when the same record (same recording unit, basis document and subject) is already on file."""
    _require_recorder(user)
    same = find_same(user.unit_id, entry.basis_doc_no, entry.key())
    if same is not None:
        # Named, as every duplicate_record refusal names the record on file (the API answers it as error.record_id):
        # a concurrent request may have committed it after the caller's own check.
        raise Conflict(_("本单位已登记过该失信记录（认定文书号 %(doc)s，同一主体），不能重复登记。", doc=entry.basis_doc_no),
                       code="duplicate_record", fields={"basis_doc_no": _("重复的认定文书")}, extra={"record_id": same.id})
    record = CreditRecord(recording_unit_id=user.unit_id, status="draft", source=source, import_id=import_id,
                          created_by_id=user.id, created_at=now())
    _apply(record, entry)
    db.session.add(record)
    db.session.flush()
    db.session.add(RecordHistory(record_id=record.id, at=now(), user_id=user.id, action="entered", to_status="draft",
                                 changes={}, reason=f"认定单位录入（{source}）"))
    case = Case(type="registration", status="draft", record_id=record.id, applicant_unit_id=record.subject_unit_id,
                created_by_id=user.id, rule_set_id=record.rule_set_id, form={"source": source},
                query_code=secrets.token_hex(4).upper(), created_at=now())
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="created", to_status="draft",
                             comment="认定单位录入失信记录", internal=True))
    audit.record("record.enter", object_type="credit_record", object_id=record.id,
                 details={"source": source, "case_id": case.id, "basis_doc_no": record.basis_doc_no,
                          "import_id": import_id})
    return record


def registration_case(record: CreditRecord) -> Case:
    """The record's latest registration case (every entered record has one)."""
    case = db.session.scalar(select(Case).where(Case.record_id == record.id, Case.type == "registration")
                             .order_by(Case.id.desc()).limit(1))
    if case is None:
        raise NotFound()
    return case


def own_record(user: User, record_id: int) -> CreditRecord:
    """A record the user's unit made, for the recording unit's actions (NotFound otherwise)."""
    _require_recorder(user)
    record = access.get_record(user, record_id)
    if record.recording_unit_id != user.unit_id:
        raise NotFound()
    return record


def update_draft(user: User, record_id: int, data: dict) -> CreditRecord:
    """Change a draft or a returned record (the recording unit corrects it); fields not given stay (flushes)."""
    record = own_record(user, record_id)
    locks.lock_record(record.id)
    db.session.refresh(record)
    if record.status not in EDITABLE:
        raise Conflict(_("该记录当前状态为“%(status)s”，只有待报送或退回修改的记录可以修改。", status=record.status_label),
                       code="not_editable")
    current = current_values(record)
    merged = {**current, **(data if isinstance(data, dict) else {})}
    if not isinstance(data, dict):
        raise Invalid(_("提交内容格式不正确。"), code="bad_payload")
    entry = prepare(merged, record.recording_unit)
    if entry.key() != record.subject_key or entry.basis_doc_no != record.basis_doc_no:
        same = find_same(record.recording_unit_id, entry.basis_doc_no, entry.key())
        if same is not None and same.id != record.id:
            raise Conflict(_("本单位已登记过该失信记录（认定文书号 %(doc)s，同一主体），不能重复登记。",
                             doc=entry.basis_doc_no), code="duplicate_record",
                           fields={"basis_doc_no": _("重复的认定文书")})
    changes = _apply(record, entry)
    if changes:
        case = registration_case(record)
        case.applicant_unit_id = record.subject_unit_id
        case.rule_set_id = record.rule_set_id
        db.session.add(RecordHistory(record_id=record.id, at=now(), user_id=user.id, case_id=case.id,
                                     action="amended", changes=changes, reason="认定单位修改"))
        db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="record_amended",
                                 comment="认定单位修改记录：" + "、".join(changes), internal=True,
                                 details={"changes": changes}))
        audit.record("record.amend", object_type="credit_record", object_id=record.id,
                     details={"fields": sorted(changes)})
    return record


def current_values(record: CreditRecord) -> dict:
    """A record's content in the shape :func:`prepare` reads (for partial updates and pre-filled forms)."""
    values = {"subject_type": record.subject_type, "category": record.category, "severity": record.severity,
              "basis_doc_no": record.basis_doc_no, "basis_date": record.basis_date.isoformat(),
              "facts": record.facts, "legal_basis": record.legal_basis}
    if record.subject_type == "person":
        values["person"] = {"person_id": record.person_id}
    else:
        values["subject_unit_id"] = record.subject_unit_id
    return values


def attach_document(user: User, record_id: int, filename: str, data) -> Attachment:
    """Attach the 认定文书 (PDF, OFD or image) to a draft or returned record (flushes)."""
    record = own_record(user, record_id)
    if record.status not in EDITABLE:
        raise Conflict(_("该记录当前状态为“%(status)s”，不能再添加认定文书。", status=record.status_label),
                       code="not_editable")
    case = registration_case(record)
    return attachments.store_attachment(user, case, DOCUMENT_KIND, filename, data)


def has_document(case: Case) -> bool:
    return db.session.scalar(select(Attachment.id).where(Attachment.case_id == case.id,
                                                         Attachment.kind == DOCUMENT_KIND).limit(1)) is not None


def submit(user: User, record_id: int) -> Case:
    """Report a draft to the credit office (start the review) or resubmit a returned one (flushes only)."""
    record = own_record(user, record_id)
    locks.lock_record(record.id)
    db.session.refresh(record)
    case = registration_case(record)
    if not has_document(case):
        raise Invalid(_("请先上传认定文书（PDF、OFD 或图片）再报送。"), code="missing_document",
                      fields={"file": _("缺少认定文书")})
    if record.status == "draft":
        assign_number(case)
        case.submitted_at = now()
        change_case_status(case, "in_progress", user_id=user.id, reason="认定单位报送失信记录")
        change_record_status(record, "reviewing", user_id=user.id, case_id=case.id, reason="认定单位报送，待信用办审核")
        start_process(case, user, review_deadline(case))
        return case
    if record.status == "returned":
        task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open",
                                                         HumanTask.bpmn_id == "correct_record"))
        if task is None:
            raise Conflict(_("该记录没有待重新报送的修改任务。"), code="no_task")
        from app.services.workflow.run import complete_task

        complete_task(user, task.id, {"correction": "resubmit", "statement": "已按退回理由修改，重新报送。"})
        return case
    raise Conflict(_("该记录当前状态为“%(status)s”，不能报送。", status=record.status_label), code="not_submittable")


def withdraw_draft(user: User, record_id: int, reason: str) -> CreditRecord:
    """Withdraw a record never reported (a returned one is withdrawn through its correction task)."""
    record = own_record(user, record_id)
    if record.status != "draft":
        raise Conflict(_("只有尚未报送的记录可以直接撤回；退回修改的记录请在修改任务中选择撤回。"), code="not_draft")
    reason = (reason or "").strip() or "认定单位撤回"
    case = registration_case(record)
    change_record_status(record, "withdrawn", user_id=user.id, case_id=case.id, reason=reason)
    case.outcome = "registration_withdrawn"
    change_case_status(case, "withdrawn", user_id=user.id, reason=reason)
    return record


def review_deadline(case: Case) -> dict:
    """The office review's due instant, for its overdue timer (working days from the rule set)."""
    due = calendar.deadline(now(), rules.time_limit(case.rule_set, "registration_review"))
    return {"review_due": due.due.isoformat()}


# --- what the automatic checks find (shown beside the review form; accept refuses while one fails) --------------

def automatic_checks(case: Case) -> list[tuple[str, bool, str]]:
    """(check, passed, what was found) for the review: complete, subject matched, no duplicate, legal basis,
    severity plausible."""
    record = case.record
    document = has_document(case)
    subject_ok = record.subject_unit.active and not record.subject_unit.is_credit_office and (
        record.subject_type == "unit" or record.person_id is not None)
    # The same subject on the same document, entered by another unit too (one unit cannot: uq_record_identity).
    # Two civil servants of one unit on one 处分决定 are two subjects, not a duplicate.
    others = db.session.scalars(select(CreditRecord.id).where(
        CreditRecord.id != record.id, CreditRecord.basis_doc_no == record.basis_doc_no,
        CreditRecord.subject_key == record.subject_key,
        CreditRecord.status.not_in(("withdrawn",)))).all()
    basis_ok = len(record.legal_basis.strip()) >= 4
    plausible = not (record.severity == "serious" and record.category == "breach" and len(record.facts) < 20)
    return [
        ("complete", document and bool(record.facts.strip()),
         _("认定文书已上传") if document else _("缺少认定文书")),
        ("subject", subject_ok, record.subject_label),
        ("duplicate", not others, _("未发现同一认定文书的其他记录") if not others
         else _("同一主体、同一认定文书已由其他单位登记：记录 %(ids)s", ids="、".join(str(i) for i in others))),
        ("legal_basis", basis_ok, record.legal_basis[:60]),
        ("severity", plausible, _("%(severity)s，%(category)s", severity=record.severity_label,
                                 category=record.category_label)),
    ]


CHECK_FIELDS = {"complete": "check_complete", "subject": "check_subject", "duplicate": "check_duplicate",
                "legal_basis": "check_legal_basis", "severity": "check_severity"}


def _reviewed(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 审核登记: registering needs every check passed, by the reviewer and the automatic ones."""
    if values["review"] == "accept":
        failed = [name for name, field in CHECK_FIELDS.items() if values.get(field) != "pass"]
        auto = [name for name, passed, _found in automatic_checks(case) if not passed]
        if failed or auto:
            names = {"complete": _("材料完整"), "subject": _("主体匹配"), "duplicate": _("无重复"),
                     "legal_basis": _("法律依据"), "severity": _("失信程度")}
            raise Invalid(_("审核项未全部通过（%(items)s），不能予以登记；请退回认定单位修改并说明理由。",
                            items="、".join(str(names[n]) for n in sorted(set(failed) | set(auto), key=list(CHECK_FIELDS).index))),
                          code="checks_failed", fields={CHECK_FIELDS[n]: _("未通过") for n in set(failed) | set(auto)})
    return {}


def _corrected(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 修改后重新报送: the record goes back to review (with a new review deadline)."""
    if values["correction"] != "resubmit":
        return {}
    record = case.record
    if record.status != "returned":
        raise Conflict(_("该记录当前状态为“%(status)s”，不能重新报送。", status=record.status_label), code="not_returned")
    if not has_document(case):
        raise Invalid(_("请先上传认定文书再重新报送。"), code="missing_document", fields={"file": _("缺少认定文书")})
    change_record_status(record, "reviewing", user_id=user.id, case_id=case.id,
                         reason="认定单位修改后重新报送：" + values.get("statement", ""))
    return review_deadline(case)


# --- effects -----------------------------------------------------------------------------------------------------

def _return(case: Case, user_id: int | None) -> None:
    values = last_values(case, "office_review")
    reasons = values.get("return_reasons", "")
    change_record_status(case.record, "returned", user_id=user_id, case_id=case.id, reason="退回修改：" + reasons)
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user_id, action="returned", step="office_review",
                             comment="退回认定单位修改：" + reasons, details={"reasons": reasons}))
    notifications.notify(case.record.recording_unit_id, "verifier", kind="returned", case_id=case.id,
                         title=f"失信记录被退回修改：{case.number}", body="退回理由：" + reasons)


def publication_start(case: Case) -> date:
    delay = rules.time_limit(case.rule_set, "publication_delay")
    return clock.local_today() if delay <= 0 else calendar.deadline(now(), delay).due_date


def publish(record: CreditRecord, *, case: Case | None) -> bool:
    """Begin publication of a registered record whose start has come: shown publicly and pushed ('publish').
    Minor records the rule set keeps unpublished (令第36号) are neither shown nor pushed. True when published."""
    if record.published_at is not None or not publication.publishable(record):
        return False
    record.published_at = now()
    db.session.add(RecordHistory(record_id=record.id, at=now(), case_id=case.id if case else None, action="published",
                                 changes={"published_at": [None, record.published_at.isoformat()]},
                                 reason=f"自{record.publication_start.isoformat()}起在信用随州公示，并推送省平台"))
    publication.push(record, "publish", case)
    audit.record("record.publish", object_type="credit_record", object_id=record.id,
                 details={"publication_start": record.publication_start.isoformat()})
    return True


def _register(case: Case, user_id: int | None) -> None:
    """Register the record: dates from its rule set, status 公示中 (or 不公示 for minor), subject told (the letter pair
    follows), publication now or at its start."""
    record = case.record
    rule_set = rules.rule_set_on(record.basis_date)
    record.rule_set_id = rule_set.id
    record.earliest_repair_date, record.auto_end_date = rules.publication_dates(rule_set, record.severity,
                                                                                record.basis_date)
    record.publication_start = publication_start(case)
    change_record_status(record, "published", user_id=user_id, case_id=case.id,
                         reason=f"{case.number}：信用办审核通过，予以登记")
    if record.publication_start <= clock.local_today():
        publish(record, case=case)
    subject = record.subject_label
    notifications.notify(record.subject_unit_id, "applicant", kind="record", case_id=case.id,
                         title=f"失信记录告知：{record.basis_doc_no}",
                         body=f"{subject}的政务失信记录已登记，公示告知书和信用修复告知书已出具，可在办件页面下载。"
                              "对记录有异议的，可在本系统提出异议申诉。")
    notifications.notify(record.recording_unit_id, "verifier", kind="registered", case_id=case.id,
                         title=f"失信记录已登记：{case.number}", body=subject)


def _withdraw(case: Case, user_id: int | None) -> None:
    values = last_values(case, "correct_record")
    change_record_status(case.record, "withdrawn", user_id=user_id, case_id=case.id,
                         reason="认定单位撤回报送：" + values.get("statement", ""))


def publish_due(limit: int) -> int:
    """Daily: publish registered records whose publication start has come (the start may follow registration)."""
    from app.models import RECORD_PUBLIC

    published, after = 0, 0
    while published < limit:
        rows = db.session.scalars(select(CreditRecord).where(
            CreditRecord.status.in_(RECORD_PUBLIC), CreditRecord.published_at.is_(None), CreditRecord.id > after,
            CreditRecord.publication_start <= clock.local_today()).order_by(CreditRecord.id).limit(limit)).all()
        if not rows:
            break
        # Unpublished (minor) records stay without a publication date: they are passed over, not counted.
        published += sum(publish(record, case=None) for record in rows)
        after = rows[-1].id
    return published


EFFECTS = {"register_record": _register, "return_record": _return, "withdraw_registration": _withdraw}
HOOKS = {"office_review": _reviewed, "correct_record": _corrected}
