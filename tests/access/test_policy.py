"""The route × role policy table: every route is in it, and every role outside a row gets 404 (deny by default)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Sanction
from app.models.org import ROLES
from app import policy
from tests.support.clients import fresh_g

# A signed-in account per role (demo users hold one role each).
ROLE_USERS = {"applicant": "applicant1", "intake": "intake1", "verifier": "verifier1", "approver": "approver1",
              "admin": "admin1", "auditor": "auditor1"}


def _endpoints(app) -> dict[str, object]:
    return {rule.endpoint: rule for rule in app.url_map.iter_rules()}


def test_every_route_is_in_the_policy_table(seeded):
    missing = sorted(set(_endpoints(seeded)) - set(policy.POLICY))
    assert not missing, f"routes without a policy row (add them to app/policy.py): {missing}"


def test_policy_table_has_no_stale_or_malformed_rows(seeded):
    stale = sorted(set(policy.POLICY) - set(_endpoints(seeded)))
    assert not stale, f"policy rows for routes that do not exist: {stale}"
    known = set(ROLES) | {policy.ANONYMOUS, policy.SIGNED_IN}
    for endpoint, allowed in policy.POLICY.items():
        assert allowed and allowed <= known, endpoint


def test_a_route_missing_from_the_table_answers_404_even_when_public(web, monkeypatch):
    assert web().get("/public").status_code == 200
    monkeypatch.delitem(policy.POLICY, "public.index")
    assert web().get("/public").status_code == 404
    assert web("intake1").get("/public").status_code == 404


def _sample_url(app, rule, ids: dict) -> str:
    values = {}
    for name in rule.arguments:
        values[name] = {"case_id": ids["case"], "record_id": ids["record"], "task_id": ids["task"],
                        "attachment_id": ids["attachment"], "letter_id": ids["letter"],
                        "sanction_id": ids["sanction"], "unit_id": ids["unit"], "message_id": 1, "event_id": 1,
                        "code": "zh", "filename": "app.css"}.get(name, 1)
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values, _external=False)


@pytest.fixture()
def ids(filed, users):  # noqa: F811
    sanction = db.session.scalar(select(Sanction.id).where(Sanction.unit_id == users["applicant1"].unit_id)) or 1
    return {**filed, "sanction": sanction, "unit": users["applicant1"].unit_id}


def _denials() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "access.denied"))


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_roles_outside_a_row_get_404_on_every_page(seeded, web, ids, role):
    """Walk every web route (GET and POST) as each role; where the table says no, the answer is 404."""
    client = web(ROLE_USERS[role])
    token = client.csrf("/notifications")
    refused = 0
    for endpoint, rule in _endpoints(seeded).items():
        if endpoint.startswith("api.") or policy.permits(endpoint, {role}):
            continue
        url = _sample_url(seeded, rule, ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            before = _denials()
            fresh_g()
            response = client.client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 404, (role, method, url, response.status_code)
            assert _denials() == before + 1, f"denial not audited: {method} {url}"
            refused += 1
    assert role in ("applicant", "intake", "verifier", "approver") or refused > 10


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_roles_outside_a_row_get_404_on_every_api_route(seeded, api, ids, role):
    client = api(ROLE_USERS[role])
    for endpoint, rule in _endpoints(seeded).items():
        if not endpoint.startswith("api.") or policy.permits(endpoint, {role}):
            continue
        url = _sample_url(seeded, rule, ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            fresh_g()
            response = client.client.open(url, method=method, headers=client.headers, json={})
            assert response.status_code == 404, (role, method, url)
            assert set(response.get_json()) == {"error"}


def test_anonymous_is_sent_to_login_or_refused_everywhere_but_public_routes(seeded, ids):
    client = seeded.test_client()
    for endpoint, rule in _endpoints(seeded).items():
        if policy.is_public(endpoint):
            continue
        url = _sample_url(seeded, rule, ids)
        fresh_g()
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        response = client.get(url) if "GET" in methods else client.open(url, method=methods[0])  # POST or PATCH
        if endpoint.startswith("api."):
            assert response.status_code == 401, url
        elif "GET" in rule.methods:
            assert response.status_code == 302 and "/login" in response.headers["Location"], url
        else:
            assert response.status_code in (302, 400), url  # no CSRF token, or sent to sign in; never served


def test_public_routes_need_no_account(seeded):
    client = seeded.test_client()
    for path in ("/public", "/public/records", "/public/progress", "/login", "/api/v1/openapi.json", "/favicon.ico"):
        fresh_g()
        assert client.get(path).status_code == 200, path


def test_assets_are_public_rows():
    """What browsers fetch by themselves must not need an account (a 302 to /login for an icon is noise)."""
    for endpoint in policy.ASSETS:
        assert policy.is_public(endpoint), endpoint
