"""API: the person-scoped award eligibility query (限制评优评先, issue 12 §5) for the organisation and HR departments.

By person id (GET) or by ID number (POST, so the number is in no URL or access log). Every query is audited
(person.query) by the service; the answer carries the reasons and no case content.
"""
from __future__ import annotations

from datetime import date

from flask import g, jsonify, request

from app.api import bp
from app.core import clock
from app.core.errors import Invalid
from app.services import persons


def _day(raw) -> date:
    if raw in (None, ""):
        return clock.local_today()
    try:
        return date.fromisoformat(raw)
    except (ValueError, TypeError):
        raise Invalid("date 应为 YYYY-MM-DD。", fields={"date": "YYYY-MM-DD"}) from None


def _iso(value):
    return value.isoformat() if value else None


def answer_json(answer: persons.AwardAnswer) -> dict:
    reasons = []
    for r in answer.reasons:
        if r.kind == "record":
            reasons.append({"kind": "record", "record_id": r.record.id, "basis_doc_no": r.record.basis_doc_no,
                            "recording_unit": r.record.recording_unit.name, "category": r.record.category,
                            "severity": r.record.severity, "status": r.record.status, "since": _iso(r.since),
                            "earliest_end": _iso(r.earliest_end), "latest_end": _iso(r.latest_end)})
        else:
            reasons.append({"kind": "sanction", "sanction_id": r.sanction.id, "since": _iso(r.since),
                            "earliest_end": _iso(r.earliest_end), "latest_end": _iso(r.latest_end)})
    person = answer.person
    return {"found": True, "person": {"id": person.id, "name": person.name, "id_masked": person.id_masked,
                                      "unit": person.unit.name, "post": person.post},
            "date": answer.day.isoformat(), "restricted": answer.restricted, "reasons": reasons}


@bp.route("/persons/<int:person_id>/award-eligibility")
def person_award_eligibility(person_id: int):
    answer = persons.query_award_eligibility(g.api_user, person_id=person_id, day=_day(request.args.get("date")))
    return jsonify(answer_json(answer))


@bp.route("/persons/award-eligibility", methods=["POST"])
def award_eligibility_by_number():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("请求体应为 JSON 对象。", code="bad_payload")
    number = data.get("id_number")
    if not isinstance(number, str):
        raise Invalid("请提供身份证号。", fields={"id_number": "必填"})
    day = _day(data.get("date"))
    answer = persons.query_award_eligibility(g.api_user, id_number=number, day=day)
    if answer is None:
        return jsonify({"found": False, "date": day.isoformat(), "restricted": False, "reasons": [],
                        "message": "本系统未登记该身份证号人员的政务失信记录。"})
    return jsonify(answer_json(answer))
