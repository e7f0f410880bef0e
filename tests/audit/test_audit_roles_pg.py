"""PostgreSQL: the application's login cannot change audit_event, whatever it sets (docs/deployment.md §4).

The tests connect as the superuser `postgres`, who owns the tables (as the owner role would in production). A
second app logs in as `<database>_app`, granted by `flask grant-app` exactly as the deployment guide says.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError

from app import create_app
from app.extensions import db
from app.models import AuditEvent
from app.services import audit
from app.services.audit import chain
from app.services.ops import checks
from app.core import clock
from config import TestConfig
from tests.support.constants import T0
from tests.support.pg import admin_execute, assert_refused, create_login_role
from tests.support import factories

pytestmark = pytest.mark.postgres

TODAY = T0.date()
PURGE_ON = "SET LOCAL xinyong.audit_purge = 'on'"  # the archival purge's switch, which the app login may set


def role_name() -> str:
    return f"{make_url(os.environ['TEST_DATABASE_URL']).database}_app"[:63]


@pytest.fixture()
def app_login(app):
    """(app logged in as the application's role, role name); the role is created idempotently and dropped after."""
    role = role_name()
    create_login_role(role)
    granted = app.test_cli_runner().invoke(args=["grant-app", role])
    assert granted.exit_code == 0, granted.output
    assert "REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON audit_event" in granted.output
    assert db.session.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "db.grant")).all() == [role]
    # Each test starts from an empty chain, as the suite's reset leaves it (superuser, triggers skipped).
    db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(text("TRUNCATE audit_event RESTART IDENTITY"))
    db.session.commit()
    db.session.expunge_all()

    class AsApp(TestConfig):
        SQLALCHEMY_DATABASE_URI = make_url(os.environ["TEST_DATABASE_URL"]).set(username=role).render_as_string(
            hide_password=False)
        FILE_STORE = app.config["FILE_STORE"]

    login_app = create_app(AsApp)
    login_app.config["AUDIT_CHECKPOINT_DIR"] = app.config["AUDIT_CHECKPOINT_DIR"]
    try:
        yield login_app, role
    finally:
        with login_app.app_context():
            db.session.remove()
            db.engine.dispose()
        db.session.rollback()
        admin_execute(f'DROP OWNED BY "{role}"')  # in the test database: its privileges and default privileges
        admin_execute(f'DROP ROLE IF EXISTS "{role}"')


def history(*batches: tuple[int, int]) -> list[list[int]]:
    ids = []
    for days_ago, how_many in batches:
        with clock.frozen_at(T0 - timedelta(days=days_ago)):
            ids.append([factories.audit_event("auth.login", details={"n": n}).id for n in range(how_many)])
    db.session.commit()
    return ids


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_the_app_login_cannot_update_delete_or_truncate_even_with_the_purge_setting(app, app_login):
    login_app, role = app_login
    history((500, 3))
    with login_app.app_context():
        assert db.session.scalar(text("SELECT current_user")) == role
        audit.record("auth.login")  # appending works
        db.session.commit()
        assert_refused(("UPDATE audit_event SET outcome = 'failure'", "DELETE FROM audit_event WHERE id = 1",
                        "TRUNCATE audit_event"), "permission denied for table audit_event", error=ProgrammingError,
                       first=PURGE_ON)
        # Nor may it disable the trigger or take the table over.
        assert_refused(("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
                        f'ALTER TABLE audit_event OWNER TO "{role}"', "DROP TABLE audit_event"), "must be owner",
                       error=ProgrammingError)
        assert [f.level for f in checks.check_database_roles(production=True)] == [checks.OK]
    assert count() == 4 and audit.verify_chain()[1] == []


def test_a_wrongly_granted_app_login_is_still_refused_by_the_triggers_and_reported(app, app_login):
    login_app, role = app_login
    history((500, 2))
    admin_execute(f'GRANT ALL ON audit_event TO "{role}"')  # a mistake: the trigger is the second line
    with login_app.app_context():
        assert_refused(("UPDATE audit_event SET outcome = 'failure'", "DELETE FROM audit_event",
                        "TRUNCATE audit_event"), "audit_event is append-only", first=PURGE_ON)
        findings = checks.check_database_roles(production=True)
        assert [(f.level, f.topic) for f in findings] == [(checks.ERROR, "数据库账号")]
        assert f"应用的数据库账号 {role} 对 audit_event 有 UPDATE/DELETE/TRUNCATE 权限" in findings[0].message
    assert app.test_cli_runner().invoke(args=["grant-app", role]).exit_code == 0  # takes it back
    with login_app.app_context():
        assert [f.level for f in checks.check_database_roles(production=True)] == [checks.OK]
    assert count() == 2 + 1  # and the second grant, audited


def test_truncate_is_refused_for_the_owner_too(app):
    history((0, 2))
    assert_refused(("TRUNCATE audit_event", "TRUNCATE audit_event CASCADE"),
                   "audit_event is append-only: TRUNCATE refused")
    # The purge setting opens DELETE only inside the owner's own archive function, never TRUNCATE or UPDATE.
    assert_refused(("TRUNCATE audit_event",), "append-only", first=PURGE_ON)
    assert count() == 2


