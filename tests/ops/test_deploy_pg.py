"""Production deployment on PostgreSQL as docs/deployment.md describes it.

An empty database is set up with the documented commands and roles (an owner role runs the migrations, the app
logs in as its own role that may only read and append audit events), `flask check` passes, then gunicorn (2
workers, gunicorn.conf.py) and two `flask worker` processes run against it; a user signs in over HTTP, the
workers write keyed audit checkpoints, and everything stops cleanly.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from processes import SLICES
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.services import uscc
from tests.support.constants import ROOT
from tests.support.harness import free_port
from tests.support.pg import admin_execute, create_login_role

pytestmark = pytest.mark.postgres

BIN = Path(sys.executable).parent
PASSWORD = "Deploy-Check-2026"


@pytest.fixture()
def deployment(tmp_path):
    base = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"{base.database}_deploy"
    owner, app_login = f"{name}_owner", f"{name}_app"  # roles are cluster-wide: named after this test's database
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', database="postgres")
    for role in (owner, app_login):  # docs/deployment.md §4
        create_login_role(role)
    admin_execute(f'CREATE DATABASE "{name}" OWNER "{owner}"', database="postgres")
    port = free_port()
    files = tmp_path / "files"
    files.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST"))},
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": base.set(database=name, username=app_login).render_as_string(hide_password=False),
        "FILE_STORE": str(files),
        "AUDIT_HMAC_KEYS": f"k1:{secrets.token_hex(32)}",
        "PERSON_DATA_KEY": secrets.token_hex(32),  # flask check reports a missing one in production
        "AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit-checkpoints"),
        "PUBLIC_BASE_URL": "https://xinyong.example.gov.cn",
        "SESSION_COOKIE_SECURE": "1",  # the test client sends cookies by hand, as the HTTPS proxy would pass them
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "FORWARDED_HOPS": "1",
    }
    (tmp_path / "audit-checkpoints").mkdir()
    owner_env = {**env, "DATABASE_URL": base.set(database=name, username=owner).render_as_string(hide_password=False)}
    yield env, owner_env, port
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', database="postgres")
    for role in (app_login, owner):
        admin_execute(f'DROP ROLE IF EXISTS "{role}"', database="postgres")


def flask(env, *args, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


class Browser:
    """Just enough of a browser: keeps cookies by hand (Secure cookies included, as behind the HTTPS proxy)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        # What nginx adds in front of gunicorn (docs/deployment.md): the client address and the scheme.
        headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"https://127.0.0.1:{self.port}/login"  # CSRF over HTTPS checks the referrer
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read().decode("utf-8", "replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                key, _, val = cookie.partition("=")
                self.cookies[key] = val
                assert "Secure" in value and "HttpOnly" in value, value
        conn.close()
        return response.status, dict(response.getheaders()), data


def _wait_healthy(browser: Browser, processes, deadline: float) -> dict:
    while time.monotonic() < deadline:
        for proc in processes:
            assert proc.poll() is None, f"process exited early with {proc.returncode}"
        try:
            status, _, body = browser.request("GET", "/healthz")
            if status == 200:
                return json.loads(body)
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("gunicorn did not become healthy in time")


def test_gunicorn_and_workers_serve_a_fresh_production_database(deployment, tmp_path):
    env, owner_env, port = deployment
    started = time.monotonic()
    # First set-up, as in docs/deployment.md: the owner role migrates and grants; no demo data, no default password.
    office = uscc.make_uscc("1", "1", "421300", "DP000001")
    out = flask(owner_env, "bootstrap", "--office-name", "随州市社会信用体系建设领导小组办公室", "--office-uscc", office).stdout
    unit_id = re.search(r"单位编号 (\d+)", out).group(1)
    app_login = make_url(env["DATABASE_URL"]).username
    flask(owner_env, "grant-app", app_login)
    as_owner = flask(owner_env, "check", "--skip-passwords", check=False)
    assert as_owner.returncode == 1 and "是 audit_event 表的所有者" in as_owner.stdout
    flask(env, "users", "create", "intake_ops", "--name", "受理员", "--unit-id", unit_id, "--role", "intake",
          "--password", PASSWORD)
    log = tmp_path / "access.log"
    errors = [tmp_path / f"stderr-{n}.log" for n in range(3)]  # files, not pipes: a full pipe would block
    web = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                           env={**env, "GUNICORN_ACCESS_LOG": str(log), "GUNICORN_ERROR_LOG": str(errors[0])},
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    workers = []
    for path in errors[1:]:
        with open(path, "w") as err:
            workers.append(subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "worker", "--interval", "1"],
                                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                            start_new_session=True))
    try:
        check = flask(env, "check", check=False)  # while gunicorn boots: the machine has two cores
        assert check.returncode == 0, check.stdout + check.stderr
        assert "[error]" not in check.stdout
        assert f"[ok]    数据库账号：应用账号 {app_login} 不是 audit_event 的所有者" in check.stdout
        assert "[ok]    AUDIT_HMAC_KEYS：审计链以密钥 k1 签名" in check.stdout
        browser = Browser(port)
        health = _wait_healthy(browser, [web, *workers], time.monotonic() + 30)
        assert health["status"] == "ok"
        assert health["checks"]["processes"]["deployed"] == sorted(piece.key for piece in SLICES)

        status, _, page = browser.request("GET", "/login")
        assert status == 200
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = urlencode({"csrf_token": token, "username": "intake_ops", "password": PASSWORD})
        status, headers, _ = browser.request("POST", "/login", form)
        assert status == 302, headers
        for _ in range(3):  # / redirects by role to the staff's start page
            status, headers, page = browser.request("GET", urlsplit(headers["Location"]).path)
            if status != 302:
                break
        assert status == 200 and "受理员" in page
        assert headers["X-Content-Type-Options"] == "nosniff"
        status, _, body = browser.request("GET", "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"

        # Behind the proxy (FORWARDED_HOPS=1) the audit trail records the client, not the proxy.
        engine = create_engine(make_url(env["DATABASE_URL"]).set(drivername="postgresql+psycopg"))
        try:
            with engine.connect() as conn:
                ip = conn.scalar(text("SELECT ip FROM audit_event WHERE action LIKE 'auth.login%' "
                                      "AND outcome = 'success' ORDER BY id DESC LIMIT 1"))
        finally:
            engine.dispose()
        assert ip == "203.0.113.7"

        # The workers checkpoint the chain outside the database; verify compares with the newest checkpoint.
        checkpoints = Path(env["AUDIT_CHECKPOINT_DIR"])
        deadline = time.monotonic() + 30
        while not any(checkpoints.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert flask(env, "audit", "checkpoint").returncode == 0
        verified = flask(env, "audit", "verify")
        assert "对照检查点" in verified.stdout and "发现问题 0 处" in verified.stdout
    finally:
        for proc in (web, *workers):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in (web, *workers)]
    assert codes[0] == 0, errors[0].read_text()  # gunicorn: graceful stop
    assert "Shutting down: Master" in errors[0].read_text()
    assert "Traceback" not in errors[1].read_text() + errors[2].read_text()
    assert all(code in (0, -signal.SIGTERM) for code in codes[1:])  # workers: SIGTERM between sweeps is safe
    lines = log.read_text().splitlines()
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in lines)
    assert not any("csrf_token" in line for line in lines)
    print(f"deployment test: {time.monotonic() - started:.1f} s")
