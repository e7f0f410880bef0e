"""Shared fixtures: an app on a fresh migrated database (SQLite by default, PostgreSQL via TEST_DATABASE_URL)."""
from __future__ import annotations

import io
import os
import re
from datetime import datetime, timezone

import pytest
from flask import g
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.core import clock
from config import TestConfig

# 2026-11-27 10:00 in Asia/Shanghai, a Friday: every test starts from the same instant.
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
PASSWORD = "Xinyong@2026"


def pytest_collection_modifyitems(config, items):
    """Deselect PostgreSQL-only tests on SQLite, and database-free ones on PostgreSQL (they ran in the first pass).

    scripts/run_tests.sh runs both passes, so every test runs in one of them.
    """
    on_postgres = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
    marker = "database_free" if on_postgres else "postgres"
    deselected = [item for item in items if marker in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if marker not in item.keywords]


@pytest.fixture(scope="session")
def _app(tmp_path_factory):
    class Cfg(TestConfig):
        FILE_STORE = tmp_path_factory.mktemp("files")

    app = create_app(Cfg)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # close pooled connections before the interpreter does


def _empty_tables():
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        # audit_event refuses TRUNCATE for everyone (migration 0010's BEFORE TRUNCATE trigger). Only the test
        # suite resets it, as the superuser it connects as: replica mode skips ordinary triggers for this
        # transaction. The application's login can do neither (tests/test_audit_roles_pg.py).
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
        db.session.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(text(f'DELETE FROM "{table}"'))
    db.session.commit()


@pytest.fixture()
def app(_app, tmp_path_factory):
    # Every test starts with an empty chain and so with no checkpoint of an earlier test's chain.
    _app.config["AUDIT_CHECKPOINT_DIR"] = tmp_path_factory.mktemp("checkpoints")
    with _app.app_context():
        _empty_tables()
        clock.set_frozen(T0)
        try:
            yield _app
        finally:
            clock.set_frozen(None)
            db.session.rollback()
            db.session.remove()


@pytest.fixture()
def seeded(app):
    """Demo units, users and records, plus the deployed processes."""
    from app.engine.definitions import deploy_directory
    from app.demo.seed import seed_demo
    from pathlib import Path

    deploy_directory(Path(app.root_path).parent / "processes")
    seed_demo(T0.date())
    enrol_second_factor_for_tests()
    db.session.commit()
    return app


# Test accounts that need a second factor are enrolled with this secret, so tests can compute codes
# (tests/test_auth_second_factor.py covers enrolment itself).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol_second_factor_for_tests() -> None:
    from app.models import User
    from app.services import auth

    db.session.flush()
    db.session.expire_all()  # roles added in the test must be seen
    for user in db.session.scalars(db.select(User)):
        if auth.needs_second_factor(user):
            user.totp_secret = TOTP_SECRET
            user.totp_confirmed_at = clock.now()
    db.session.flush()


def _has_second_factor(username: str) -> bool:
    from app.models import User

    return bool(db.session.scalar(db.select(User.totp_secret).where(User.username == username)))


def next_totp_code(username: str) -> str:
    """A code the server will accept now: the next unused 30-second step (the frozen clock moves on if needed)."""
    import pyotp
    from datetime import timedelta

    from app.models import User

    db.session.expire_all()
    user = db.session.scalar(db.select(User).where(User.username == username))
    totp = pyotp.TOTP(user.totp_secret)
    current = int(clock.wall_now().timestamp()) // totp.interval
    step = current - 1 if user.totp_last_step is None else max(current - 1, user.totp_last_step + 1)
    if step > current + 1:  # three logins already used the window around this frozen instant
        clock.set_frozen(clock.now() + timedelta(seconds=totp.interval * (step - current)))
    return totp.generate_otp(step)


@pytest.fixture()
def users(seeded):
    from app.models import User

    return {u.username: u for u in db.session.scalars(db.select(User))}


PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def pdf_file(name: str = "证据材料.pdf"):
    return (io.BytesIO(PDF_BYTES), name)


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
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path, **kw):
        fresh_g()
        return self.client.post(path, headers=self.headers, **kw)


@pytest.fixture()
def web(seeded):
    return lambda username=None: WebClient(seeded, username)


@pytest.fixture()
def api(seeded):
    return lambda username: ApiClient(seeded, username)


def run_in_child(barrier, work):
    """Run work() in a forked child with its own app and connection, all children starting at the barrier.

    Returns work()'s result after a commit, or "status:code" of the ServiceError that refused it.
    """
    from app import create_app
    from app.core import clock
    from app.core.errors import ServiceError
    from config import TestConfig

    app = create_app(TestConfig)
    with app.app_context():
        clock.set_frozen(T0)
        barrier.wait(timeout=60)
        try:
            result = work()
            db.session.commit()
            return result
        except ServiceError as exc:
            db.session.rollback()
            return f"{exc.status}:{exc.code}"
        finally:
            db.session.remove()
            db.engine.dispose()
