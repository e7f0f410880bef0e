"""Bulk import of records by a recording unit (issue 12 §2): check every row, then write the file all-or-nothing.

Each row is checked by :func:`service.prepare` (the checks of the page and the API, with the units looked up once)
plus what only a spreadsheet has: Chinese labels for the subject type, category and severity, the unit named by its
统一社会信用代码 (check character first, ``uscc.validate_uscc``), and duplicates. Every bad row and column is listed
with its reason before anything is written; one bad row and nothing is written (no record, no ``RecordImport``).

Identity (recording unit + 认定文书号 + subject, ``uq_record_identity``): a row whose identity is already on file is
*existing* — not an error and not created again — so importing the same file twice creates nothing the second time
(it reports N existing, 0 created). The same identity twice in one file is an error on the later row.

Imported records go through the same review as one entered on the page: each becomes what ``create_draft`` +
``attach_document`` + ``submit`` make — a record with ``source="import"`` and ``import_id``, its registration case
numbered and in progress, the history rows of entering and reporting, the 认定文书 attachment, and a running
record_registration instance waiting at 信用办审核登记 (``office_review``) with its due date and overdue timer. For
10,000 rows that is done with bulk inserts and ``workflow.batch.start_processes`` (one real start per rule set,
copies for the rest); audit: one ``record.import`` event naming every created record, one ``process.start_batch``.

The 认定文书 (choice, documented here): a spreadsheet carries no documents, and ``submit`` requires one. The import
therefore takes **one file of the batch's 认定文书** (PDF, OFD or image — e.g. the decisions of the batch scanned into
one PDF), required whenever the import creates a record. It is stored once, checked like any upload
(``attachments.store_attachment`` on the first case), and every other case of the batch gets its own
``basis_document`` attachment row pointing at the same stored bytes (``attachments.share_attachment``: hard links).
The reviewer thus opens, for each record, the batch document in which its 认定文书号 is to be found; the spreadsheet
itself is not a 认定文书 and is not attached (its SHA-256 is kept on the ``RecordImport``).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import insert, select

from app.core import clock
from app.core import errors as errors_module
from app.core.clock import now
from app.core.errors import Forbidden, Invalid
from app.extensions import db
from app.models import CATEGORIES, SEVERITIES, Case, CaseEvent, CreditRecord, RecordHistory, RecordImport, Unit, User
from app.services import attachments, audit, rules, sequences, uscc
from app.services.record_import import HEADERS, SUBJECT_TYPES, ImportRejected, SheetRow, read_sheet
from app.services.workflow import registry
from app.services.workflow.batch import start_processes
from processes.record_registration import service
from processes.record_registration.service import Entry

CHUNK = 1000
CATEGORY_BY_LABEL = {str(label): code for code, label in CATEGORIES.items()}
SEVERITY_BY_LABEL = {str(label): code for code, label in SEVERITIES.items()}
# prepare()'s field names -> the spreadsheet's column.
COLUMN = {
    "subject_type": "主体类型", "subject_unit_id": "统一社会信用代码", "person": "姓名", "person.name": "姓名",
    "person.id_number": "身份证号", "person.post": "职务", "person.unit_id": "统一社会信用代码", "person.person_id": "姓名",
    "category": "失信类别", "severity": "失信程度", "basis_doc_no": "认定文书号", "basis_date": "认定日期",
    "facts": "失信事实", "legal_basis": "法律依据",
}


@dataclass
class Plan:
    """What a file would do: the rows to create, the rows already on file, and every error."""

    rows: int = 0
    create: list[tuple[int, Entry]] = field(default_factory=list)
    existing: list[tuple[int, int]] = field(default_factory=list)  # (row, record id)
    errors: list[dict] = field(default_factory=list)  # {"row", "column", "message"}

    @property
    def existing_ids(self) -> list[int]:
        return [record_id for _row, record_id in self.existing]


@dataclass(frozen=True)
class Outcome:
    record_import: RecordImport
    created_ids: list[int]
    existing_ids: list[int]


def _require_recorder(user: User) -> None:
    if not user.has_role("verifier"):
        raise Forbidden(_("只有认定单位核查员可以批量导入本单位认定的失信记录。"), code="role")


def _row_data(cells: dict, units_by_uscc: dict, errors: dict) -> dict:
    """A row's cells as prepare() reads them; errors found on the way go into errors (column -> message)."""
    kind = SUBJECT_TYPES.get(cells["主体类型"])
    if kind is None:
        errors["主体类型"] = _("主体类型“%(value)s”不正确，应为“单位”或“个人”。", value=cells["主体类型"][:20])
    code = cells["统一社会信用代码"].upper()
    unit = None
    if not code:
        errors["统一社会信用代码"] = _("请填写统一社会信用代码（主体为个人时填其所在单位的代码）。")
    else:
        problem = uscc.validate_uscc(code)
        if problem:
            errors["统一社会信用代码"] = _("统一社会信用代码“%(code)s”有误：%(problem)s。", code=code[:20], problem=problem)
        else:
            unit = units_by_uscc.get(code)
            if unit is None:
                errors["统一社会信用代码"] = _("未找到统一社会信用代码为 %(code)s 的单位。", code=code)
    category = CATEGORY_BY_LABEL.get(cells["失信类别"])
    if category is None:
        errors["失信类别"] = _("失信类别“%(value)s”不正确，可选：%(choices)s。", value=cells["失信类别"][:20],
                              choices="、".join(CATEGORY_BY_LABEL))
    severity = SEVERITY_BY_LABEL.get(cells["失信程度"])
    if severity is None:
        errors["失信程度"] = _("失信程度“%(value)s”不正确，可选：%(choices)s。", value=cells["失信程度"][:20],
                              choices="、".join(SEVERITY_BY_LABEL))
    data = {"subject_type": kind or "unit", "category": category, "severity": severity,
            "basis_doc_no": cells["认定文书号"], "basis_date": cells["认定日期"], "facts": cells["失信事实"],
            "legal_basis": cells["法律依据"]}
    if kind == "person":
        data["person"] = {"name": cells["姓名"], "id_number": cells["身份证号"], "post": cells["职务"],
                          "unit_id": unit.id if unit else None}
    else:
        data["subject_unit_id"] = unit.id if unit else None
        if kind == "unit":
            for column in ("姓名", "身份证号", "职务"):
                if cells[column]:
                    errors[column] = _("主体类型为“单位”时，姓名、身份证号、职务应留空。")
    return data


