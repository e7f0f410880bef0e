"""PostgreSQL as its superuser: statements outside any test transaction, and statements the database must refuse."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.extensions import db


def admin_execute(statement: str, *, database: str | None = None) -> None:
    """Run one statement as the suite's superuser on its own AUTOCOMMIT connection.

    Roles and databases are cluster-wide, and CREATE/DROP DATABASE cannot run inside a transaction; the database
    defaults to the test database (DROP OWNED BY acts on the database it runs in).
    """
    url = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    engine = create_engine(url.set(database=database) if database else url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def create_login_role(role: str) -> None:
    """Create a login role unless it exists (docs/deployment.md §4), so that a rerun after a failure works."""
    admin_execute(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
                  f'CREATE ROLE "{role}" LOGIN; END IF; END $$')


def assert_refused(statements, match: str, *, error: type[Exception] = DBAPIError, first: str | None = None) -> None:
    """Each statement, in a transaction of its own on db.session (after `first`, e.g. a SET LOCAL), is refused."""
    for sql in statements:
        if first:
            db.session.execute(text(first))
        with pytest.raises(error, match=match):
            db.session.execute(text(sql))
        db.session.rollback()
