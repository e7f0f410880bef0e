"""No 500 from a number: page numbers and keyset cursors beyond any real page answer 400, on both databases."""
from __future__ import annotations

import pytest

from app.extensions import db
from app import policy
from tests.support.clients import ApiClient, WebClient

# One account per role; each list route is called by an account whose role the policy table lets in.
ACCOUNTS = {"applicant": "applicant1", "intake": "intake1", "verifier": "verifier1", "approver": "approver1",
            "admin": "admin1", "auditor": "auditor1"}
HOSTILE = ["9223372036854775807",    # the largest 64-bit integer: OFFSET overflowed SQLite and PostgreSQL
           "9223372036854775808",    # one beyond it
           "99999999999999999999999",
           "-1", "0", "1e3", "٣"]    # negative, zero, not a plain ASCII number
PARAMS = ("page", "after", "before")


def _account_for(endpoint: str) -> str | None:
    roles = policy.POLICY[endpoint]
    if policy.ANONYMOUS in roles:
        return None
    return next(ACCOUNTS[r] for r in ACCOUNTS if r in roles or policy.SIGNED_IN in roles)


def _list_routes(app, api: bool):
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and rule.rule.startswith("/api/") is api \
                and rule.endpoint != "static":
            yield rule


def test_every_page_route_refuses_impossible_numbers(seeded):
    clients: dict = {}
    failures = []
    for rule in _list_routes(seeded, api=False):
        user = _account_for(rule.endpoint)
        client = clients.setdefault(user, WebClient(seeded, user))
        for name in PARAMS:
            for value in HOSTILE:
                status = client.get(f"{rule.rule}?{name}={value}").status_code
                if status >= 500:
                    failures.append((rule.rule, name, value, status))
    db.session.rollback()
    assert failures == []


@pytest.mark.parametrize("path,name", [
    ("/portal/records", "page"),  # applicant's lists, paged in SQL
    ("/portal/cases", "page"),
    ("/public/records", "page"),  # the public list
    ("/audit/", "after"),         # the auditor's keyset cursors
    ("/audit/", "before"),
])
@pytest.mark.parametrize("value", HOSTILE[:4])
def test_list_pages_answer_400_with_a_message(seeded, path, name, value):
    user = "auditor1" if path.startswith("/audit") else None if path.startswith("/public") else "applicant1"
    response = WebClient(seeded, user).get(f"{path}?{name}={value}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "页码应为 1 至 100000 之间的整数" in page or "分页参数无效" in page


@pytest.mark.parametrize("path", ["/portal/records?page=100000", "/portal/cases?page=2", "/public/records?page=7",
                                  "/audit/?before=2147483647"])
def test_the_largest_real_page_numbers_still_answer(seeded, path):
    user = "auditor1" if path.startswith("/audit") else None if path.startswith("/public") else "applicant1"
    assert WebClient(seeded, user).get(path).status_code == 200  # an empty page, not an error


def test_every_api_list_refuses_impossible_numbers(seeded):
    failures = []
    for user in ("applicant1", "intake1", "auditor1"):
        client = ApiClient(seeded, user)
        for rule in _list_routes(seeded, api=True):
            for name in PARAMS:
                for value in HOSTILE:
                    status = client.get(f"{rule.rule}?{name}={value}").status_code
                    if status >= 500:
                        failures.append((user, rule.rule, name, value, status))
    assert failures == []
