"""PostgreSQL: races end in 409, not 500 — parallel submissions for one record, parallel lookups from one address."""
from __future__ import annotations

import io
import multiprocessing as mp

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, LookupAttempt, User
from app.services import public
from tests.support.files import PDF_BYTES
from tests.support.harness import run_in_child

pytestmark = pytest.mark.postgres


def _submit(args):
    barrier, user_id, case_id = args

    def work():
        from app.services import applications

        applications.submit_case(db.session.get(User, user_id), case_id)
        return "ok"
    return run_in_child(barrier, work)


def _lookup(args):
    barrier, number, code = args

    def work():
        public.lookup_case(number, code, "203.0.113.9")
        return "looked"
    return run_in_child(barrier, work)


def _run(worker, jobs):
    db.session.commit()
    db.engine.dispose()  # no inherited connections in the children
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(len(jobs))
        with ctx.Pool(len(jobs)) as pool:
            return pool.map(worker, [(barrier, *job) for job in jobs])


def draft_objection(api, record_id: int, case_type: str = "objection") -> int:
    client = api("applicant1")
    body = {"type": case_type, "record_id": record_id, "reason": "wrong_content", "statement": "事实有误。"}
    case_id = client.post("/api/v1/cases", json=body).get_json()["id"]
    for kind in ("evidence", "commitment"):
        assert client.post(f"/api/v1/cases/{case_id}/attachments", content_type="multipart/form-data",
                           data={"kind": kind, "file": (io.BytesIO(PDF_BYTES), f"{kind}.pdf")}).status_code == 201
    return case_id


def _open_objections(record_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Case).where(
        Case.record_id == record_id, Case.type == "objection", Case.status.in_(("in_progress", "supplement"))))


def test_parallel_drafts_for_one_record_leave_one_in_progress(api, seeded, users):
    from tests.support.flows import own_record

    record_id = own_record("applicant1").id
    drafts = [draft_objection(api, record_id) for _ in range(6)]
    results = _run(_submit, [(users["applicant1"].id, case_id) for case_id in drafts])
    assert results.count("ok") == 1, results
    assert all(r.startswith("409:") for r in results if r != "ok"), results
    assert _open_objections(record_id) == 1
    assert db.session.scalar(select(func.count()).select_from(Case).where(
        Case.record_id == record_id, Case.status == "draft")) == 5  # the others are kept as drafts, nothing lost


def test_one_draft_submitted_in_parallel_is_submitted_once(api, seeded, users):
    from tests.support.flows import own_record

    record_id = own_record("applicant1").id
    case_id = draft_objection(api, record_id)
    results = _run(_submit, [(users["applicant1"].id, case_id)] * 4)
    assert sorted(results) == ["409:duplicate_submission"] * 3 + ["ok"], results
    assert _open_objections(record_id) == 1


def test_the_lookup_limit_holds_under_a_parallel_burst(seeded):
    results = _run(_lookup, [("YY-2026-999999", "WRONG")] * 24)
    assert results.count("looked") == public.LOOKUP_LIMIT, results
    assert all(r == "429:too_many_lookups" or r == "looked" for r in results), results
    assert db.session.scalar(select(func.count()).select_from(LookupAttempt)) == public.LOOKUP_LIMIT
