"""Schemathesis against /api/v1/openapi.json: every operation, valid and invalid input, as an applicant and a
reviewer — never a 500, responses as documented, and a refused write changes nothing."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)
from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, Letter, User
from tests.support.clients import ApiClient, fresh_g
from tests.support.flows import do_task, file_objection
from tests.support.snapshots import fingerprint

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
USERS = ("applicant1", "intake1")


@pytest.fixture()
def api_world(seeded, api):
    """Real objects for path parameters, and a bearer token per user."""
    case = file_objection(api, "applicant1")
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    db.session.expire_all()
    ids = {
        "case_id": case["id"],
        "record_id": case["record_id"],
        "letter_id": db.session.scalar(select(Letter.id).where(Letter.case_id == case["id"])),
        "task_id": db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case["id"],
                                                              HumanTask.status == "open")),
        "unit_id": case["applicant_unit_id"],
    }
    tokens = {user: ApiClient(seeded, user).headers for user in USERS}
    return {"ids": ids, "tokens": tokens}


@pytest.fixture()
def api_schema(seeded, api_world):
    fresh_g()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", seeded)


schema = schemathesis.pytest.from_fixture("api_schema")


def test_the_document_is_valid_openapi_and_lists_every_route(seeded):
    """Every /api/v1 route of the app is documented (the schema itself is validated when loaded)."""
    import re

    fresh_g()
    document = seeded.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routes = set()
    for rule in seeded.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations without a route"


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api(case, seeded, api_world):
    # Half the generated ids are swapped for real objects, so operations also run past the 404.
    for name, value in list((case.path_parameters or {}).items()):
        real = api_world["ids"].get(name)
        if real is not None and isinstance(value, int) and value % 2 == 0:
            case.path_parameters[name] = real
        elif real is not None and name == "task_id" and len(str(value)) % 2 == 0:
            case.path_parameters[name] = real
    for user in USERS:
        before = fingerprint(seeded) if case.method.upper() != "GET" else None
        fresh_g()
        response = case.call(headers=api_world["tokens"][user])
        case.validate_response(response, checks=CHECKS)
        assert response.status_code < 500
        if before is not None and response.status_code >= 400:
            assert fingerprint(seeded) == before, f"refused {case.method} {case.formatted_path} changed the database"
        assert response.headers.get("x-content-type-options") == ["nosniff"]


@pytest.fixture()
def records_world(seeded, api):
    """A draft record of verifier1's unit (the recording unit) for the records API's path parameters."""
    subject = db.session.scalar(select(User.unit_id).where(User.username == "applicant1"))
    client = api("verifier1")
    draft = client.post("/api/v1/records", json={
        "subject_unit_id": subject, "category": "admin_penalty", "severity": "general",
        "basis_doc_no": "随模糊罚〔2026〕1号", "basis_date": "2026-10-10", "facts": "模糊测试的失信事实。",
        "legal_basis": "《中华人民共和国行政处罚法》第七十二条"})
    assert draft.status_code == 201, draft.get_json()
    return {"ids": {"record_id": draft.get_json()["id"]}, "headers": client.headers}


@pytest.fixture()
def records_schema(seeded, records_world):
    fresh_g()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", seeded)


# The recording unit's writes (issue 12 §3), as the recording unit: past the policy row, into the service's checks.
records_writes = schemathesis.pytest.from_fixture("records_schema").include(path_regex="^/records",
                                                                            method_regex="^(POST|PATCH)$")


@records_writes.parametrize()
@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_records_api_as_the_recording_unit(case, seeded, records_world):
    for name, value in list((case.path_parameters or {}).items()):
        real = records_world["ids"].get(name)
        if real is not None and isinstance(value, int) and value % 4 != 0:  # mostly the real draft
            case.path_parameters[name] = real
    before = fingerprint(seeded)
    fresh_g()
    response = case.call(headers={**(case.headers or {}), **records_world["headers"]})
    case.validate_response(response, checks=CHECKS)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert fingerprint(seeded) == before, f"refused {case.method} {case.formatted_path} changed the database"


@pytest.mark.parametrize("body", [
    {"type": "objection", "record_id": False, "reason": "duplicate", "statement": "x"},
    {"type": "repair", "record_id": True, "statement": "x"},
    {"type": "restoration", "sanction_id": True},
    {"type": "objection", "record_id": 2**40, "reason": "duplicate", "statement": "x"},
    {"type": "rectification", "record_id": -1, "deadline_days": True, "requirements": "x"},
])
def test_json_ids_must_be_plain_integers_in_range(seeded, api, body):
    """Found by Schemathesis on PostgreSQL: JSON false passed isinstance(int) and reached SQL as a boolean."""
    before = fingerprint(seeded)
    for user in USERS:
        response = api(user).post("/api/v1/cases", json=body)
        assert response.status_code == 422, response.get_json()
    assert fingerprint(seeded) == before
