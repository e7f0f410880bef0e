"""Accounts (QUALITY.md §3): TOTP second factor for admin and approver, password expiry and change."""
from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, LoginSession, User
from app.core import clock
from tests.support.clients import fresh_g, next_totp_code, WebClient
from tests.support.constants import PASSWORD

NEW_PASSWORD = "Xinyong#2027abc"


def _password_only(client: WebClient, username: str):
    token = client.csrf("/login")
    fresh_g()
    return client.client.post("/login", data={"csrf_token": token, "username": username, "password": PASSWORD})


def _audit(action: str, outcome: str = "success") -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == action, AuditEvent.outcome == outcome))


def test_approver_password_alone_does_not_sign_in(app, staff):
    client = WebClient(app)
    response = _password_only(client, "approver1")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/second-factor")
    inbox = client.get("/tasks/inbox")
    assert inbox.status_code == 302 and "/login" in inbox.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_wrong_and_replayed_codes_are_refused_and_audited(app, staff):
    client = WebClient(app)
    _password_only(client, "approver1")
    page = client.post("/login/second-factor", {"code": "000000"})
    assert page.status_code == 200 and "动态口令不正确" in page.get_data(as_text=True)
    assert _audit("auth.second_factor", "failure") == 1
    code = next_totp_code("approver1")
    assert client.post("/login/second-factor", {"code": code}).status_code == 302
    assert client.get("/tasks/inbox").status_code == 200
    # The same code a second time (shoulder-surfed, replayed) is refused.
    other = WebClient(app)
    _password_only(other, "approver1")
    assert other.post("/login/second-factor", {"code": code}).status_code == 200
    assert other.get("/tasks/inbox").status_code == 302


def test_five_wrong_codes_lock_the_account(seeded, users):
    client = WebClient(seeded)
    _password_only(client, "approver1")
    for _ in range(5):
        client.post("/login/second-factor", {"code": "123456"})
    db.session.expire_all()
    assert users["approver1"].locked_until is not None
    assert _audit("auth.lockout", "denied") == 1
    # Even the right password is now refused with the usual answer.
    assert "账户已被临时锁定" in _password_only(WebClient(seeded), "approver1").get_data(as_text=True)


