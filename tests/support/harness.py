"""Apps of their own for tests that run several processes on one shared database (workers, races, kills)."""
from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import select, text

from app import create_app
from app.core import clock
from app.services import training_clock
from app.core.errors import ServiceError
from app.extensions import db
from app.models import User
from config import TestConfig
from tests.support.constants import PROCESSES, T0


def make_app(url: str, files: Path):
    """An app on the given database and file store."""
    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        FILE_STORE = files

    return create_app(Cfg)


def shared_url(tmp_path: Path) -> str:
    """A database other processes can open: the test PostgreSQL, or a SQLite file."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else f"sqlite:///{tmp_path / 'shared.db'}"


def migrate_from_empty(revision: str = "head") -> None:
    """Migrate the current app's database from nothing: a shared PostgreSQL first loses what earlier tests left."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
    upgrade(revision=revision)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def seeded_world(url: str, files: Path):
    """Migrate, deploy and seed the demo at T0 in an app context; yield applicant1; leave no clock or session behind."""
    from app.engine.definitions import deploy_directory
    from app.demo.seed import seed_demo

    app = make_app(url, files)
    with app.app_context():
        upgrade()
        clock.set_frozen(T0)
        try:
            deploy_directory(PROCESSES)
            seed_demo(T0.date())
            # Subprocesses read the shared training clock, so they live near T0 like the test.
            training_clock.save_shared_offset(clock.offset_to(T0))
            yield db.session.scalar(select(User).where(User.username == "applicant1"))
        finally:
            clock.set_frozen(None)
            clock.set_offset(timedelta(0))
            db.session.remove()
            db.engine.dispose()


def run_in_child(barrier, work):
    """Run work() in a forked child with its own app and connection, all children starting at the barrier.

    Returns work()'s result after a commit, or "status:code" of the ServiceError that refused it.
    """
    app = create_app(TestConfig)
    with app.app_context():
        clock.set_frozen(T0)
        barrier.wait(timeout=60)
        try:
            result = work()
            db.session.commit()
            return result
        except ServiceError as exc:
            db.session.rollback()
            return f"{exc.status}:{exc.code}"
        finally:
            db.session.remove()
            db.engine.dispose()
