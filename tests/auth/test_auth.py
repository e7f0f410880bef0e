"""Logins: lockout, identical answers, server-side revocation, password policy."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, User
from app.core import clock
from app.services.auth import password_problem
from tests.support.clients import WebClient, fresh_g, next_totp_code
from tests.support.constants import PASSWORD, T0


def test_lockout_after_five_failures(web, staff):
    client = web()
    for _ in range(5):
        assert "用户名或密码错误" in client.login("intake1", "wrong-password").get_data(as_text=True)
    locked = client.login("intake1")  # right password, still locked
    assert "用户名或密码错误" in locked.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.username == "intake1")).locked_until is not None
    clock.set_frozen(T0 + timedelta(minutes=31))
    assert client.login("intake1").status_code == 302
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.username == "intake1")).all()
    assert "auth.lockout" in actions


def test_unknown_user_gets_the_same_answer(web, staff):
    client = web()
    unknown = client.login("nobody", "wrong-password").get_data(as_text=True)
    known = client.login("intake1", "wrong-password").get_data(as_text=True)
    assert "用户名或密码错误，或账户已被临时锁定。" in unknown and "用户名或密码错误，或账户已被临时锁定。" in known


def test_logout_kills_a_copied_cookie(app, staff):
    alice = WebClient(app, "applicant1")
    assert alice.get("/portal/records").status_code == 200
    stolen = alice.client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", stolen, domain="localhost")
    assert thief.get("/portal/records").status_code == 200  # the copy works while the session lives
    alice.post("/logout", form_page="/portal/records")
    assert thief.get("/portal/records").status_code == 302  # revoked on the server: back to login


def test_idle_timeout(app, staff):
    client = WebClient(app, "applicant1")
    clock.set_frozen(T0 + timedelta(minutes=31))
    assert client.get("/portal/records").status_code == 302


def test_password_policy():
    assert password_problem("short1A!") is not None
    assert password_problem("alllowercaseletters") is not None
    assert password_problem("Xinyong@2026") is None


def test_csrf_is_required(app, staff):
    client = WebClient(app, "applicant1")
    assert client.client.post("/logout").status_code == 400


def _step(minutes: int) -> None:
    clock.set_frozen(clock.now() + timedelta(minutes=minutes))


def _expired_audits(kind: str, why: str) -> int:
    return sum(1 for d in db.session.scalars(select(AuditEvent.details)
                                               .where(AuditEvent.action == "auth.session_expired"))
               if d == {"kind": kind, "why": why})


def test_web_session_ends_after_twelve_hours_however_active(app, staff):
    client = WebClient(app, "applicant1")
    while clock.now() < T0 + timedelta(hours=11, minutes=35):  # busy all day: never idle for 30 minutes
        _step(25)
        assert client.get("/portal/records").status_code == 200
    clock.set_frozen(T0 + timedelta(hours=12) - timedelta(minutes=1))
    assert client.get("/portal/records").status_code == 200  # 11 h 59 min: still signed in
    clock.set_frozen(T0 + timedelta(hours=12, minutes=1))
    response = client.get("/portal/records")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _expired_audits("web", "lifetime") == 1


def test_api_token_has_an_absolute_lifetime(api, staff):
    caller = api("intake1")
    for _ in range(11):  # used every hour: never idle for 8 hours
        _step(60)
        assert caller.get("/api/v1/records").status_code == 200
    clock.set_frozen(T0 + timedelta(hours=12, minutes=1))
    assert caller.get("/api/v1/records").status_code == 401
    assert _expired_audits("api", "lifetime") == 1


def test_api_token_idle_for_eight_hours_ends(api, staff):
    caller = api("intake1")
    clock.set_frozen(T0 + timedelta(hours=7, minutes=59))
    assert caller.get("/api/v1/records").status_code == 200
    clock.set_frozen(T0 + timedelta(hours=16))
    assert caller.get("/api/v1/records").status_code == 401
    assert _expired_audits("api", "idle") == 1


def test_api_logout_revokes_the_token(api, staff):
    caller, other = api("intake1"), api("intake1")
    assert caller.get("/api/v1/records").status_code == 200
    response = caller.post("/api/v1/auth/logout")
    assert response.status_code == 200 and response.get_json() == {"revoked": True}
    refused = caller.get("/api/v1/records")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    assert caller.post("/api/v1/auth/logout").status_code == 401  # a revoked token cannot even log out again
    assert other.get("/api/v1/records").status_code == 200  # only that token ends
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "auth.logout", AuditEvent.username == "intake1")) == 1


def _login_at(client: WebClient, path: str, username: str = "applicant1"):
    token = client.csrf(path)
    fresh_g()
    return client.client.post(path, data={"csrf_token": token, "username": username, "password": PASSWORD})


def test_a_protected_page_signs_in_and_lands_back_on_itself(app, staff):
    client = WebClient(app)
    login = client.get("/portal/cases?page=1").headers["Location"]
    assert login.startswith("/login?next=")
    assert _login_at(client, login).headers["Location"] == "/portal/cases?page=1"


def test_next_leads_only_to_a_path_on_this_site(app, staff):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
                   "/\r\n//evil.example"):
        client = WebClient(app)
        response = _login_at(client, "/login?" + urlencode({"next": target}))
        assert response.headers["Location"] == "/", target


def test_the_second_factor_keeps_next(app, staff):
    client = WebClient(app)
    assert _login_at(client, "/login?next=/cases/5", "approver1").headers["Location"] == "/login/second-factor"
    assert client.post("/login/second-factor", {"code": next_totp_code("approver1")}).headers["Location"] == "/cases/5"