def check(user: User, rows: list[SheetRow]) -> Plan:
    """Check every row against the unit's records on file; may add new persons (the caller rolls a preview back)."""
    _require_recorder(user)
    recorder = db.session.get(Unit, user.unit_id)
    units = list(db.session.scalars(select(Unit)))
    units_by_id = {u.id: u for u in units}
    units_by_uscc = {u.uscc: u for u in units}
    on_file = {(doc, key): record_id for record_id, doc, key in db.session.execute(
        select(CreditRecord.id, CreditRecord.basis_doc_no, CreditRecord.subject_key)
        .where(CreditRecord.recording_unit_id == recorder.id))}
    seen: dict[tuple[str, str], int] = {}
    plan = Plan(rows=len(rows))
    # One refusal of the file stands for its bad rows. No autoflush: a new person is flushed when created (for its
    # id); its post row goes with the next flush instead of costing one of its own before the next row's query.
    with errors_module.unwatched(), db.session.no_autoflush:
        for row in rows:
            _check_row(row, recorder, units_by_id, units_by_uscc, on_file, seen, plan)
    return plan


def _check_row(row: SheetRow, recorder: Unit, units_by_id: dict, units_by_uscc: dict, on_file: dict, seen: dict,
               plan: Plan) -> None:
    """Check one row: it is to be created, already on file, or its errors are listed (column order)."""
    errors: dict[str, str] = {}
    data = _row_data(row.cells, units_by_uscc, errors)
    entry = None
    try:
        entry = service.prepare(data, recorder, units_by_id=units_by_id)
    except Invalid as exc:
        for name, message in exc.fields.items():
            errors.setdefault(COLUMN.get(name, name), message)
    if entry is not None and not errors:
        identity = (entry.basis_doc_no, entry.key())
        if identity in seen:
            errors["认定文书号"] = _("与第 %(row)s 行重复：同一认定文书号、同一主体。", row=seen[identity])
        elif identity in on_file:
            plan.existing.append((row.number, on_file[identity]))
        else:
            seen[identity] = row.number
            plan.create.append((row.number, entry))
    for column in HEADERS:  # in column order
        if column in errors:
            plan.errors.append({"row": row.number, "column": column, "message": str(errors[column])})


