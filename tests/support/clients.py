"""Signed-in callers: a browser that fetches CSRF tokens like a person, an API caller with a bearer token."""
from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from flask import g

from app.core import clock
from app.extensions import db
from app.models import User
from app.services import auth
from tests.support.constants import PASSWORD, TOTP_SECRET


def enrol_second_factor_for_tests() -> None:
    """Enrol every account that needs a second factor with the shared test secret."""
    db.session.flush()
    db.session.expire_all()  # roles added in the test must be seen
    for user in db.session.scalars(db.select(User)):
        if auth.needs_second_factor(user):
            user.totp_secret = TOTP_SECRET
            user.totp_confirmed_at = clock.now()
    db.session.flush()


def _has_second_factor(username: str) -> bool:
    return bool(db.session.scalar(db.select(User.totp_secret).where(User.username == username)))


def next_totp_code(username: str) -> str:
    """A code the server will accept now: the next unused 30-second step (the frozen clock moves on if needed)."""
    db.session.expire_all()
    user = db.session.scalar(db.select(User).where(User.username == username))
    totp = pyotp.TOTP(user.totp_secret)
    current = int(clock.wall_now().timestamp()) // totp.interval
    step = current - 1 if user.totp_last_step is None else max(current - 1, user.totp_last_step + 1)
    if step > current + 1:  # three logins already used the window around this frozen instant
        clock.set_frozen(clock.now() + timedelta(seconds=totp.interval * (step - current)))
    return totp.generate_otp(step)


def fresh_g() -> None:
    """Empty flask.g before a request.

    Tests keep one app context open (for db.session), and Flask reuses it for test requests, so
    g would carry the previous request's user (Flask-Login) and CSRF token (Flask-WTF) into the
    next one. Real requests never share g.
    """
    for name in list(g):
        g.pop(name)


class WebClient:
    """A logged-in browser: keeps cookies and pulls CSRF tokens out of pages like a person would."""

    def __init__(self, app, username: str | None = None):
        self.client = app.test_client()
        if username:
            self.login(username)

    def csrf(self, path: str) -> str:
        page = self.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
        assert match, f"no CSRF token on {path}"
        return match.group(1) or match.group(2)

    def login(self, username: str, password: str = PASSWORD):
        token = self.csrf("/login")
        fresh_g()
        response = self.client.post("/login", data={"csrf_token": token, "username": username, "password": password})
        if response.status_code == 302 and response.headers["Location"].endswith("/login/second-factor"):
            return self.post("/login/second-factor", {"code": next_totp_code(username)})
        return response

    def get(self, path, **kw):
        fresh_g()
        return self.client.get(path, **kw)

    def post(self, path, data=None, *, form_page: str | None = None, **kw):
        data = dict(data or {})
        data["csrf_token"] = self.csrf(form_page or path)
        fresh_g()
        return self.client.post(path, data=data, **kw)


class ApiClient:
    """An API caller with a bearer token."""

    def __init__(self, app, username: str, password: str = PASSWORD):
        self.client = app.test_client()
        fresh_g()
        body = {"username": username, "password": password}
        if _has_second_factor(username):
            body["totp"] = next_totp_code(username)
        response = self.client.post("/api/v1/auth/token", json=body)
        assert response.status_code == 200, response.get_json()
        self.headers = {"Authorization": f"Bearer {response.get_json()['token']}"}

    def get(self, path, **kw):
        fresh_g()
        return self.client.get(path, headers={**self.headers, **kw.pop('headers', {})}, **kw)

    def post(self, path, **kw):
        fresh_g()
        return self.client.post(path, headers={**self.headers, **kw.pop('headers', {})}, **kw)

    def patch(self, path, **kw):
        fresh_g()
        return self.client.patch(path, headers={**self.headers, **kw.pop('headers', {})}, **kw)
