"""Only the administrator reaches the office's desk: every page and action × every role (404 for the others)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import policy
from app.extensions import db
from app.models import AuditEvent, ProcessDefinition
from app.core.clock import now
from tests.support.clients import fresh_g

ROLE_USERS = {"applicant": "applicant1", "intake": "intake1", "verifier": "verifier1", "approver": "approver1",
              "admin": "admin1", "auditor": "auditor1"}
# Every page of the desk: (endpoint, method, path template). {unit}, {user} and {definition} are filled per test.
PAGES = [
    ("office.units_page", "GET", "/admin/units"),
    ("office.unit_new", "GET", "/admin/units/new"),
    ("office.unit_new", "POST", "/admin/units/new"),
    ("office.unit_edit", "GET", "/admin/units/{unit}"),
    ("office.unit_edit", "POST", "/admin/units/{unit}"),
    ("office.unit_active", "POST", "/admin/units/{unit}/active"),
    ("office.users_page", "GET", "/admin/users"),
    ("office.user_new", "GET", "/admin/users/new"),
    ("office.user_new", "POST", "/admin/users/new"),
    ("office.user_edit", "GET", "/admin/users/{user}"),
    ("office.user_edit", "POST", "/admin/users/{user}"),
    ("office.user_active", "POST", "/admin/users/{user}/active"),
    ("office.user_unlock", "POST", "/admin/users/{user}/unlock"),
    ("office.user_reset_password", "POST", "/admin/users/{user}/password"),
    ("office.user_reset_second_factor", "POST", "/admin/users/{user}/second-factor"),
    ("office.calendar_page", "GET", "/admin/calendar?year=2026"),
    ("office.calendar_import", "POST", "/admin/calendar/import"),
    ("office.calendar_day", "POST", "/admin/calendar/day"),
    ("office.processes_page", "GET", "/admin/processes"),
    ("office.process_diagram", "GET", "/admin/processes/{definition}"),
    ("office.process_diagram_json", "GET", "/admin/processes/{definition}/diagram.json"),
]
GET_PAGES = [(endpoint, path) for endpoint, method, path in PAGES if method == "GET"]


def test_the_table_lists_every_route_of_the_desk(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("office.")}
    assert routes == {endpoint for endpoint, _method, _path in PAGES}
    for endpoint in routes:
        assert policy.POLICY[endpoint] == frozenset({policy.ADMIN}), endpoint


@pytest.fixture()
def ids(staff):
    definition = ProcessDefinition(process_key="objection_review", version=1, file_hash="a" * 64,
                                   sources={"x.bpmn": "<definitions/>"}, spec_json="{}", deployed_at=now())
    db.session.add(definition)
    db.session.commit()
    return {"unit": staff["applicant1"].unit_id, "user": staff["applicant1"].id, "definition": definition.id}


def _denials() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "access.denied"))


@pytest.mark.parametrize("role", sorted(set(ROLE_USERS) - {"admin"}))
def test_every_other_role_gets_404_and_the_denial_is_audited(browser, ids, role):
    client = browser(ROLE_USERS[role])
    token = client.csrf("/notifications")
    for endpoint, method, path in PAGES:
        url = path.format(**ids)
        before = _denials()
        fresh_g()
        response = client.client.open(url, method=method, data={"csrf_token": token, "reason": "x"})
        assert response.status_code == 404, (role, method, url)
        assert _denials() == before + 1, (role, method, url)
        assert "一次性密码" not in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint,path", GET_PAGES)
def test_the_administrator_reaches_every_page(admin, ids, endpoint, path):
    response = admin.get(path.format(**ids))
    assert response.status_code == 200, (endpoint, response.status_code)


@pytest.mark.parametrize("endpoint,path", GET_PAGES)
def test_anonymous_is_sent_to_sign_in(app, ids, endpoint, path):
    fresh_g()
    response = app.test_client().get(path.format(**ids))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_navigation_offers_the_desk_to_the_administrator_only(browser, admin):
    page = admin.get("/admin/units").get_data(as_text=True)
    for path in ("/admin/units", "/admin/users", "/admin/calendar", "/admin/processes"):
        assert f'href="{path}"' in page
    other = browser("approver1").get("/notifications").get_data(as_text=True)
    assert 'href="/admin/units"' not in other and 'href="/admin/users"' not in other
