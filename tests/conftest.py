"""Shared fixtures: an app on a fresh migrated database (SQLite by default, PostgreSQL via TEST_DATABASE_URL).

Only fixtures and hooks live here; what tests call (clients, factories, flows, files) is in tests/support/.

The world a test runs in is a fixture of its own, and the signed-in clients `web` and `api` work in whichever one
the test (or a fixture it uses) asks for:
- `seeded`: the whole demo city (all units, the eight accounts, 24 records) and the deployed processes. For tests
  whose assertions read the demo's document numbers, names or counts.
- `staff`: only the eight accounts by username (applicant1, intake1, ...) and their units (factories.staff);
  `deployed_staff` adds the deployed processes, rule sets and calendar; `recorded_staff` adds one published
  record of applicant1's unit made by verifier1's unit, the record the flows' own_record/unit_record/repairable
  find. A test needing more builds it with tests/support/factories.
A test that asks for none of these gets the demo city, as every test did before the factories: the clients stay
one pair of fixtures, and a test never gets two worlds (the demo accounts and the factory accounts share names).
"""
from __future__ import annotations

import os

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from app.core import clock
from app.extensions import db
from config import TestConfig
from tests.support import factories, fuzz
from tests.support.clients import ApiClient, enrol_second_factor_for_tests, WebClient
from tests.support.constants import PROCESSES, T0
from tests.support.snapshots import DatabaseCopy


def pytest_collection_modifyitems(config, items):
    """Deselect PostgreSQL-only tests on SQLite; on PostgreSQL, SQLite-only and database-free ones (first pass).

    scripts/run_tests.sh runs both passes, so every test runs in one of them.
    """
    on_postgres = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
    markers = ("database_free", "sqlite") if on_postgres else ("postgres",)
    deselected = [item for item in items if any(marker in item.keywords for marker in markers)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


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


_SEQUENCES: list[str] = []


def _empty_tables():
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        # audit_event refuses DELETE and TRUNCATE for everyone (migrations 0009/0010's triggers). Only the test
        # suite resets it, as the superuser it connects as: replica mode skips ordinary triggers, foreign-key checks
        # included, for this transaction. The application's login can do neither (tests/audit/test_audit_roles_pg.py).
        # DELETE of a few hundred rows costs ~20 ms where TRUNCATE of every table costs ~130 ms (new files per table);
        # the sequences restart as TRUNCATE ... RESTART IDENTITY would.
        # One round trip: the statements go as one simple query.
        if not _SEQUENCES:
            _SEQUENCES.extend(db.session.scalars(text(
                "SELECT quote_literal(s.oid::regclass::text) FROM pg_class s "
                "JOIN pg_namespace n ON n.oid = s.relnamespace WHERE s.relkind = 'S' AND n.nspname = 'public'")))
        statements = ["SET LOCAL session_replication_role = replica", "SET LOCAL synchronous_commit = off",
                      *(f'DELETE FROM "{table}"' for table in tables)]
        if _SEQUENCES:
            statements.append(f"SELECT setval(CAST(s AS regclass), 1, false) "
                              f"FROM unnest(ARRAY[{', '.join(_SEQUENCES)}]) s")
        db.session.connection().exec_driver_sql("; ".join(statements))
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


_DEMO_CITY: list[DatabaseCopy] = []


@pytest.fixture()
def seeded(app):
    """Demo units, users and records, plus the deployed processes: built once per session, then copied back."""
    from app.engine.definitions import deploy_directory
    from app.demo.seed import seed_demo

    if _DEMO_CITY:
        _DEMO_CITY[0].restore(app)
        return app
    deploy_directory(PROCESSES)
    seed_demo(T0.date())
    enrol_second_factor_for_tests()
    db.session.commit()
    _DEMO_CITY.append(DatabaseCopy(app))
    return app


@pytest.fixture()
def staff(app):
    """Only the accounts, by username, and their units: no records, no deployed processes (factories.staff)."""
    cast = factories.staff()
    db.session.commit()
    return cast


@pytest.fixture()
def deployed_staff(staff):
    """The accounts plus the deployed processes, rule sets and the working calendar (factories.deployed)."""
    factories.deployed()
    db.session.commit()
    return staff


@pytest.fixture()
def recorded_staff(deployed_staff):
    """deployed_staff plus one published general record of applicant1's unit, made by verifier1's unit.

    Its basis date (2026-05-01) puts it under rule set NDRC-36 and past its minimum period at T0, so it can be
    objected to, ordered rectified and repaired.
    """
    factories.record(deployed_staff["applicant1"].unit, deployed_staff["verifier1"].unit)
    db.session.commit()
    return deployed_staff


WORLDS = ("seeded", "staff")  # deployed_staff and recorded_staff stand on staff


def _world(request) -> None:
    """Set up the test's world now (the demo city if it names none; see the module's docstring)."""
    named = [name for name in WORLDS if name in request.fixturenames]
    if len(named) > 1:
        pytest.fail(f"{request.node.nodeid} asks for two worlds ({', '.join(named)}): their accounts share names")
    request.getfixturevalue(named[0] if named else "seeded")


@pytest.fixture()
def users(app, request):
    """The accounts of the test's world by username (the demo city's when the test names no world)."""
    from app.models import User

    _world(request)
    return {u.username: u for u in db.session.scalars(db.select(User))}


@pytest.fixture()
def web(app, request):
    """web(username=None): a browser, signed in as username of the test's world (anonymous without one)."""
    _world(request)
    return lambda username=None: WebClient(app, username)


@pytest.fixture()
def api(app, request):
    """api(username): a JSON API caller with a bearer token for username of the test's world."""
    _world(request)
    return lambda username: ApiClient(app, username)


@pytest.fixture(autouse=True)
def _fresh_fuzz_world():
    """The fuzz tests' shared objects (tests/support/fuzz.py) never outlive a test."""
    fuzz.WORLD.clear()
    yield
    fuzz.WORLD.clear()
