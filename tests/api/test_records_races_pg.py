"""PostgreSQL: parallel posts of one record through the API make one record — retries with one Idempotency-Key all
answer it, posts without a key get 409 duplicate_record naming it; none gets a 500."""
from __future__ import annotations

import multiprocessing as mp

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CreditRecord, IdempotencyKey
from tests.support.harness import run_in_child

pytestmark = pytest.mark.postgres
PARALLEL = 5


def _post(args):
    barrier, headers, body = args

    def work():
        from flask import current_app

        response = current_app.test_client().post("/api/v1/records", json=body, headers=headers)
        answer = response.get_json()
        return (response.status_code, answer.get("id") or answer["error"].get("record_id"),
                answer.get("error", {}).get("code"))
    return run_in_child(barrier, work)


def _run(jobs):
    db.session.commit()
    db.engine.dispose()  # no inherited connections in the children
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(len(jobs))
        with ctx.Pool(len(jobs)) as pool:
            return pool.map(_post, [(barrier, *job) for job in jobs])


def _body(users) -> dict:
    return {"subject_unit_id": users["applicant1"].unit_id, "category": "admin_penalty", "severity": "general",
            "basis_doc_no": "随并发罚〔2026〕1号", "basis_date": "2026-10-10", "facts": "逾期未履行行政处罚决定。",
            "legal_basis": "《中华人民共和国行政处罚法》第七十二条"}


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def test_parallel_retries_with_one_key_make_one_record_and_all_answer_it(deployed_staff, users, api):
    headers = {**api("verifier1").headers, "Idempotency-Key": "parallel-1"}
    results = _run([(headers, _body(users))] * PARALLEL)
    assert {status for status, _id, _code in results} == {201}, results
    assert len({record_id for _status, record_id, _code in results}) == 1, results
    assert _count(CreditRecord) == 1 and _count(IdempotencyKey) == 1


def test_parallel_posts_without_a_key_make_one_record_and_the_others_get_409_naming_it(deployed_staff, users, api):
    headers = api("verifier1").headers
    results = _run([(headers, _body(users))] * PARALLEL)
    made = [r for r in results if r[0] == 201]
    assert len(made) == 1, results
    assert sorted(results) == sorted([made[0]] + [(409, made[0][1], "duplicate_record")] * (PARALLEL - 1)), results
    assert _count(CreditRecord) == 1
