"""PostgreSQL: eight processes completing one task at once → exactly one success, seven conflicts."""
from __future__ import annotations

import multiprocessing as mp
import os

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CaseEvent, HumanTask, User
from tests.test_objection_api import file_objection

pytestmark = pytest.mark.postgres


def _complete(args):
    task_id, user_id, barrier = args
    from app import create_app
    from app.services import clock, process
    from app.services.errors import ServiceError
    from config import TestConfig
    from tests.conftest import T0

    app = create_app(TestConfig)
    with app.app_context():
        clock.set_frozen(T0)
        user = db.session.get(User, user_id)
        barrier.wait(timeout=30)
        try:
            process.complete_task(user, task_id, {"intake_choice": "accept"})
            db.session.commit()
            return "ok"
        except ServiceError as exc:
            db.session.rollback()
            return f"{exc.status}:{exc.code}"
        finally:
            db.session.remove()
            db.engine.dispose()


def test_eight_concurrent_completions(api, seeded, users):
    case_id = file_objection(api)["id"]
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id, HumanTask.status == "open"))
    db.session.commit()
    db.engine.dispose()  # no inherited connections in the children
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(8)
        with ctx.Pool(8) as pool:
            results = pool.map(_complete, [(task_id, users["intake1"].id, barrier)] * 8)
    assert results.count("ok") == 1, results
    assert all(r.startswith("409:") for r in results if r != "ok"), results
    completions = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "task_completed")
    ).all()
    assert len(completions) == 1
    assert db.session.get(HumanTask, task_id).status == "completed"
    assert os.environ["TEST_DATABASE_URL"].startswith("postgresql")
