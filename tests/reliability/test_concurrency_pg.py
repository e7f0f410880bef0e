"""PostgreSQL: eight processes completing one task at once → exactly one success, seven conflicts."""
from __future__ import annotations

import multiprocessing as mp
import os

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CaseEvent, HumanTask, User
from tests.support.flows import file_objection
from tests.support.harness import run_in_child

pytestmark = pytest.mark.postgres


def _complete(args):
    task_id, user_id, barrier = args

    def work():
        from app.services import workflow

        workflow.complete_task(db.session.get(User, user_id), task_id, {"intake_choice": "accept"})
        return "ok"
    return run_in_child(barrier, work)


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
