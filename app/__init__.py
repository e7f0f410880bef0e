"""Application factory."""
from __future__ import annotations

import logging
import os
import time

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from werkzeug.routing import IntegerConverter

from app.i18n import LOCALES, install_request_cached_gettext
from app.extensions import babel, csrf, db, login_manager, migrate
from app.core import write_intent
from app.core.ids import MAX_ID
from config import CONFIGS, Config


def create_app(config_class: type[Config] | None = None) -> Flask:
    """Build and configure the app; nothing happens at import time."""
    app = Flask(__name__)
    app.url_map.converters["int"] = _IdConverter  # before any route is added
    if config_class is None:
        config_class = CONFIGS[os.environ.get("APP_ENV", "development")]
    app.config.from_object(config_class)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set in the environment for this configuration")
    if int(app.config.get("AUDIT_RETENTION_DAYS", 365)) < 183:
        # QUALITY.md §3 / GB/T 22239-2019: audit records are kept at least six months.
        raise RuntimeError("AUDIT_RETENTION_DAYS must be at least 183 (audit records are kept ≥ 6 months)")
    _check_audit_keys(app)
    if int(app.config.get("DRAFT_PURGE_AFTER_DAYS", 30)) < 1:
        raise RuntimeError("DRAFT_PURGE_AFTER_DAYS must be at least 1 (drafts are kept that many days)")
    _configure_database(app)

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            _ping_when_idle(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    install_request_cached_gettext(app)

    from app import models  # noqa: F401  (register tables)
    from app.services.workflow import effects, registry
    from processes import SLICES

    registry.install(SLICES, effects.COMMON)  # the processes, listed in processes/__init__.py
    from app.web import register_web
    from app.api import bp as api_bp
    from app.cli import register_cli
    from app import transaction

    register_web(app)
    csrf.exempt(api_bp)  # the API uses bearer tokens, never cookies
    app.register_blueprint(api_bp)
    register_cli(app, create_app)  # the restore drill builds a second app; nothing imports the factory
    transaction.install(app)  # last: every view above runs in one transaction per request
    return app


def _check_audit_keys(app: Flask) -> None:
    """Refuse to start without a usable audit chain key: every audited action would fail (docs/deployment.md §13)."""
    from app.services.audit.keys import KeyringError, load_keyring

    try:
        ring = load_keyring(app.config)
    except KeyringError as exc:
        raise RuntimeError(f"audit chain key: {exc}") from None
    if ring is None:
        raise RuntimeError("AUDIT_HMAC_KEYS or AUDIT_HMAC_KEY_FILE must be set for this configuration "
                           "(the audit chain's HMAC key, kept outside the database)")


class _IdConverter(IntegerConverter):
    """<int:…> segments beyond a database INTEGER answer 404 instead of failing inside the query."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _select_locale() -> str:
    """The `lang` cookie set by /lang/<code>; Chinese when absent, unknown, or outside a request."""
    from flask import has_request_context, request

    if has_request_context():
        code = request.cookies.get("lang")
        if code in LOCALES:
            return code
    return "zh"


# How every PostgreSQL session of the app plans its statements (docs/performance.md):
# - No parallel query: every statement of ours reads an index range of a few rows, and PostgreSQL prices an index
#   path by each column's frequency alone (extended statistics do not reach index selectivity), so a value rare in a
#   lane (an inbox filter on category=breach) looked like 30,000 rows and a parallel sequential scan of human_task
#   won: 37 ms where the index answers in 0.3 ms. On a few cores shared by many requests, parallel workers only take
#   CPU from the others.
# - A plan for the values at hand, every time: psycopg prepares a statement run five times on a connection, and
#   PostgreSQL may then keep one generic plan, made without the values, for all of them. The data is skewed (a unit
#   with ten records or ten thousand, a lane's rare category, a rare address prefix), and only the values tell:
#   the audit search's generic plan for "newest 50 with this address prefix" walked the whole log backwards by id
#   from about the eleventh page view on, 145–520 ms at a million events where the address index answers in 1 ms.
#   Planning each statement costs a fraction of a millisecond.
PG_SESSION_OPTIONS = "-c max_parallel_workers_per_gather=0 -c plan_cache_mode=force_custom_plan"


def _configure_database(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql://"):
        app.config["SQLALCHEMY_DATABASE_URI"] = uri.replace("postgresql://", "postgresql+psycopg://", 1)
    if uri.startswith("postgresql"):
        # A restarted server leaves dead connections in the pool: _ping_when_idle tests one on checkout when it has
        # been idle (pool_pre_ping would test every checkout: a round trip before each transaction).
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        # PG_SESSION_OPTIONS: how every session plans (no parallel query, custom plans only).
        connect_args = dict(options.get("connect_args") or {})
        connect_args["options"] = " ".join(filter(None, (connect_args.get("options"), PG_SESSION_OPTIONS)))
        options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if uri.startswith("sqlite"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        # The busy timeout: how long a transaction waits for SQLite's write lock before "database is locked".
        options.setdefault("connect_args", {})["timeout"] = app.config.get("SQLITE_BUSY_TIMEOUT_S", 30)
        if uri in ("sqlite://", "sqlite:///:memory:"):
            from sqlalchemy.pool import StaticPool

            options["poolclass"] = StaticPool
            options["connect_args"]["check_same_thread"] = False
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
        path = uri.removeprefix("sqlite:///")
        if path and uri not in ("sqlite://", "sqlite:///:memory:"):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)


# A pooled connection given back this recently is handed out again as it is; an older one is tested first.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection on checkout when it has been idle PING_AFTER_IDLE_S or longer, and replace it when
    the server has gone (a restart, a dropped link). The worker commits once per fired timer and a request
    checks a connection out at least once: a ping at every checkout (pool_pre_ping) was a round trip before each
    transaction, for connections in use a moment ago. A connection that dies within the second fails its request,
    which is rolled back whole (the next request gets a new connection: SQLAlchemy empties the pool on a
    disconnect)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        last = record.info.get("checked_in_at")
        if last is None or time.monotonic() - last < PING_AFTER_IDLE_S:
            return  # new, or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the server did not answer a pooled connection's ping") from exc


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record):
    """WAL, synchronous=NORMAL and foreign keys on SQLite (the busy timeout is the driver's `timeout`); SQLAlchemy
    issues BEGIN itself.

    Under WAL, NORMAL syncs the log at checkpoints, not at every commit: the database stays consistent after a
    crash or power loss (a commit is all or nothing), but the last transactions before a power loss (not a process
    crash) may be rolled back. FULL cost a sync per commit, most of a fired timer's wall time."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL (see the docstring); set per connection
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """Begin SQLite transactions as the unit of work needs (app/core/write_intent.py): IMMEDIATE, so that writers
    queue on the busy timeout instead of racing (ENGINE.md), except a reading request's, which is deferred and
    reads a WAL snapshot without taking the write lock."""
    if conn.dialect.name == "sqlite":
        deferred = write_intent.begin_mode() == write_intent.DEFERRED
        conn.info[_DEFERRED] = deferred
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


_DEFERRED = write_intent.BEGAN_DEFERRED
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@event.listens_for(Engine, "before_cursor_execute")
def _no_write_in_a_read(conn, cursor, statement, parameters, context, executemany):
    """A write inside a deferred SQLite transaction is a reading request that forgot `transaction.writing()`.

    Under load it would fail at once with SQLITE_BUSY_SNAPSHOT whenever another writer committed since the read
    began; tests raise here so that every such path is found, elsewhere it is logged and runs on.
    """
    if not conn.info.get(_DEFERRED) or conn.dialect.name != "sqlite":
        return
    if statement.lstrip()[:7].upper().startswith(_WRITES):
        from flask import current_app, has_app_context

        message = f"write in a deferred (reading) SQLite transaction; call transaction.writing() first: {statement[:80]}"
        if has_app_context() and current_app.testing:
            raise RuntimeError(message)
        logging.getLogger(__name__).warning(message)