def test_first_sign_in_enrols_with_a_qr_code(app, staff, users):
    admin = users["admin1"]
    admin.totp_secret = admin.totp_confirmed_at = None
    db.session.commit()
    client = WebClient(app)
    response = _password_only(client, "admin1")
    assert response.headers["Location"].endswith("/login/second-factor/enrol")
    page = client.get("/login/second-factor/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page and "动态口令绑定二维码" in page
    db.session.expire_all()
    secret = users["admin1"].totp_secret
    assert secret and " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in page
    assert users["admin1"].totp_confirmed_at is None
    # Until confirmed, nothing else opens.
    assert client.get("/admin/outbox").status_code == 302
    code = pyotp.TOTP(secret).at(clock.wall_now())
    assert client.post("/login/second-factor/enrol", {"code": code}).status_code == 302
    assert client.get("/admin/outbox").status_code == 200
    db.session.expire_all()
    assert users["admin1"].totp_confirmed_at is not None
    assert _audit("auth.second_factor_enrol") == 1


def test_the_pending_mark_expires(app, staff):
    client = WebClient(app)
    _password_only(client, "approver1")
    clock.set_frozen(clock.now() + timedelta(minutes=6))
    response = client.get("/login/second-factor")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_api_token_needs_the_code_for_an_approver(app, staff):
    client = app.test_client()
    body = {"username": "approver1", "password": PASSWORD}
    fresh_g()
    refused = client.post("/api/v1/auth/token", json=body)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "second_factor_required"
    fresh_g()
    assert client.post("/api/v1/auth/token", json={**body, "totp": next_totp_code("approver1")}).status_code == 200


def test_non_privileged_roles_sign_in_with_a_password(app, staff):
    client = WebClient(app, "intake1")
    assert client.get("/tasks/inbox").status_code == 200


def test_an_expired_password_must_be_changed_first(app, staff, users):
    user = users["intake1"]
    elsewhere = WebClient(app, "intake1")  # signed in before the password ran out
    user.password_changed_at = clock.now() - timedelta(days=91)
    db.session.commit()
    client = WebClient(app)
    response = _password_only(client, "intake1")
    assert response.status_code == 302 and response.headers["Location"].endswith("/password")
    assert client.get("/tasks/inbox").status_code == 302  # nothing else until changed
    fresh_g()
    api = app.test_client().post("/api/v1/auth/token", json={"username": "intake1", "password": PASSWORD})
    assert api.get_json()["error"]["code"] == "password_expired"
    weak = client.post("/password", {"current": PASSWORD, "new": "short", "repeat": "short"})
    assert weak.status_code == 200 and "至少 12 位" in weak.get_data(as_text=True)
    same = client.post("/password", {"current": PASSWORD, "new": PASSWORD, "repeat": PASSWORD})
    assert "不能与当前密码相同" in same.get_data(as_text=True)
    done = client.post("/password", {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert done.status_code == 302
    assert client.get("/tasks/inbox").status_code == 200
    assert elsewhere.get("/tasks/inbox").status_code == 302  # every other session ended
    db.session.expire_all()
    assert users["intake1"].password_changed_at == clock.now()
    assert _audit("auth.password_change") == 1


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(seeded):
    here, there = WebClient(seeded, "applicant1"), WebClient(seeded, "applicant1")
    wrong = here.post("/password", {"current": "nope", "new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert "当前密码不正确" in wrong.get_data(as_text=True)
    assert _audit("auth.password_change", "failure") == 1
    mismatch = here.post("/password", {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD + "x"})
    assert "不一致" in mismatch.get_data(as_text=True)
    assert here.post("/password", {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD}).status_code == 302
    assert here.get("/portal/cases").status_code == 200
    assert there.get("/portal/cases").status_code == 302
    assert _password_only(WebClient(seeded), "applicant1").status_code == 200  # the old password is gone
    fresh = WebClient(seeded)
    fresh.login("applicant1", NEW_PASSWORD)
    assert fresh.get("/portal/cases").status_code == 200


def test_resetting_the_second_factor_forces_enrolment_again(app, staff, users):
    from app.services import auth

    auth.reset_second_factor(users["approver1"])
    db.session.commit()
    response = _password_only(WebClient(app), "approver1")
    assert response.headers["Location"].endswith("/login/second-factor/enrol")
    db.session.expire_all()
    assert db.session.scalar(select(User.totp_secret).where(User.username == "approver1")) is None
    assert _audit("auth.second_factor_reset") == 1


def _api_token(client, username: str, password: str = PASSWORD, totp: str | None = None):
    fresh_g()
    body = {"username": username, "password": password}
    if totp is not None:
        body["totp"] = totp
    return client.post("/api/v1/auth/token", json=body)


def _failures(username: str) -> tuple[int, object]:
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == username))
    return user.failed_logins, user.locked_until


# Each row: the attempts in order, over the web (w) and the API (a); "P" a wrong password, "C" the right password
# followed by a wrong code. Five wrong things in any mix lock; four do not (the fifth row is the boundary).
LOCK_TABLE = [
    (["wC", "wC", "wC", "wC", "wC"], True),   # wrong codes alone, each after a right password (the hole that was)
    (["aC", "aC", "aC", "aC", "aC"], True),   # the same through the API
    (["wC", "aC", "wC", "aC", "wC"], True),   # web and API count together
    (["wP", "aP", "wC", "aC", "wC"], True),   # passwords and codes count together
    (["wP", "wC", "aC", "aP"], False),        # four are not yet a lockout
]


@pytest.mark.parametrize("attempts,locked", LOCK_TABLE)
def test_wrong_passwords_and_codes_lock_together(seeded, attempts, locked):
    web_client, api_client = WebClient(seeded), seeded.test_client()
    for attempt in attempts:
        channel, what = attempt
        password = PASSWORD if what == "C" else "Wrong#Password1"
        if channel == "w":
            _password_only(web_client, "approver1") if what == "C" else \
                web_client.client.post("/login", data={"csrf_token": web_client.csrf("/login"),
                                                       "username": "approver1", "password": password})
            if what == "C":
                web_client.post("/login/second-factor", {"code": "000000"})
        else:
            refused = _api_token(api_client, "approver1", password, totp="000000" if what == "C" else None)
            assert refused.status_code == 401
    failures, locked_until = _failures("approver1")
    assert (locked_until is not None) is locked
    assert _audit("auth.lockout", "denied") == (1 if locked else 0)
    if not locked:
        assert failures == len(attempts)
        return
    assert locked_until == clock.now() + timedelta(minutes=30)
    # Locked: the right password and a right code sign in neither on the web nor through the API.
    assert _api_token(api_client, "approver1", totp=next_totp_code("approver1")).status_code == 401
    assert "账户已被临时锁定" in _password_only(WebClient(seeded), "approver1").get_data(as_text=True)
    # A minute before the 30 minutes are up it is still locked; after them the right code signs in.
    clock.set_frozen(clock.now() + timedelta(minutes=29))
    assert _api_token(api_client, "approver1", totp=next_totp_code("approver1")).status_code == 401
    clock.set_frozen(clock.now() + timedelta(minutes=1, seconds=1))
    assert _api_token(api_client, "approver1", totp=next_totp_code("approver1")).status_code == 200
    assert _failures("approver1")[0] == 0


def test_right_password_does_not_clear_wrong_codes(app, staff):
    client = WebClient(app)
    _password_only(client, "approver1")
    client.post("/login/second-factor", {"code": "000000"})
    client.post("/login/second-factor", {"code": "000000"})
    _password_only(client, "approver1")
    assert _failures("approver1")[0] == 2  # the right password alone leaves the count standing
    assert client.post("/login/second-factor", {"code": next_totp_code("approver1")}).status_code == 302
    assert _failures("approver1")[0] == 0  # only the completed sign-in clears it