def _document_problem(name: str, data: bytes | None) -> str | None:
    if not data:
        return _("本次导入将新建记录，请上传本批记录的认定文书（PDF、OFD 或图片，一个文件）。")
    kind = attachments.sniff_type(data[:16], data, max_zip_entries=current_app.config["MAX_ZIP_ENTRIES"]) \
        if len(data) <= current_app.config["MAX_FILE_BYTES"] else None
    if kind not in current_app.config["ALLOWED_UPLOAD_TYPES"]:
        return _("认定文书“%(name)s”不是 PDF、OFD 或图片文件（或超过大小上限）。", name=attachments.display_name(name))
    return None


def preview(user: User, data: bytes, document_name: str | None = None, document: bytes | None = None) -> Plan:
    """What importing the file would do, writing nothing (new persons are checked in a savepoint rolled back)."""
    _require_recorder(user)
    rows = read_sheet(data)
    savepoint = db.session.begin_nested()
    try:
        plan = check(user, rows)
    finally:
        savepoint.rollback()
    if plan.create and not plan.errors and document is not None:
        problem = _document_problem(document_name or "", document)
        if problem:
            plan.errors.append({"row": 0, "column": "认定文书", "message": str(problem)})
    return plan


def rejected(plan: Plan) -> ImportRejected:
    return ImportRejected(_("导入文件有 %(n)s 处错误，未导入任何记录；请按提示修改后重新上传。", n=len(plan.errors)),
                          plan.errors, audit_details={"errors": len(plan.errors), "rows": plan.rows})


def import_file(user: User, filename: str, data: bytes, document_name: str | None = None,
                document: bytes | None = None) -> Outcome:
    """Import a spreadsheet all-or-nothing: ImportRejected (nothing written) when any row is bad; else the new
    records, each submitted to the office review, and the kept RecordImport (flushes only)."""
    _require_recorder(user)
    rows = read_sheet(data)
    # Checked and written under the audit chain's lock (which the writing takes anyway): a parallel import of the
    # same rows waits, then finds them on file — existing, not a unique-constraint failure.
    audit.lock_chain()
    plan = check(user, rows)
    if plan.errors:
        raise rejected(plan)
    if plan.create:
        problem = _document_problem(document_name or "", document)
        if problem:
            raise Invalid(problem, code="missing_document", fields={"document": problem})
    digest = hashlib.sha256(data).hexdigest()
    row = RecordImport(user_id=user.id, unit_id=user.unit_id, at=now(), filename=attachments.display_name(filename),
                       sha256=digest, rows=plan.rows, created=len(plan.create), existing=len(plan.existing),
                       record_ids=[])
    db.session.add(row)
    db.session.flush()
    created = _write(user, row, [entry for _n, entry in plan.create], document_name or "", document) \
        if plan.create else []
    row.record_ids = created
    audit.record("record.import", object_type="record_import", object_id=row.id,
                 details={"filename": row.filename, "sha256": digest, "rows": plan.rows, "created": len(created),
                          "existing": len(plan.existing), "record_ids": created, "existing_ids": plan.existing_ids})
    return Outcome(row, created, plan.existing_ids)


def _record_values(user: User, entry: Entry, import_id: int, rule_sets: dict) -> dict:
    """A record's columns as create_draft + submit leave them (service._apply's dates, status 审核中)."""
    rule_set = rule_sets.get(entry.basis_date)
    if rule_set is None:
        rule_set = rule_sets[entry.basis_date] = rules.rule_set_on(entry.basis_date)
    earliest, auto_end = rules.publication_dates(rule_set, entry.severity, entry.basis_date)
    return {
        "subject_type": entry.subject_type, "subject_unit_id": entry.subject_unit_id, "person_id": entry.person_id,
        "person_name": entry.person_name, "person_post": entry.person_post, "subject_key": entry.key(),
        "category": entry.category, "severity": entry.severity, "recording_unit_id": user.unit_id,
        "basis_doc_no": entry.basis_doc_no, "basis_date": entry.basis_date, "facts": entry.facts,
        "legal_basis": entry.legal_basis, "status": "reviewing", "publication_start": max(entry.basis_date,
                                                                                             clock.local_today()),
        "earliest_repair_date": earliest, "auto_end_date": auto_end, "rule_set_id": rule_set.id,
        "judicial": entry.category == "judgment", "source": "import", "import_id": import_id,
        "created_by_id": user.id, "created_at": now(), "updated_at": now(),
    }