def test_the_app_login_archives_through_the_owners_function(app, app_login, tmp_path):
    login_app, _role = app_login
    old, _kept = history((500, 3), (0, 2))
    with login_app.app_context():
        out = tmp_path / "a.jsonl"
        result = login_app.test_cli_runner().invoke(args=["audit", "archive", "--before",
                                                          str(TODAY - timedelta(days=400)), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert audit.verify_chain()[1] == []
        owner = db.session.scalar(text("SELECT pg_get_userbyid(proowner) FROM pg_proc "
                                       "WHERE proname = 'audit_event_archive'"))
        assert owner == "postgres"
    assert count() == 3 and db.session.get(AuditEvent, old[-1]) is None


def test_the_archive_function_checks_the_anchor_and_keeps_six_months(app, app_login):
    login_app, _role = app_login
    old, young = history((500, 3), (30, 2))

    def forge(through_id: int, **overrides) -> int:
        """Append an anchor (a writer without the key: plain SHA-256) and call the function with it."""
        rows = db.session.execute(select(*chain._columns()).where(AuditEvent.id <= through_id)
                                  .order_by(AuditEvent.id)).all()
        details = {"first_id": rows[0].id, "through_id": through_id, "count": len(rows),
                   "first_prev_hash": rows[0].prev_hash, "last_hash": rows[-1].hash, **overrides}
        head = db.session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
        fields = {"at": T0.isoformat(), "user_id": None, "username": "x", "unit_id": None, "ip": "",
                  "action": chain.ARCHIVED, "object_type": "", "object_id": "", "outcome": "success",
                  "details": details}
        anchor_id = db.session.execute(AuditEvent.__table__.insert().values(
            **{**fields, "at": T0}, prev_hash=head, hash=chain._digest(head, fields), key_id="test")
            .returning(AuditEvent.id)).scalar()
        return db.session.scalar(text("SELECT audit_event_archive(:t, :a)"), {"t": through_id, "a": anchor_id})

    with login_app.app_context():
        for through, overrides, message in [
            (young[-1], {}, "younger than six months"),
            (old[-1], {"count": 2}, "does not describe"),
            (old[-1], {"last_hash": "0" * 64}, "does not describe"),
        ]:
            with pytest.raises(DBAPIError, match=message):
                forge(through, **overrides)
            db.session.rollback()
        with pytest.raises(DBAPIError, match="not an audit.archived anchor"):
            db.session.scalar(text("SELECT audit_event_archive(:t, :a)"), {"t": old[-1], "a": young[-1]})
        db.session.rollback()
        # A correct-looking forged anchor for old rows passes the database's checks, but not verify.
        assert forge(old[-1]) == 3
        db.session.commit()
        problems = audit.verify_chain()[1]
        assert any("归档锚点（audit.archived）校验不通过" in p for p in problems), problems
    assert count() == 3


def test_check_reports_an_app_login_that_owns_the_table(app, app_login, monkeypatch):
    login_app, role = app_login
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    result = app.test_cli_runner().invoke(args=["check", "--skip-passwords"])
    assert result.exit_code == 1
    assert "[error] 数据库账号：应用以超级用户 postgres 连接数据库" in result.output
    assert "[error] 数据库账号：应用的数据库账号 postgres 是 audit_event 表的所有者" in result.output

    admin_execute(f'ALTER TABLE audit_event OWNER TO "{role}"')  # an app login that owns the table, not a superuser
    try:
        with login_app.app_context():
            login_app.config["APP_ENV"] = "production"
            findings = checks.check_database_roles(production=True)
            assert [(f.level, f.message.split("：")[0]) for f in findings] == [
                (checks.ERROR, f"应用的数据库账号 {role} 是 audit_event 表的所有者")]
            db.session.rollback()
    finally:
        admin_execute('ALTER TABLE audit_event OWNER TO "postgres"')


def test_grant_app_refuses_the_owner_a_superuser_and_an_unknown_role(app):
    runner = app.test_cli_runner()
    for role, message in [("postgres", "所有者或当前账号"), ("no_such_role_xyz", "不存在")]:
        result = runner.invoke(args=["grant-app", role])
        assert result.exit_code == 1 and message in result.output
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "db.grant")).all()


def test_the_deploy_roles_reach_the_archive_via_the_checkpointed_chain(app, app_login):
    """The app login writes checkpoints and verifies like any other: nothing there needs the owner."""
    login_app, _role = app_login
    history((0, 3))
    with login_app.app_context():
        runner = login_app.test_cli_runner()
        assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
        verified = runner.invoke(args=["audit", "verify"])
        assert verified.exit_code == 0 and "对照检查点" in verified.output
    lines = [json.loads(line) for path in sorted(app.config["AUDIT_CHECKPOINT_DIR"].iterdir())
             for line in path.read_text().splitlines()]
    assert lines[-1]["count"] == 3
