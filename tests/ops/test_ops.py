"""Operations: `flask check` findings, the /healthz endpoint, first set-up of an empty production database."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from app.demo.seed import USERS as DEMO_USERS
from processes import SLICES
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, TimerJob, Unit
from app.core import clock
from app.services import training_clock, uscc
from app.services.ops import checks, health
from tests.support.constants import ROOT
from tests.support.flows import do_task, file_objection

GOOD_PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "3f9a0c6d1e7b42a8b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0",
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://xinyong@db.internal/xinyong",
    "PUBLIC_BASE_URL": "https://xinyong.suizhou.gov.cn",
    "SESSION_COOKIE_SECURE": True,
    "ALLOW_CLOCK_SHIFT": False,
    "DEMO_MODE": False,
    "TESTING": False,
    "MAIL_SERVER": "smtp.suizhou.gov.cn",
    "MAIL_PORT": 25,
    "MAIL_SENDER": "xinyong@suizhou.gov.cn",
    "PUSH_URL": "https://credit.hubei.gov.cn/push",
    "OUTBOX_MAX_ATTEMPTS": 8,
}


def levels(findings, topic=None):
    return [f.level for f in findings if topic is None or f.topic == topic]


def test_a_sound_production_configuration_has_no_warning():
    findings = checks.check_settings(GOOD_PRODUCTION)
    assert set(levels(findings)) == {checks.OK}, [f for f in findings if f.level != checks.OK]


@pytest.mark.parametrize("change, topic", [
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "dev-only-not-secret-" + "x" * 16}, "SECRET_KEY"),  # DevelopmentConfig's value
    ({"SECRET_KEY": "test-secret-key-0123456789"}, "SECRET_KEY"),  # TestConfig's value
    ({"SECRET_KEY": "Kq8#2mZ!"}, "SECRET_KEY"),  # random-looking but short
    ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY"),  # long but two characters
    ({"SQLALCHEMY_DATABASE_URI": "sqlite:////srv/xinyong/x.db"}, "DATABASE_URL"),
    ({"SESSION_COOKIE_SECURE": False}, "SESSION_COOKIE_SECURE"),  # HTTPS site, cookie without Secure
    ({"PUBLIC_BASE_URL": "http://127.0.0.1:5000"}, "PUBLIC_BASE_URL"),  # QR codes would point to localhost
    ({"PUBLIC_BASE_URL": "not a url"}, "PUBLIC_BASE_URL"),
    ({"ALLOW_CLOCK_SHIFT": True}, "ALLOW_CLOCK_SHIFT"),
    ({"DEMO_MODE": True}, "DEMO_MODE"),
    ({"TESTING": True}, "TESTING"),
    ({"FAULT_INJECTION": True}, "FAULT_INJECTION"),
    ({"MAIL_PORT": 0}, "MAIL_PORT"),
    ({"PUSH_URL": "ftp://credit.hubei.gov.cn/"}, "PUSH_URL"),
    ({"OUTBOX_MAX_ATTEMPTS": 0}, "OUTBOX_MAX_ATTEMPTS"),
    ({"AUDIT_RETENTION_DAYS": 90}, "AUDIT_RETENTION_DAYS"),  # audit records are kept ≥ 6 months
])
def test_each_unsafe_production_setting_is_an_error(change, topic):
    findings = checks.check_settings({**GOOD_PRODUCTION, **change})
    assert checks.ERROR in levels(findings, topic), findings
    assert all(f.level == checks.OK for f in findings if f.topic != topic)


@pytest.mark.parametrize("change, topic", [
    ({"PUBLIC_BASE_URL": "http://xinyong.suizhou.gov.cn", "SESSION_COOKIE_SECURE": False}, "PUBLIC_BASE_URL"),
    ({"PUBLIC_BASE_URL": "http://xinyong.suizhou.gov.cn"}, "SESSION_COOKIE_SECURE"),  # Secure cookie never returns
    ({"MAIL_SERVER": ""}, "MAIL_SERVER"),
    ({"MAIL_SENDER": "xinyong@localhost"}, "MAIL_SENDER"),
    ({"PUSH_URL": ""}, "PUSH_URL"),
    ({"PUSH_URL": "http://credit.hubei.gov.cn/push"}, "PUSH_URL"),
])
def test_doubtful_production_settings_are_warnings(change, topic):
    findings = checks.check_settings({**GOOD_PRODUCTION, **change})
    assert levels(findings, topic) == [checks.WARN], findings
    assert checks.ERROR not in levels(findings)


def test_development_settings_warn_instead_of_failing():
    dev = {**GOOD_PRODUCTION, "APP_ENV": "development", "SECRET_KEY": "dev-only-not-secret-" + "x" * 16,
           "SQLALCHEMY_DATABASE_URI": "sqlite:///var/xinyong.db", "DEMO_MODE": True, "ALLOW_CLOCK_SHIFT": True,
           "PUBLIC_BASE_URL": "http://127.0.0.1:5000", "SESSION_COOKIE_SECURE": False}
    findings = checks.check_settings(dev)
    assert checks.ERROR not in levels(findings)
    assert levels(findings, "DEMO_MODE") == [checks.WARN]


def test_file_store_must_exist_be_writable_and_stay_out_of_the_web_root(tmp_path):
    static, code = tmp_path / "app" / "static", tmp_path
    static.mkdir(parents=True)
    assert levels(checks.check_file_store(tmp_path / "missing", static, code, production=True)) == [checks.ERROR]
    (static / "files").mkdir()
    assert checks.ERROR in levels(checks.check_file_store(static / "files", static, code, production=True))
    inside_code = tmp_path / "var" / "files"
    inside_code.mkdir(parents=True)
    assert levels(checks.check_file_store(inside_code, static, code, production=True)) == [checks.WARN]
    assert levels(checks.check_file_store(inside_code, static, code, production=False)) == [checks.OK]
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        if not health.probe_writable(locked):  # root may write anyway
            assert checks.ERROR in levels(checks.check_file_store(locked, static, tmp_path / "elsewhere",
                                                                  production=True))
    finally:
        locked.chmod(0o700)
    assert list(inside_code.iterdir()) == []  # the probe leaves nothing behind


def test_check_command_passes_on_the_test_app_and_names_demo_accounts_in_production(seeded, monkeypatch):
    runner = seeded.test_cli_runner()
    result = runner.invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert "[ok]    数据库：可连接，迁移已到最新" in result.output
    assert "objection_review v1 已部署" in result.output
    assert f"[warn]  口令：{len(DEMO_USERS)} 个启用的账号仍使用公开的演示口令" in result.output

    monkeypatch.setitem(seeded.config, "APP_ENV", "production")
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1
    assert f"[error] 口令：{len(DEMO_USERS)} 个启用的账号仍使用公开的演示口令：admin1、applicant1" in result.output
    assert "[error] DATABASE_URL" in result.output or "postgresql" in seeded.config["SQLALCHEMY_DATABASE_URI"]
    assert result.output.rstrip().splitlines()[-1].startswith("检查完毕：错误 ")
    skipped = runner.invoke(args=["check", "--skip-passwords"])
    assert "口令" not in skipped.output


def test_check_reports_missing_processes_and_pending_migrations(app):
    result = app.test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 1
    assert "[error] 流程：objection_review 尚未部署" in result.output
    _, (head,) = checks.migration_state()
    db.session.commit()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0006'")
    try:
        result = app.test_cli_runner().invoke(args=["check"])
        assert f"[error] 数据库：迁移版本 0006，最新为 {head}" in result.output
        assert "流程" not in result.output  # models do not match an old schema: not queried
    finally:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")


def test_healthz_is_public_json_and_not_audited(seeded):
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = seeded.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["file_store"] == {"ok": True}
    assert body["checks"]["processes"]["deployed"] == sorted(piece.key for piece in SLICES)
    assert "record_registration" in body["checks"]["processes"]["deployed"]
    assert body["checks"]["timers"] == {"ok": True, "due": 0, "oldest_due_seconds": 0, "late": False}
    assert body["checks"]["outbox"]["failed"] == 0
    text = response.get_data(as_text=True)
    assert str(seeded.config["FILE_STORE"]) not in text and "sqlite" not in text and "postgres" not in text
    assert response.headers["Cache-Control"] == "no-store"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_healthz_reports_the_oldest_due_timer(api, seeded):
    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    job = db.session.scalar(select(TimerJob).where(TimerJob.bpmn_id == "verify_overdue"))
    clock.set_frozen(job.fire_at + timedelta(hours=1))
    body = seeded.test_client().get("/healthz").get_json()
    assert body["status"] == "ok"  # a late worker does not take the web server out of rotation
    assert body["checks"]["timers"]["oldest_due_seconds"] == 3600
    assert body["checks"]["timers"]["late"] is True
    assert body["checks"]["timers"]["due"] >= 1


def test_healthz_fails_without_processes_or_a_writable_file_store(app, seeded, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "FILE_STORE", tmp_path / "gone")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.get_data(as_text=True))
    assert body["status"] == "fail" and body["checks"]["file_store"] == {"ok": False}
    assert body["checks"]["database"]["ok"] is True


def test_healthz_fails_on_an_empty_database(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["processes"] == {"ok": False, "deployed": []}


def _code(n: int) -> str:
    return uscc.make_uscc("1", "1", "421300", f"QP{n:06d}")


def test_bootstrap_creates_the_credit_office_once_and_users_can_follow(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["bootstrap", "--office-name", "随州市社会信用体系建设领导小组办公室",
                                 "--office-uscc", _code(1)])
    assert result.exit_code == 0, result.output
    assert "已创建信用办单位" in result.output and "没有默认口令" in result.output
    again = runner.invoke(args=["bootstrap", "--office-name", "x", "--office-uscc", _code(2)])
    assert again.exit_code == 0 and "信用办单位已存在" in again.output
    office = db.session.scalar(select(Unit).where(Unit.is_credit_office.is_(True)))
    assert office.uscc == _code(1)
    created = runner.invoke(args=["users", "create", "admin", "--name", "管理员", "--unit-id", str(office.id),
                                  "--role", "admin", "--password", "Strong-Pass-2026"])
    assert created.exit_code == 0, created.output
    unit = runner.invoke(args=["units", "create", "随州市财政局", "--uscc", _code(3), "--parent-id", str(office.id)])
    assert unit.exit_code == 0, unit.output
    bad = runner.invoke(args=["units", "create", "某局", "--uscc", "11421300QP0000039X"])
    assert bad.exit_code == 1 and "统一社会信用代码无效" in bad.output
    duplicate = runner.invoke(args=["units", "create", "随州市财政局", "--uscc", _code(4)])
    assert duplicate.exit_code == 1 and "已存在" in duplicate.output
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action == "unit.create")).all()
    assert len(actions) == 2


def test_gunicorn_config_reads_the_environment(monkeypatch):
    import runpy

    monkeypatch.setenv("GUNICORN_BIND", "127.0.0.1:9001")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["bind"] == ["127.0.0.1:9001"] and settings["workers"] == 3
    assert settings["preload_app"] is False and settings["graceful_timeout"] > 0
    assert "%(U)s" in settings["access_log_format"] and "%(r)s" not in settings["access_log_format"]


def test_healthz_answers_503_when_the_database_fails(seeded, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(health, "_health_from_database", down)
    response = seeded.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    # Even when the failure comes before the view (the training clock is read in before_request).
    monkeypatch.setattr(training_clock, "load_shared_offset", down)
    response = seeded.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "fail", "checks": {"database": {"ok": False, "error": "OperationalError"}}}
    assert "connection refused" not in response.get_data(as_text=True)


def test_the_app_refuses_to_start_with_a_short_audit_retention():
    from app import create_app
    from config import TestConfig

    class Short(TestConfig):
        AUDIT_RETENTION_DAYS = 90

    with pytest.raises(RuntimeError, match="AUDIT_RETENTION_DAYS"):
        create_app(Short)


GOOD_AUDIT_KEY = {"AUDIT_HMAC_KEYS": "k2026:" + "7c1e9a4b2d" * 4, "AUDIT_HMAC_KEY_ID": "k2026",
                  "SECRET_KEY": GOOD_PRODUCTION["SECRET_KEY"]}


@pytest.mark.parametrize("change, message", [
    ({"AUDIT_HMAC_KEYS": None}, "未配置审计链密钥"),
    ({"AUDIT_HMAC_KEYS": "dev:dev-only-audit-key-not-secret-0000000000", "AUDIT_HMAC_KEY_ID": "dev"}, "公开的开发/测试值"),
    ({"AUDIT_HMAC_KEYS": "test:test-only-audit-key-not-secret-00000000", "AUDIT_HMAC_KEY_ID": "test"}, "公开的开发/测试值"),
    ({"AUDIT_HMAC_KEYS": "k2026:short"}, "过短或不像随机值"),
    ({"AUDIT_HMAC_KEYS": "k2026:" + "ab" * 20}, "过短或不像随机值"),
    ({"AUDIT_HMAC_KEYS": "k2026:" + GOOD_PRODUCTION["SECRET_KEY"]}, "与 SECRET_KEY 相同"),
    ({"AUDIT_HMAC_KEY_ID": "k2099"}, "不在已配置的审计密钥中"),
])
def test_production_needs_a_real_audit_key(change, message):
    findings = checks.check_audit_keys({**GOOD_AUDIT_KEY, **change}, production=True)
    assert [f.level for f in findings] == [checks.ERROR] and message in findings[0].message, findings


def test_a_sound_audit_key_and_a_private_key_file(tmp_path):
    assert [f.level for f in checks.check_audit_keys(GOOD_AUDIT_KEY, production=True)] == [checks.OK]
    key_file = tmp_path / "audit-keys"
    key_file.write_text("k2026:" + "7c1e9a4b2d" * 4 + "\n", encoding="utf-8")
    key_file.chmod(0o644)
    config = {"AUDIT_HMAC_KEY_FILE": str(key_file), "SECRET_KEY": "x"}
    findings = checks.check_audit_keys(config, production=True)
    assert [f.topic for f in findings if f.level == checks.ERROR] == ["AUDIT_HMAC_KEY_FILE"]
    key_file.chmod(0o640)
    assert [f.level for f in checks.check_audit_keys(config, production=True)] == [checks.OK]
    # Outside production the development key is only a warning.
    dev = checks.check_audit_keys({"AUDIT_HMAC_KEYS": "dev:dev-only-audit-key-not-secret-0000000000"}, production=False)
    assert [f.level for f in dev] == [checks.WARN]


def test_check_reports_the_checkpoint_directory_and_a_stale_checkpoint(app, tmp_path):
    from datetime import datetime, timezone

    from app.services import audit
    from app.services.audit import checkpoint, checkpoint_file as audit_checkpoint

    config = dict(app.config)
    assert [f.level for f in checks.check_audit_checkpoints({**config, "AUDIT_CHECKPOINT_DIR": tmp_path / "none"},
                                                            production=True)] == [checks.ERROR]
    assert [f.level for f in checks.check_audit_checkpoints({**config, "AUDIT_CHECKPOINT_DIR": tmp_path / "none"},
                                                            production=False)] == [checks.OK]  # the demo creates it
    assert [f.level for f in checks.check_audit_checkpoints({**config, "AUDIT_CHECKPOINT_DIR": None},
                                                            production=True)] == [checks.ERROR]
    assert [f.level for f in checks.check_audit_checkpoints(config, production=True)] == [checks.OK]  # empty chain
    audit.record("auth.login")
    db.session.commit()
    findings = checks.check_audit_checkpoints(config, production=True)
    assert [f.level for f in findings] == [checks.WARN] and "还没有审计检查点" in findings[0].message
    checkpoint.write_checkpoint(at=datetime(2026, 11, 1, tzinfo=timezone.utc))
    assert [f.level for f in checks.check_audit_checkpoints(config, production=True)] == [checks.OK]  # nothing newer
    audit.record("auth.login")
    db.session.commit()
    findings = checks.check_audit_checkpoints(config, production=True)
    assert [f.level for f in findings] == [checks.WARN] and "worker 可能没在运行" in findings[0].message
    checkpoint.write_checkpoint()
    assert [f.level for f in checks.check_audit_checkpoints(config, production=True)] == [checks.OK]
    path = audit_checkpoint.files(Path(config["AUDIT_CHECKPOINT_DIR"]))[0]  # this month's; November's is older
    path.write_text(path.read_text().replace('"count":2', '"count":9'))
    findings = checks.check_audit_checkpoints(config, production=True)
    assert checks.ERROR in [f.level for f in findings] and "校验码不符" in findings[0].message