def _write(user: User, row: RecordImport, entries: list[Entry], document_name: str, document: bytes) -> list[int]:
    """Write the records, their cases and history, the 认定文书 and start every review; return the record ids."""
    at = now()
    rule_sets: dict = {}
    values = [_record_values(user, entry, row.id, rule_sets) for entry in entries]
    record_ids: list[int] = []
    for start in range(0, len(values), CHUNK):
        record_ids.extend(db.session.scalars(
            insert(CreditRecord).returning(CreditRecord.id, sort_by_parameter_order=True), values[start:start + CHUNK]))
    year = clock.local_today().year
    prefix = registry.slice_for("registration").case_prefix
    first = sequences.reserve_numbers("case:registration", year, len(entries))
    case_rows = [{"type": "registration", "status": "in_progress", "record_id": record_id,
                  "applicant_unit_id": v["subject_unit_id"], "created_by_id": user.id, "rule_set_id": v["rule_set_id"],
                  "form": {"source": "import", "import_id": row.id}, "query_code": secrets.token_hex(4).upper(),
                  "number": f"{prefix}-{year}-{first + i:06d}", "current_step": "", "created_at": at,
                  "submitted_at": at}
                 for i, (record_id, v) in enumerate(zip(record_ids, values))]
    case_ids: list[int] = []
    for start in range(0, len(case_rows), CHUNK):
        case_ids.extend(db.session.scalars(
            insert(Case).returning(Case.id, sort_by_parameter_order=True), case_rows[start:start + CHUNK]))
    entered = f"认定单位录入（import，批量导入 #{row.id}）"
    history = []
    created_events = []
    for record_id, case_id in zip(record_ids, case_ids):
        history.append({"record_id": record_id, "at": at, "user_id": user.id, "case_id": None, "action": "entered",
                        "from_status": None, "to_status": "draft", "changes": {}, "reason": entered})
        created_events.append({"case_id": case_id, "at": at, "user_id": user.id, "action": "created", "step": "",
                               "from_status": None, "to_status": "draft", "comment": "认定单位录入失信记录",
                               "internal": True, "details": {"import_id": row.id}})
    _bulk(RecordHistory, history)
    _bulk(CaseEvent, created_events)
    # The batch's 认定文书: checked and stored once on the first case, shared by the others.
    source = attachments.store_attachment(user, db.session.get(Case, case_ids[0]), service.DOCUMENT_KIND,
                                          document_name, document)
    attachments.share_attachment(source, case_ids[1:], user)
    history, status_events = [], []
    for record_id, case_id in zip(record_ids, case_ids):
        history.append({"record_id": record_id, "at": at, "user_id": user.id, "case_id": case_id, "action": "status",
                        "from_status": "draft", "to_status": "reviewing", "changes": {},
                        "reason": "认定单位报送，待信用办审核"})
        status_events.append({"case_id": case_id, "at": at, "user_id": user.id, "action": "status_changed",
                              "step": "", "from_status": "draft", "to_status": "in_progress",
                              "comment": "认定单位报送失信记录", "internal": False, "details": {}})
    _bulk(RecordHistory, history)
    _bulk(CaseEvent, status_events)
    # One review start per rule set (its time limit gives the review's due date), copied to the rest.
    by_rule_set: dict[int, list[int]] = {}
    for case_id, v in zip(case_ids, values):
        by_rule_set.setdefault(v["rule_set_id"], []).append(case_id)
    for ids in by_rule_set.values():
        start_processes(ids, user, service.review_deadline(db.session.get(Case, ids[0])))
    return record_ids


def _bulk(model, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(model), rows[start:start + CHUNK])
