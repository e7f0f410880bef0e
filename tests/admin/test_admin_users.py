"""Accounts in the browser: create with roles and a one-time password shown once, edit, deactivate, unlock, resets."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core import clock
from app.extensions import db
from app.models import AuditEvent, User
from app.services import auth, user_admin
from tests.support.clients import WebClient
from tests.support.constants import PASSWORD
from tests.support.snapshots import fingerprint, office_state

ISSUED = re.compile(r'<code id="issued-password">([^<]+)</code>')
LOGIN_FAILED = "用户名或密码错误，或账户已被临时锁定。"


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _new(staff, **over) -> dict:
    return {"username": "zhangsan", "display_name": "张三", "unit_id": str(staff["intake1"].unit_id),
            "roles": ["intake"], "email": "", **over}


def _user(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def test_a_new_account_gets_a_password_shown_once_that_signs_in_and_must_be_changed(admin, app, staff):
    response = admin.post("/admin/users/new", _new(staff, roles=["intake", "approver"]))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "账户 zhangsan 已创建" in page
    assert response.headers["Cache-Control"] == "no-store"
    password = ISSUED.search(page).group(1)
    assert auth.password_problem(password) is None
    user = _user("zhangsan")
    assert user.roles == {"intake", "approver"} and user.must_change_password
    [event] = [e for e in _audit("user.create") if e.object_id == str(user.id)]
    assert event.details == {"username": "zhangsan", "roles": ["approver", "intake"]} and event.username == "admin1"
    # Shown once: no other page and no audit row holds it.
    for path in ("/admin/users", f"/admin/users/{user.id}"):
        assert password not in admin.get(path).get_data(as_text=True)
    assert all(password not in str(e.details) for e in db.session.scalars(select(AuditEvent)))
    # It signs in, but only as far as changing it.
    holder = WebClient(app)
    answer = holder.login("zhangsan", password)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/password")
    assert "管理员签发" in holder.get("/password").get_data(as_text=True)
    assert holder.get("/tasks/inbox").status_code == 302  # not signed in yet
    changed = holder.post("/password", {"current": password, "new": "Zhang-San-2026!", "repeat": "Zhang-San-2026!"})
    assert changed.status_code == 302
    assert not _user("zhangsan").must_change_password
    # approver needs a second factor: the next step is enrolment, not a session.
    assert changed.headers["Location"].endswith("/login/second-factor/enrol")


def test_a_changed_issued_password_signs_in_straight_away(admin, app, staff):
    page = admin.post("/admin/users/new", _new(staff, roles=["applicant"],
                                                unit_id=str(staff["applicant1"].unit_id))).get_data(as_text=True)
    password = ISSUED.search(page).group(1)
    holder = WebClient(app)
    holder.login("zhangsan", password)
    holder.post("/password", {"current": password, "new": "Zhang-San-2026!", "repeat": "Zhang-San-2026!"})
    assert holder.get("/portal/records").status_code == 200
    fresh = WebClient(app)
    assert fresh.login("zhangsan", "Zhang-San-2026!").headers["Location"].endswith("/")


@pytest.mark.parametrize("over,says", [
    ({"roles": []}, "请至少选择一个角色"),
    ({"roles": ["superuser"]}, "未知角色：superuser"),
    ({"roles": ["admin", "auditor"]}, "不能兼任其他角色"),
    ({"roles": ["admin", "intake"]}, "不能兼任其他角色"),
    ({"roles": ["auditor", "approver"]}, "不能兼任其他角色"),
    ({"unit_id": "999999"}, "所属单位不存在"),
    ({"unit_id": ""}, "所属单位不存在"),
    ({"unit_id": "x1"}, "所属单位不存在"),
    ({"username": "intake1"}, "用户名已存在"),
    ({"username": "a b"}, "用户名为 2–64 位"),
    ({"username": "x"}, "用户名为 2–64 位"),
    ({"display_name": ""}, "请填写姓名"),
    ({"email": "not-an-address"}, "电子邮箱格式不正确"),
])
def test_bad_input_creates_nothing_keeps_what_was_typed_and_says_why(admin, app, staff, over, says):
    before = fingerprint(app), office_state()
    response = admin.post("/admin/users/new", _new(staff, **over))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and says in page and 'class="field-error"' in page
    assert "张三" in page or over.get("display_name") == ""
    assert not ISSUED.search(page)
    assert (fingerprint(app), office_state()) == before


@pytest.mark.parametrize("roles", [["admin"], ["auditor"], ["intake", "approver"], ["applicant", "verifier"]])
def test_allowed_role_sets(roles):
    assert user_admin.role_problem(roles) is None


def test_generated_passwords_meet_the_policy_and_differ():
    seen = {user_admin.generate_password() for _ in range(200)}
    assert len(seen) == 200
    for password in seen:
        assert len(password) == user_admin.ISSUED_LENGTH and auth.password_problem(password) is None
        assert all(any(c in alphabet for c in password) for alphabet in user_admin._ALPHABETS)


def test_edit_roles_and_unit_ends_the_sessions_and_is_audited(admin, browser, staff):
    intake = browser("intake1")
    assert intake.get("/tasks/inbox").status_code == 200
    user = staff["intake1"]
    response = admin.post(f"/admin/users/{user.id}", {"display_name": "改名", "unit_id": str(user.unit_id),
                                                      "roles": ["intake", "approver"], "email": "i@example.com"})
    assert response.status_code == 302
    user = _user("intake1")
    assert user.roles == {"intake", "approver"} and user.display_name == "改名"
    [event] = _audit("user.edit")
    assert event.details["changes"]["roles"] == [["intake"], ["approver", "intake"]]
    assert intake.get("/tasks/inbox").status_code == 302  # signed out: its roles changed


def test_a_name_only_edit_keeps_the_sessions(admin, browser, staff):
    intake = browser("intake1")
    user = staff["intake1"]
    admin.post(f"/admin/users/{user.id}", {"display_name": "改名", "unit_id": str(user.unit_id), "roles": ["intake"],
                                           "email": user.email})
    assert intake.get("/tasks/inbox").status_code == 200 and len(_audit("user.edit")) == 1


def test_the_administrator_cannot_remove_their_own_admin_role_or_deactivate_themselves(admin, app, staff):
    me = staff["admin1"]
    before = fingerprint(app), office_state()
    response = admin.post(f"/admin/users/{me.id}",
                          {"display_name": "x", "unit_id": str(me.unit_id), "roles": ["intake"]})
    assert response.status_code == 200 and "不能取消自己的系统管理员角色" in response.get_data(as_text=True)
    response = admin.post(f"/admin/users/{me.id}/active", {"reason": "离职"}, form_page=f"/admin/users/{me.id}")
    assert response.status_code == 200 and "不能停用自己的账户" in response.get_data(as_text=True)
    assert (fingerprint(app), office_state()) == before


def test_a_deactivated_account_cannot_sign_in_and_its_sessions_end(admin, app, browser, staff):
    holder = browser("applicant1")
    assert holder.get("/portal/records").status_code == 200
    user = staff["applicant1"]
    page = f"/admin/users/{user.id}"
    refused = admin.post(f"{page}/active", {"reason": ""}, form_page=page)
    assert refused.status_code == 200 and "请填写原因" in refused.get_data(as_text=True) and _user("applicant1").active
    assert admin.post(f"{page}/active", {"reason": "调离"}, form_page=page).status_code == 302
    assert _user("applicant1").active is False
    assert user_admin.live_sessions(_user("applicant1")) == 0  # revoked, not merely refused while inactive
    assert holder.get("/portal/records").status_code == 302
    assert LOGIN_FAILED in WebClient(app).login("applicant1").get_data(as_text=True)
    [event] = _audit("user.deactivate")
    assert event.details == {"reason": "调离"} and event.object_id == str(user.id)
    assert admin.post(f"{page}/active", {"reason": "返岗"}, form_page=page).status_code == 302
    assert WebClient(app).login("applicant1").status_code == 302 and len(_audit("user.reactivate")) == 1


def test_unlock_clears_the_lockout(admin, app, staff):
    client = WebClient(app)
    for _ in range(5):
        client.login("applicant1", "wrong-password")
    assert LOGIN_FAILED in client.login("applicant1").get_data(as_text=True)  # right password, locked
    user = _user("applicant1")
    assert user.locked_until is not None
    page = f"/admin/users/{user.id}"
    assert "已锁定" in admin.get(page).get_data(as_text=True)
    assert admin.post(f"{page}/unlock", form_page=page).status_code == 302
    user = _user("applicant1")
    assert user.locked_until is None and user.failed_logins == 0
    assert client.login("applicant1").status_code == 302
    [event] = _audit("user.unlock")
    assert event.object_id == str(user.id) and event.details["locked_until"]


def test_unlock_clears_failures_short_of_a_lockout_and_is_refused_when_there_is_nothing(admin, app, staff):
    client = WebClient(app)
    client.login("applicant1", "wrong-password")
    page = f"/admin/users/{staff['applicant1'].id}"
    assert admin.post(f"{page}/unlock", form_page=page).status_code == 302
    assert _user("applicant1").failed_logins == 0
    before = fingerprint(app), office_state()
    answer = admin.post(f"{page}/unlock", form_page=page)
    assert answer.status_code == 302 and "该账户未被锁定" in admin.get(page).get_data(as_text=True)
    assert (fingerprint(app), office_state()) == before


def test_an_expired_lockout_is_not_a_lockout(admin, app, staff):
    user = staff["applicant1"]
    user.locked_until = clock.now() - timedelta(seconds=1)
    db.session.commit()
    assert not user_admin.locked(user)
    user.locked_until = clock.now()  # the lock ends at that instant, as auth's own check says
    assert not user_admin.locked(user)
    user.locked_until = clock.now() + timedelta(seconds=1)
    assert user_admin.locked(user)


def test_reset_password_replaces_it_ends_the_sessions_and_must_be_changed(admin, app, browser, staff):
    holder = browser("applicant1")
    user = staff["applicant1"]
    page = f"/admin/users/{user.id}"
    response = admin.post(f"{page}/password", form_page=page)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "密码已重置" in body
    password = ISSUED.search(body).group(1)
    assert holder.get("/portal/records").status_code == 302  # its session ended
    assert LOGIN_FAILED in WebClient(app).login("applicant1", PASSWORD).get_data(as_text=True)
    assert WebClient(app).login("applicant1", password).headers["Location"].endswith("/password")
    assert _user("applicant1").must_change_password and len(_audit("user.password_reset")) == 1
    assert password not in admin.get(page).get_data(as_text=True)


def test_reset_second_factor_forgets_the_authenticator(admin, app, staff):
    user = staff["approver1"]
    page = f"/admin/users/{user.id}"
    assert admin.post(f"{page}/second-factor", form_page=page).status_code == 302
    user = _user("approver1")
    assert user.totp_secret is None and user.totp_confirmed_at is None
    assert len(_audit("auth.second_factor_reset")) == 1
    assert WebClient(app).login("approver1").headers["Location"].endswith("/login/second-factor/enrol")


def test_reset_second_factor_of_an_account_without_one_is_refused(admin, app, staff):
    page = f"/admin/users/{staff['applicant1'].id}"
    before = fingerprint(app), office_state()
    admin.post(f"{page}/second-factor", form_page=page)
    assert "没有绑定动态口令" in admin.get(page).get_data(as_text=True)
    assert (fingerprint(app), office_state()) == before


def test_actions_without_a_csrf_token_change_nothing(admin, app, staff):
    user = staff["applicant1"]
    admin.get(f"/admin/users/{user.id}")
    before = fingerprint(app), office_state()
    for action in ("password", "unlock", "second-factor", "active"):
        response = admin.client.post(f"/admin/users/{user.id}/{action}", data={"reason": "x"})
        assert response.status_code == 400, action
    assert (fingerprint(app), office_state()) == before
