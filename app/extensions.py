"""Flask extensions, created once and bound in create_app."""
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


def execute_plain(statement, parameters=None):
    """Run a Core statement (on a Table, not a mapped class) on the session's connection, in its transaction.

    For the writes of the hot paths (the state row, timer rows, an outbox row, a number, a task's assignee): the
    ORM's bulk INSERT/UPDATE path evaluates the session and autoflushes, about 2 ms of CPU per statement on
    PostgreSQL, more than the write itself. No flush comes first, and objects loaded in the session are not
    brought in line: the caller does what it needs of either. `parameters`: a dict, or a list of dicts with the same
    keys for one INSERT of several rows (executemany)."""
    return db.session.connection().execute(statement, parameters)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
