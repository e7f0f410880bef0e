"""Grant the app's PostgreSQL login what it needs and no more, the audit log only read and appended (grant-app)."""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db

APP_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_app_privileges(role: str) -> list[str]:
    """PostgreSQL, run as the tables' owner: give the app's login what it needs and no more (idempotent).

    Every table read/write, except audit_event (SELECT and INSERT only) and alembic_version (SELECT); sequences;
    the archive function; the same for tables later migrations create. Returns the statements run.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        raise ValueError("grant-app 只适用于 PostgreSQL。")
    facts = db.session.execute(text(
        "SELECT current_user, pg_get_userbyid(c.relowner), (SELECT rolsuper FROM pg_roles WHERE rolname = :role), "
        "current_database(), to_regprocedure('audit_event_archive(bigint,bigint)') IS NOT NULL "
        "FROM pg_class c WHERE c.oid = to_regclass('audit_event')"), {"role": role}).first()
    if facts is None or not facts[4]:
        raise ValueError("数据库不是最新迁移（缺少 audit_event 或归档函数）：请先以所有者账号运行 flask --app wsgi db upgrade。")
    login, owner, role_superuser, database, _function = facts
    if role_superuser is None:
        raise ValueError(f"数据库角色 {role} 不存在：请先由数据库管理员创建（docs/deployment.md §4）。")
    if role in (owner, login):
        raise ValueError(f"{role} 是表的所有者或当前账号：应用必须使用另一个账号。")
    if role_superuser:
        raise ValueError(f"{role} 是超级用户：应用不得以超级用户连接。")
    who = _quote_ident(role)
    statements = [
        f"GRANT CONNECT ON DATABASE {_quote_ident(database)} TO {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"GRANT {APP_TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO {who}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON audit_event FROM {who}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}",
        f"GRANT EXECUTE ON FUNCTION audit_event_archive(bigint, bigint) TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {APP_TABLE_PRIVILEGES} ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {who}",
    ]
    for statement in statements:
        db.session.execute(text(statement))
    return statements
