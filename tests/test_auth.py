"""Logins: lockout, identical answers, server-side revocation, password policy."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, User
from app.services import clock
from app.services.auth import password_problem
from tests.conftest import T0, WebClient


def test_lockout_after_five_failures(web, seeded):
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


def test_unknown_user_gets_the_same_answer(web, seeded):
    client = web()
    unknown = client.login("nobody", "wrong-password").get_data(as_text=True)
    known = client.login("intake1", "wrong-password").get_data(as_text=True)
    assert "用户名或密码错误，或账户已被临时锁定。" in unknown and "用户名或密码错误，或账户已被临时锁定。" in known


def test_logout_kills_a_copied_cookie(seeded):
    alice = WebClient(seeded, "applicant1")
    assert alice.get("/portal/records").status_code == 200
    stolen = alice.client.get_cookie("session").value
    thief = seeded.test_client()
    thief.set_cookie("session", stolen, domain="localhost")
    assert thief.get("/portal/records").status_code == 200  # the copy works while the session lives
    alice.post("/logout", form_page="/portal/records")
    assert thief.get("/portal/records").status_code == 302  # revoked on the server: back to login


def test_idle_timeout(seeded):
    client = WebClient(seeded, "applicant1")
    clock.set_frozen(T0 + timedelta(minutes=31))
    assert client.get("/portal/records").status_code == 302


def test_password_policy():
    assert password_problem("short1A!") is not None
    assert password_problem("alllowercaseletters") is not None
    assert password_problem("Xinyong@2026") is None


def test_csrf_is_required(seeded):
    client = WebClient(seeded, "applicant1")
    assert client.client.post("/logout").status_code == 400
