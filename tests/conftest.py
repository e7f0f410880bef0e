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
from app.services import clock
from config import TestConfig

# 2026-11-27 10:00 in Asia/Shanghai, a Friday: every test starts from the same instant.
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
PASSWORD = "Xinyong@2026"


def pytest_collection_modifyitems(config, items):
    """Deselect PostgreSQL-only tests on SQLite; scripts/run_tests.sh runs them on PostgreSQL."""
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        return
    deselected = [item for item in items if "postgres" in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if "postgres" not in item.keywords]


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
        db.session.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(text(f'DELETE FROM "{table}"'))
    db.session.commit()


@pytest.fixture()
def app(_app):
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
    from app.services.demo import seed_demo
    from pathlib import Path

    deploy_directory(Path(app.root_path).parent / "processes")
    seed_demo(T0.date())
    db.session.commit()
    return app


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
        return self.client.post("/login", data={"csrf_token": token, "username": username, "password": password})

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
        response = self.client.post("/api/v1/auth/token", json={"username": username, "password": password})
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
