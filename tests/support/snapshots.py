"""A fingerprint of the database and file store, to show that a refused submission changed nothing."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from app.extensions import db

# Tables whose rows a refused submission must not touch. Audit rows, sessions and lookup attempts are
# written on purpose for refusals (security events, rate limiting), so they are left out.
WATCHED = ["app_setting", "calendar_day", "calendar_year", "number_sequence", "outbox", "process_definition",
           "rule_set", "unit", "app_user", "credit_record", "case", "saved_filter", "user_role", "attachment",
           "case_event", "letter", "notification", "process_instance", "record_history", "sanction", "human_task",
           "sanction_history", "sanction_record", "timer_job", "person", "person_post", "idempotency_key",
           "record_import"]


def fingerprint(app) -> tuple:
    """Row counts of the main tables, instance versions, task, case, record and notification states, files."""
    db.session.rollback()
    db.session.expire_all()
    counts = tuple(db.session.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in WATCHED)
    versions = tuple(db.session.execute(text("SELECT id, lock_version, status FROM process_instance ORDER BY id")))
    tasks = tuple(db.session.execute(text(
        "SELECT id, status, assignee_id FROM human_task ORDER BY id")))
    cases = tuple(db.session.execute(text('SELECT id, status, outcome FROM "case" ORDER BY id')))
    records = tuple(db.session.execute(text("SELECT id, status, basis_doc_no FROM credit_record ORDER BY id")))
    unread = db.session.execute(text("SELECT count(*) FROM notification WHERE read_at IS NULL")).scalar()
    files = sum(1 for p in Path(app.config["FILE_STORE"]).rglob("*") if p.is_file())
    return counts, versions, tasks, cases, records, unread, files


def office_state() -> tuple:
    """Every column the office's administration can change: units, accounts, roles, live sessions, the calendar.

    The fingerprint counts rows; a refused edit must not change a value either.
    """
    db.session.rollback()
    db.session.expire_all()
    queries = (
        "SELECT id, name, kind, parent_id, uscc, region, active FROM unit ORDER BY id",
        "SELECT id, username, display_name, unit_id, email, password_hash, password_changed_at, failed_logins,"
        " locked_until, active, must_change_password, totp_secret FROM app_user ORDER BY id",
        "SELECT user_id, role FROM user_role ORDER BY user_id, role",
        "SELECT id FROM login_session WHERE revoked_at IS NULL ORDER BY id",
        "SELECT day, is_workday, name, source FROM calendar_day ORDER BY day",
        "SELECT year, source FROM calendar_year ORDER BY year",
        "SELECT id, due_at, due_provisional FROM human_task ORDER BY id",
    )
    return tuple(tuple(tuple(row) for row in db.session.execute(text(q))) for q in queries)


class DatabaseCopy:
    """Every row of every table and every stored file, taken once and put back into an emptied database.

    Building the demo city runs its 24 registrations through the process (48 letters rendered): seconds, where
    copying the rows back costs milliseconds. The copy is taken right after the build, in the same session, so
    the restored rows are exactly what the build wrote (ids, audit chain, workflow states, files)."""

    def __init__(self, app):
        db.session.commit()
        self.postgres = db.engine.dialect.name == "postgresql"
        self.tables = [(table, [dict(row._mapping) for row in db.session.execute(table.select())])
                       for table in db.metadata.sorted_tables]
        if self.postgres:
            # PostgreSQL keeps the copy itself, in a schema of its own: restoring is one INSERT ... SELECT per table
            # on the server (~15 ms) instead of sending a thousand rows back (~60 ms).
            db.session.execute(text(f"DROP SCHEMA IF EXISTS {self.SCHEMA} CASCADE; CREATE SCHEMA {self.SCHEMA}"))
            for table, rows in self.tables:
                if rows:
                    db.session.execute(text(f'CREATE TABLE {self.SCHEMA}."{table.name}" AS TABLE "{table.name}"'))
            db.session.commit()
        store = Path(app.config["FILE_STORE"])
        self.files = {p.relative_to(store): p.read_bytes() for p in store.rglob("*") if p.is_file()}

    SCHEMA = "test_demo_copy"

    def restore(self, app) -> None:
        """Put the rows back into the (emptied) tables, then the files, then commit."""
        if self.postgres:
            # The rows are the build's own, checked when they were written: replica mode skips the triggers
            # (foreign keys, the audit chain's append-only guard) for this transaction. One round trip.
            statements = ["SET LOCAL session_replication_role = replica", "SET LOCAL synchronous_commit = off"]
            for table, rows in self.tables:
                if rows:
                    columns = ", ".join(f'"{c.name}"' for c in table.c)
                    statements.append(f'INSERT INTO "{table.name}" ({columns}) '
                                      f'SELECT {columns} FROM {self.SCHEMA}."{table.name}"')
                    if "id" in table.c and table.c.id.autoincrement in (True, "auto") \
                            and table.c.id.type.python_type is int:
                        statements.append(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                                          f"(SELECT max(id) FROM \"{table.name}\"))")
            db.session.connection().exec_driver_sql("; ".join(statements))
        else:
            for table, rows in self.tables:
                if rows:
                    db.session.execute(table.insert(), rows)
        store = Path(app.config["FILE_STORE"])
        for relative, data in self.files.items():
            path = store / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        db.session.commit()
