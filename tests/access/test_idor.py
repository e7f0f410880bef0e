"""IDOR sweep: every route that names an object, called by another unit with the first unit's ids → 404, no data,
no change (QUALITY.md §3: queries for unit-owned objects always filter by the user's unit)."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Attachment, Case, CaseEvent, CreditRecord, HumanTask, Letter, Notification, ProcessInstance, Sanction,
)
from app import policy
from tests.support.clients import fresh_g
from tests.support.files import PDF_BYTES

OBJECT_ARGS = {"case_id": "case", "record_id": "record", "task_id": "task", "attachment_id": "attachment",
               "letter_id": "letter", "sanction_id": "sanction", "unit_id": "unit"}

# What a request would carry if it were really trying to act on the object (so a missing check would show).
WEB_FORMS = {
    "staff.task": {"intake_choice": "reject", "reasons": "越权尝试", "verify_choice": "no_error", "opinion": "越权"},
    "staff.reassign": {"assignee_id": "1", "reason": "越权尝试"},
    "portal.record": {"kind": "objection", "reason": "wrong_content", "statement": "越权尝试"},
    "cases.upload": {"kind": "evidence"},
}
API_BODIES = {
    "api.complete": {"intake_choice": "reject", "reasons": "越权尝试"},
    "api.create_case": None,  # built per record below
}


@pytest.fixture()
def owned(filed, users):  # noqa: F811
    """Applicant1's objects, including a sanction of its unit when the demo has one."""
    unit_id = users["applicant1"].unit_id
    sanction = db.session.scalar(select(Sanction.id).where(Sanction.unit_id == unit_id))
    return {**filed, "sanction": sanction, "unit": unit_id,
            "case_number": db.session.get(Case, filed["case"]).number}


def fingerprint() -> tuple:
    """Everything a wrongly allowed request could change."""
    db.session.expire_all()

    def rows(*columns):
        return tuple(db.session.execute(select(*columns).order_by(columns[0])).all())

    return (rows(Case.id, Case.status), rows(HumanTask.id, HumanTask.status, HumanTask.assignee_id),
            rows(ProcessInstance.id, ProcessInstance.lock_version), rows(CaseEvent.id), rows(Attachment.id),
            rows(Letter.id), rows(CreditRecord.id, CreditRecord.status), rows(Sanction.id, Sanction.status),
            rows(Notification.id, Notification.read_at))


def _object_routes(app):
    for rule in app.url_map.iter_rules():
        if set(rule.arguments) & set(OBJECT_ARGS):
            yield rule


def _url(app, rule, owned) -> str | None:
    values = {}
    for name in rule.arguments:
        key = OBJECT_ARGS.get(name)
        if key is None or owned.get(key) is None:
            return None
        values[name] = owned[key]
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


@pytest.mark.parametrize("intruder", ["applicant2", "verifier2"])
def test_other_units_get_404_and_change_nothing_on_every_object_page(seeded, web, users, owned, intruder):
    client = web(intruder)
    token = client.csrf("/notifications")
    roles = users[intruder].roles
    before = fingerprint()
    tried = 0
    for rule in _object_routes(seeded):
        if rule.endpoint.startswith("api.") or not policy.permits(rule.endpoint, roles):
            continue  # other roles' routes: tests/access/test_policy.py
        url = _url(seeded, rule, owned)
        if url is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token, **WEB_FORMS.get(rule.endpoint, {})}
            if rule.endpoint == "cases.upload":
                data["file"] = (io.BytesIO(PDF_BYTES), "越权.pdf")
            fresh_g()
            response = client.client.open(url, method=method, data=data)
            body = response.get_data(as_text=True) if response.mimetype.startswith("text/") else ""
            assert response.status_code == 404, (intruder, method, url, response.status_code)
            assert owned["case_number"] not in body and "处罚决定已于" not in body, (method, url)
            tried += 1
    assert tried >= 8, tried
    assert fingerprint() == before


@pytest.mark.parametrize("intruder", ["applicant2", "verifier2"])
def test_other_units_get_404_and_change_nothing_on_every_object_api_route(seeded, api, users, owned, intruder):
    client = api(intruder)
    roles = users[intruder].roles
    before = fingerprint()
    tried = 0
    for rule in _object_routes(seeded):
        if not rule.endpoint.startswith("api.") or not policy.permits(rule.endpoint, roles):
            continue
        url = _url(seeded, rule, owned)
        if url is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            fresh_g()
            if rule.endpoint == "api.add_attachment":
                response = client.client.open(url, method=method, headers=client.headers,
                                              data={"kind": "evidence", "file": (io.BytesIO(PDF_BYTES), "x.pdf")},
                                              content_type="multipart/form-data")
            else:
                response = client.client.open(url, method=method, headers=client.headers,
                                              json=API_BODIES.get(rule.endpoint) or {})
            assert response.status_code == 404, (intruder, method, url, response.get_json())
            assert set(response.get_json()) == {"error"}
            assert owned["case_number"] not in response.get_data(as_text=True)
            tried += 1
    # Filing on another unit's record through the collection route is the same object reach.
    fresh_g()
    response = client.client.post("/api/v1/cases", headers=client.headers,
                                  json={"type": "objection", "record_id": owned["record"], "reason": "wrong_content",
                                        "statement": "越权"})
    assert response.status_code == 404, response.get_json()
    assert tried >= 5, tried
    assert fingerprint() == before


def test_the_owner_reaches_the_same_objects(seeded, web, api, owned):
    """The sweep's ids are real: applicant1 gets them."""
    client = web("applicant1")
    for path in (f"/cases/{owned['case']}", f"/portal/records/{owned['record']}",
                 f"/cases/letters/{owned['letter']}.pdf", f"/cases/attachments/{owned['attachment']}"):
        assert client.get(path).status_code == 200, path
    assert api("applicant1").get(f"/api/v1/cases/{owned['case']}").status_code == 200
