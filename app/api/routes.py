"""API routes: bearer-token auth, JSON in and out, stable error codes."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone

from flask import Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from app.api import bp
from app.api.openapi import OPENAPI
from app.core import clock
from app.extensions import db
from app.models import Case, CreditRecord, HumanTask
from app.services import access, applications, attachments, audit, auth, calendar, delivery, eligibility, rules, sanctions, workflow
from app.services import idempotency
from app.services.inbox import filters as inbox_filters, queries as tasks
from processes.objection_review import service as objections
from processes.rectification import service as rectification
from processes.credit_repair import service as repair
from processes.honor_restoration import service as restoration
from processes.record_registration import service as registration
from app.core.errors import Conflict, Invalid, NotFound, ServiceError
from app.core.ids import MAX_ID, is_object_id, object_id
from app import transaction
from app.services.workflow import registry
from app.policy import is_public, permits
from app.transaction import json_error as _error

# A ServiceError is answered by app.transaction.answer_service_error: {"error": {code, message, fields}}, its status.


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    transaction.rollback()
    if exc.code == 413:
        return _error(413, "413", attachments.too_large_message())
    messages = {404: "未找到该对象，或您无权查看。", 405: "不支持该请求方法。",
                400: "请求格式不正确。", 401: "请先获取令牌。"}
    return _error(exc.code or 500, str(exc.code), messages.get(exc.code, exc.description or "请求无效。"))


@bp.before_request
def authenticate_and_authorize():
    """Resolve the bearer token, then apply the route policy table (the same one the pages use)."""
    if is_public(request.endpoint):
        return None
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    user = auth.resolve_session(token, "api")
    if auth.session_written():
        transaction.commit_now("session_touch")
    if user is None:
        audit.set_actor(audit.Actor(ip=request.remote_addr or ""))
        transaction.record_denial(401, "unauthorized")
        return _error(401, "unauthorized", "令牌无效或已过期，请重新获取。")
    g.api_user = user
    audit.set_actor(audit.Actor(user_id=user.id, username=user.username, unit_id=user.unit_id,
                                ip=request.remote_addr or ""))
    if not permits(request.endpoint, user.roles):
        transaction.record_denial(404, "not_found")
        return _error(404, "not_found", "未找到该对象，或您无权查看。")
    return None


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("请求体应为 JSON 对象。", code="bad_payload")
    return data


def _iso(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def record_json(r: CreditRecord, registration_case: Case | None | bool = True) -> dict:
    """A record as the API shows it; its fields by the names POST and PATCH /records take (``registration_case``:
    the record's registration case when the caller looked it up already, True to look it up here)."""
    if registration_case is True:
        registration_case = _registration_cases([r.id]).get(r.id)
    return {
        "id": r.id, "status": r.status, "status_label": r.status_label, "category": r.category,
        "severity": r.severity, "subject": r.subject_label, "subject_unit_id": r.subject_unit_id,
        "recording_unit": r.recording_unit.name, "basis_doc_no": r.basis_doc_no, "basis_date": _iso(r.basis_date),
        "facts": r.facts, "legal_basis": r.legal_basis, "annotation": r.annotation,
        "earliest_repair_date": _iso(r.earliest_repair_date), "auto_end_date": _iso(r.auto_end_date),
        "rule_set": r.rule_set.code,
        "subject_type": r.subject_type, "person": _person_json(r), "recording_unit_id": r.recording_unit_id,
        "publication_start": _iso(r.publication_start), "published_at": _iso(r.published_at), "source": r.source,
        "judicial": r.judicial, "created_at": _iso(r.created_at),
        "registration": None if not registration_case else {
            "case_id": registration_case.id, "number": registration_case.number, "status": registration_case.status,
            "outcome": registration_case.outcome, "current_step": registration_case.current_step},
    }


def _person_json(r: CreditRecord) -> dict | None:
    """A person subject as the record states them; the ID number only masked (never in clear)."""
    if r.subject_type != "person" or r.person is None:
        return None
    return {"person_id": r.person_id, "name": r.person_name, "post": r.person_post, "unit_id": r.subject_unit_id,
            "id_masked": r.person.id_masked}


def _registration_cases(record_ids) -> dict[int, Case]:
    """The latest registration case of each record (records entered before the registration process have none);
    ``record_ids`` is a list or a select of ids."""
    rows = db.session.scalars(select(Case).where(Case.type == "registration", Case.record_id.in_(record_ids))
                              .order_by(Case.id)).all()
    return {c.record_id: c for c in rows}


def task_json(t: HumanTask) -> dict:
    return {"id": t.id, "case_id": t.case_id, "bpmn_id": t.bpmn_id, "title": t.title, "lane": t.lane,
            "status": t.status, "assignee_id": t.assignee_id, "due_at": _iso(t.due_at),
            "due_provisional": t.due_provisional, "form_key": t.form_key}


def case_json(c: Case, user) -> dict:
    internal = access.can_see_internal(user)
    open_tasks = db.session.scalars(select(HumanTask).where(HumanTask.case_id == c.id, HumanTask.status == "open")).all()
    return {
        "id": c.id, "number": c.number, "type": c.type, "status": c.status, "outcome": c.outcome,
        "record_id": c.record_id, "applicant_unit_id": c.applicant_unit_id, "current_step": c.current_step,
        "rule_set": c.rule_set.code, "form": c.form, "created_at": _iso(c.created_at),
        "submitted_at": _iso(c.submitted_at), "closed_at": _iso(c.closed_at),
        "query_code": c.query_code if c.applicant_unit_id == user.unit_id else None,
        "history": [
            {"at": _iso(e.at), "action": e.action, "step": e.step, "choice": e.choice, "from_status": e.from_status,
             "to_status": e.to_status, "comment": e.comment, "internal": e.internal}
            for e in c.events if internal or not e.internal
        ],
        "open_tasks": [task_json(t) for t in open_tasks],
        "attachments": [{"id": a.id, "kind": a.kind, "name": a.display_name, "content_type": a.content_type,
                         "size": a.size, "sha256": a.sha256} for a in c.attachments],
        "letters": [letter_json(l) for l in c.letters],
        "deadlines": delivery.deadline_lines(c),
    }


def letter_json(l) -> dict:
    return {"id": l.id, "type": l.type, "title": l.title, "doc_number": l.doc_number, "issued_on": _iso(l.issued_on),
            "sha256": l.sha256, "pdf": f"/api/v1/letters/{l.id}.pdf", "delivery": delivery.delivery_json(l)}


@bp.route("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


@bp.route("/auth/token", methods=["POST"])
def token():
    data = _json_body()
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise Invalid("请提供用户名和密码。", fields={"username": "必填", "password": "必填"})
    ip = request.remote_addr or ""
    user = auth.authenticate(username, password, ip)
    transaction.commit_now("login_attempt")
    if user is None:
        return _error(401, "login_failed", str(auth.LOGIN_FAILED))
    if auth.password_expired(user):
        return _error(401, "password_expired", "密码已过期，请先在网页端修改密码。")
    if auth.needs_second_factor(user):
        if not auth.second_factor_enrolled(user):
            return _error(401, "second_factor_not_enrolled", "该账户须先在网页端登录并绑定动态口令。")
        code = data.get("totp")
        ok = isinstance(code, str) and auth.verify_second_factor(user, code, ip)
        transaction.commit_now("login_attempt")
        if not ok:
            return _error(401, "second_factor_required", "请在 totp 字段提供有效的 6 位动态口令。")
    value = auth.open_session(user, "api", ip)
    return jsonify({"token": value, "token_type": "Bearer"})


@bp.route("/auth/logout", methods=["POST"])
def logout():
    """Revoke the bearer token of this request: every copy of it stops working at once."""
    token = request.headers.get("Authorization", "")[7:]
    auth.revoke_session(token)
    audit.record("auth.logout", details={"kind": "api"})
    return jsonify({"revoked": True})


RECORDS_PAGE, RECORDS_PAGE_MAX = 100, 500


def _positive_arg(name: str, *, default: int | None, most: int, message: str) -> int | None:
    """A query argument that must be a whole number from 1 to `most` when given; anything else is a 400."""
    text = request.args.get(name)
    if text is None:
        return default
    if not is_object_id(text) or int(text) > most:
        raise ServiceError(message, code="bad_paging", fields={name: message})  # 400, as the pages' bad page number
    return int(text)


@bp.route("/records")
def records():
    """The records the caller may see, by id, a page at a time: `after` the last id of the previous page (its
    `next_after`), `limit` up to 500 (100 if not given). A staff caller sees every record: all of them in one
    answer grew with the register (a million rows in one JSON body)."""
    limit = _positive_arg("limit", default=RECORDS_PAGE, most=RECORDS_PAGE_MAX, message="limit 应为 1–500 的整数。")
    after = _positive_arg("after", default=None, most=MAX_ID, message="after 应为上一页返回的 next_after（记录编号）。")
    query = access.visible_records(g.api_user).options(selectinload(CreditRecord.person))
    if after is not None:
        query = query.where(CreditRecord.id > after)
    rows = db.session.scalars(query.order_by(CreditRecord.id).limit(limit + 1)).all()
    page = rows[:limit]
    cases = _registration_cases([r.id for r in page])
    return jsonify({"items": [record_json(r, cases.get(r.id)) for r in page],
                    "next_after": page[-1].id if len(rows) > limit else None, "limit": limit})


@bp.route("/records/<int:record_id>")
def record(record_id: int):
    return jsonify(record_json(access.get_record(g.api_user, record_id)))


def _is_json_id(value) -> bool:
    """A JSON number that can be an object id (JSON true/false are ints to Python, never ids)."""
    return type(value) is int and 0 < value <= MAX_ID


@bp.route("/cases", methods=["POST"])
def create_case():
    data = _json_body()
    if data.get("type") == "restoration":  # applicant-started: starts at once for one sanction
        sanction_id = data.get("sanction_id")
        if not _is_json_id(sanction_id):
            raise Invalid("sanction_id 应为整数。", fields={"sanction_id": "必填，整数"})
        case = restoration.apply_for_restoration(g.api_user, sanction_id)
        return jsonify(case_json(case, g.api_user)), 201
    record_id = data.get("record_id")
    if not _is_json_id(record_id):
        raise Invalid("record_id 应为整数。", fields={"record_id": "必填，整数"})
    if data.get("type") == "objection":
        case = objections.create_objection(g.api_user, record_id, data.get("reason") or "", data.get("statement") or "")
    elif data.get("type") == "rectification":  # staff-opened: starts at once
        case = rectification.open_rectification(g.api_user, record_id, data.get("deadline_days", ""),
                                                 data.get("requirements") or "")
    elif data.get("type") == "repair":
        case = repair.create_repair(g.api_user, record_id, data.get("statement") or "")
    else:
        raise Invalid("type 应为 objection、rectification、repair 或 restoration。", code="unsupported_type",
                      fields={"type": "objection | rectification | repair | restoration"})
    return jsonify(case_json(case, g.api_user)), 201


@bp.route("/cases/<int:case_id>")
def get_case(case_id: int):
    return jsonify(case_json(access.get_case(g.api_user, case_id), g.api_user))


@bp.route("/cases/<int:case_id>/attachments", methods=["POST"])
def add_attachment(case_id: int):
    case = access.get_case(g.api_user, case_id)
    if case.applicant_unit_id != g.api_user.unit_id:
        raise NotFound()
    if not attachments.may_upload(g.api_user, case):
        raise Invalid("该办件当前不接受补充材料。", code="closed_for_uploads", audit_action="upload.refused",
                      audit_details={"case_id": case.id})
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("请以 multipart 字段 file 上传文件。", fields={"file": "必填"})
    row = attachments.store_attachment(g.api_user, case, request.form.get("kind", "evidence"), upload.filename or "",
                                       upload.stream)
    return jsonify({"id": row.id, "kind": row.kind, "name": row.display_name, "content_type": row.content_type,
                    "size": row.size, "sha256": row.sha256}), 201


@bp.route("/cases/<int:case_id>/submit", methods=["POST"])
def submit_case(case_id: int):
    case = applications.submit_case(g.api_user, case_id)
    return jsonify(case_json(case, g.api_user))


@bp.route("/tasks")
def list_tasks():
    scope = request.args.get("scope", "mine")
    if scope not in tasks.SCOPES:
        raise Invalid("scope 应为 mine、group 或 all。", fields={"scope": "mine|group|all"})
    filters = inbox_filters.strict_filters(request.args)  # a bad value is a 400 naming the field
    page = tasks.task_page(g.api_user, scope, after=request.args.get("after"), filters=filters, counts=True)
    # The tab counts as the inbox page shows them: each up to count_cap + 1 ("99+").
    return jsonify({"items": [task_json(t) for t in page.rows], "next_after": page.next_after, "counts": page.counts,
                    "count_cap": tasks.COUNT_CAP})


@bp.route("/tasks/<task_id>")
def get_task(task_id: str):
    row = access.get_task(g.api_user, task_id)
    form = registry.form_for(row.form_key).for_case(db.session.get(Case, row.case_id))  # choices narrowed per case
    return jsonify({**task_json(row), "fields": [f.as_dict() for f in form.fields]})


@bp.route("/tasks/<task_id>/claim", methods=["POST"])
def claim(task_id: str):
    row = workflow.claim_task(g.api_user, task_id)
    return jsonify(task_json(row))


@bp.route("/tasks/<task_id>/release", methods=["POST"])
def release(task_id: str):
    row = workflow.release_task(g.api_user, task_id)
    return jsonify(task_json(row))


@bp.route("/tasks/<task_id>/complete", methods=["POST"])
def complete(task_id: str):
    row = workflow.complete_task(g.api_user, task_id, _json_body())
    return jsonify(task_json(row))


@bp.route("/tasks/<task_id>/extension", methods=["POST"])
def request_extension(task_id: str):
    """The recording unit's verifier asks once to extend an objection's 核查 (issue 13 §6)."""
    data = _json_body()
    access.get_task(g.api_user, task_id)  # another unit's task is not found, whatever the body says
    reason = data.get("reason")
    if not isinstance(reason, str):
        raise Invalid("请写明申请延长核查期限的理由。", fields={"reason": "应为文本"})
    event = objections.request_verify_extension(g.api_user, task_id, reason)
    return jsonify({"case_id": event.case_id, "extension": "requested"})


@bp.route("/cases/<int:case_id>/extension", methods=["POST"])
def decide_extension(case_id: int):
    """An intake officer approves or refuses the pending 核查 extension request."""
    data = _json_body()
    access.get_case(g.api_user, case_id)  # another unit's case is not found, whatever the body says
    approve, comment = data.get("approve"), data.get("comment", "")
    if not isinstance(approve, bool) or not isinstance(comment, str):
        raise Invalid("approve 应为 true 或 false，comment 应为文本。", fields={"approve": "true|false"})
    objections.decide_verify_extension(g.api_user, case_id, approve, comment)
    return jsonify({"case_id": case_id, "extension": "approved" if approve else "refused"})


@bp.route("/letters/<int:letter_id>/delivery", methods=["POST"])
def record_delivery(letter_id: int):
    row = access.get_letter(g.api_user, letter_id)
    data = _json_body()
    delivery.record_office_delivery(g.api_user, row, day=data.get("delivered_on"), method=data.get("method"),
                                    note=data.get("note") if isinstance(data.get("note"), str) else "")
    return jsonify(letter_json(row))


@bp.route("/letters/<int:letter_id>.pdf")
def letter_pdf(letter_id: int):
    row = access.get_letter(g.api_user, letter_id)
    audit.record("letter.download", object_type="letter", object_id=row.id)
    delivery.opened(g.api_user, row)  # its addressee's first opening delivers it (送达)
    response = Response(row.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="letter-{row.id}.pdf"'
    return response


@bp.route("/calendar/deadline")
def deadline():
    try:
        start = date.fromisoformat(request.args.get("start", ""))
        n = int(request.args.get("working_days", ""))
    except ValueError:
        raise Invalid("start 应为 YYYY-MM-DD，working_days 应为整数。",
                      fields={"start": "YYYY-MM-DD", "working_days": "0–366"}) from None
    if not 0 <= n <= 366:
        raise Invalid("working_days 应在 0 到 366 之间。", fields={"working_days": "0–366"})
    if not 1900 <= start.year <= 2999:  # dates near year 1 or 9999 overflow once shifted by zone or working days
        raise Invalid("start 应在 1900 年至 2999 年之间。", fields={"start": "1900-01-01–2999-12-31"})
    received = clock.local_instant(start, time(12, 0))
    result = calendar.deadline(received, n)
    return jsonify({"due": result.due.isoformat(), "due_date": result.due_date.isoformat(),
                    "provisional": result.provisional})


@bp.route("/records/<int:record_id>/objection-eligibility")
def objection_eligibility(record_id: int):
    row = access.get_record(g.api_user, record_id)
    block = objections.objection_block(row)
    return jsonify({"record_id": row.id, "eligible": block is None, "reason": block})


@bp.route("/sanctions")
def list_sanctions():
    unit_id = request.args.get("unit_id", type=object_id)
    rows = sanctions.visible_sanctions(g.api_user, unit_id)
    return jsonify({"items": [sanction_json(s) for s in rows]})


def sanction_json(s) -> dict:
    return {"id": s.id, "kind": s.kind, "kind_label": s.kind_label, "status": s.status, "unit_id": s.unit_id,
            "unit": s.unit.name, "record_ids": [r.id for r in s.records], "start_date": _iso(s.start_date),
            "term_end": _iso(s.term_end), "created_by_case_id": s.created_by_case_id,
            "lifted_by_case_id": s.lifted_by_case_id, "lifted_reason": s.lifted_reason,
            "history": [{"at": _iso(h.at), "from": h.from_status, "to": h.to_status, "reason": h.reason,
                         "case_id": h.case_id} for h in s.history]}


@bp.route("/records/<int:record_id>/repair-eligibility")
def repair_eligibility(record_id: int):
    verdict = eligibility.repair_verdict(access.get_record(g.api_user, record_id))
    return jsonify({"record_id": record_id, "eligible": verdict.eligible, "reason_code": verdict.code,
                    "message": verdict.message, "earliest_date": _iso(verdict.earliest)})


@bp.route("/units/<int:unit_id>/honor-eligibility")
def honor_eligibility(unit_id: int):
    user = g.api_user
    if not (user.has_role("intake", "approver") or (user.has_role("applicant") and user.unit_id == unit_id)):
        raise NotFound()
    raw = request.args.get("date")
    try:
        day = date.fromisoformat(raw) if raw else clock.local_today()
    except ValueError:
        raise Invalid("date 应为 YYYY-MM-DD。", fields={"date": "YYYY-MM-DD"}) from None
    answer = eligibility.honour_eligibility(unit_id, day)
    return jsonify({
        "unit_id": unit_id, "date": day.isoformat(), "eligible": answer.eligible,
        "sanctions": [sanction_json(s) for s in answer.sanctions],
        "records": [{"id": r.id, "basis_doc_no": r.basis_doc_no, "severity": r.severity, "status": r.status,
                     "auto_end_date": _iso(r.auto_end_date)} for r in answer.records],
    })


@bp.route("/rule-sets")
def rule_sets():
    rows = rules.all_rule_sets()
    return jsonify({"items": [{"id": r.id, "code": r.code, "name": r.name, "legal_basis": r.legal_basis,
                               "effective_from": _iso(r.effective_from), "effective_to": _iso(r.effective_to),
                               "periods": r.periods, "time_limits": r.time_limits, "repair_bar": r.repair_bar}
                              for r in rows]})


# --- the records API for other systems (issue 12 §3): the recording unit enters a record as a draft, attaches its
# 认定文书, submits it to the credit office's review and corrects it when returned. The registration service checks
# the content; these views check only the JSON shape (types, known names), so nothing unexpected reaches it.

_RECORD_TEXT = ("subject_type", "category", "severity", "basis_doc_no", "basis_date", "facts", "legal_basis")
_PERSON_TEXT = ("name", "id_number", "post")
_PERSON_IDS = ("unit_id", "person_id")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _record_body(subject_type: str) -> dict:
    """The record a client sent as JSON, its names and types checked; raise Invalid naming each bad field.

    ``subject_type``: the kind of subject when the body does not say (a new record's default, or the record's own)."""
    data = _json_body()
    errors = {name: "未知字段。" for name in data if name not in registration.FIELDS}
    for name in _RECORD_TEXT:
        if data.get(name) is not None and not isinstance(data[name], str):
            errors[name] = "应为文本。"
    if isinstance(data.get("basis_date"), str) and not _ISO_DAY.fullmatch(data["basis_date"].strip()):
        errors["basis_date"] = "认定日期应为 YYYY-MM-DD。"
    if data.get("subject_unit_id") is not None and not _is_json_id(data["subject_unit_id"]):
        errors["subject_unit_id"] = "应为单位编号（整数）。"
    person = data.get("person")
    if isinstance(person, dict):
        for name in person:
            if name not in _PERSON_TEXT + _PERSON_IDS:
                errors[f"person.{name}"] = "未知字段。"
        for name in _PERSON_TEXT:
            if person.get(name) is not None and not isinstance(person[name], str):
                errors[f"person.{name}"] = "应为文本。"
        for name in _PERSON_IDS:
            if person.get(name) is not None and not _is_json_id(person[name]):
                errors[f"person.{name}"] = "应为编号（整数）。"
    elif person is not None:
        errors["person"] = "应为对象：{name, id_number, post, unit_id} 或 {person_id}。"
    # A subject is a unit or a person, never both: a field of the other kind would be silently dropped.
    kind = data.get("subject_type") or subject_type
    if kind == "unit" and person is not None:
        errors.setdefault("person", "失信主体为单位（unit）时不填 person。")
    if kind == "person" and data.get("subject_unit_id") is not None:
        errors.setdefault("subject_unit_id", "失信主体为个人时，所在单位填在 person.unit_id。")
    if errors:
        raise Invalid("失信记录有误，请按提示修改后重新提交。", code="invalid_record", fields=errors)
    return data


def _duplicate(same: CreditRecord | None) -> Conflict:
    """The refusal of a record already on file, naming it; without one, a concurrent change of the same rows."""
    if same is None:
        return Conflict("另一请求同时登记了相同的内容，本次未生效，请重试。", code="concurrent_change")
    return Conflict(f"本单位已登记过该失信记录（认定文书号 {same.basis_doc_no}，同一主体），不能重复登记。",
                    code="duplicate_record", fields={"basis_doc_no": "重复的认定文书"}, extra={"record_id": same.id})


@bp.route("/records", methods=["POST"])
def create_record():
    """Enter a record as a draft of the caller's unit; with an Idempotency-Key, a retry answers the same again."""
    user = g.api_user
    key = idempotency.check_key(request.headers.get(idempotency.HEADER))
    data = _record_body("unit")
    claim = idempotency.claim(user, key, idempotency.request_hash("POST /records", data)) if key \
        else idempotency.Claim()
    if claim.replay is not None:
        status, body = claim.replay
        return jsonify(body), status

    entered = []

    def enter() -> CreditRecord:
        entry = registration.prepare(data, user.unit)
        entered.append(entry)
        same = registration.find_same(user.unit_id, entry.basis_doc_no, entry.key())
        if same is not None:
            raise _duplicate(same)
        return registration.create_draft(user, entry, source="api")

    # A concurrent request entering the same record (or the same new person) meets the unique constraints; the
    # refusal names the record it committed.
    record = idempotency.unique_or(enter, lambda: _duplicate(
        registration.find_same(user.unit_id, entered[-1].basis_doc_no, entered[-1].key()) if entered else None))
    answer = jsonify(record_json(record))
    idempotency.keep(claim, 201, answer.get_json())  # as sent: plain JSON values (labels are lazy strings)
    return answer, 201


@bp.route("/records/<int:record_id>", methods=["PATCH"])
def update_record(record_id: int):
    """Correct a draft or returned record of the caller's unit: only the fields given change."""
    data = _record_body(registration.own_record(g.api_user, record_id).subject_type)
    record = idempotency.unique_or(lambda: registration.update_draft(g.api_user, record_id, data),
                                   lambda: _duplicate(None))
    return jsonify(record_json(record))


@bp.route("/records/<int:record_id>/documents", methods=["POST"])
def add_record_document(record_id: int):
    """Attach the 认定文书 (PDF, OFD or image) to a draft or returned record of the caller's unit."""
    registration.own_record(g.api_user, record_id)
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("请以 multipart 字段 file 上传认定文书。", fields={"file": "必填"})
    row = registration.attach_document(g.api_user, record_id, upload.filename or "", upload.stream)
    return jsonify({"id": row.id, "kind": row.kind, "name": row.display_name, "content_type": row.content_type,
                    "size": row.size, "sha256": row.sha256}), 201


@bp.route("/records/<int:record_id>/submit", methods=["POST"])
def submit_record(record_id: int):
    """Report a draft to the credit office's review, or resubmit a corrected returned record."""
    case = registration.submit(g.api_user, record_id)
    return jsonify(record_json(case.record, case))

# --- bulk import of records (issue 12 §2) ------------------------------------------------------------------------

@bp.route("/records/import", methods=["POST"])
def import_records():
    """Multipart ``file`` (CSV or XLSX) and ``document`` (the batch's 认定文书; needed when records are created);
    ``dry_run=1`` checks only. 422 with every bad row, or 201 with the created and existing record ids."""
    from processes.record_registration import record_import

    upload = request.files.get("file")
    if upload is None:
        raise Invalid("请以 multipart 字段 file 上传 CSV 或 XLSX 文件。", code="missing_file", fields={"file": "必填"})
    data = upload.read()
    document = request.files.get("document")
    document_name, document_bytes = (document.filename or "", document.read()) if document is not None else (None, None)
    dry_run = request.form.get("dry_run", request.args.get("dry_run", "")) in ("1", "true")
    # Bad rows raise ImportRejected (an Invalid): 422 {"error": {"code", "message", "rows": [...]}}, nothing kept.
    if dry_run:
        plan = record_import.preview(g.api_user, data, document_name, document_bytes)
        if plan.errors:
            raise record_import.rejected(plan)
        return jsonify({"dry_run": True, "row_count": plan.rows, "create": len(plan.create),
                        "existing": len(plan.existing), "existing_ids": plan.existing_ids,
                        "document_needed": bool(plan.create) and document_bytes is None}), 200
    outcome = record_import.import_file(g.api_user, upload.filename or "", data, document_name, document_bytes)
    row = outcome.record_import
    return jsonify({"import_id": row.id, "sha256": row.sha256, "row_count": row.rows, "created": row.created,
                    "existing": row.existing, "created_ids": outcome.created_ids,
                    "existing_ids": outcome.existing_ids}), 201
