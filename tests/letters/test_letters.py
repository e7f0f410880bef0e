"""Letters: gap-free numbers per series and year, stored immutably with their hash, verifiable in public."""
from __future__ import annotations

import hashlib
import multiprocessing as mp

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, Letter
from app.services import letters, sequences
from tests.support.flows import do_task, file_objection


def test_doc_number_format():
    assert letters.doc_number("随信用", "异决", 2026, 3) == "随信用异决〔2026〕3号"
    assert letters.chinese_date(__import__("datetime").date(2026, 1, 5)) == "2026年1月5日"


def test_numbers_are_gap_free_and_rollback_returns_the_number(app):
    assert [sequences.next_number("letter:异决", 2026) for _ in range(3)] == [1, 2, 3]
    db.session.commit()
    sequences.next_number("letter:异决", 2026)
    db.session.rollback()  # e.g. rendering failed: the number is not used up
    assert sequences.next_number("letter:异决", 2026) == 4
    assert sequences.next_number("letter:异决", 2027) == 1  # per year
    assert sequences.next_number("letter:异受", 2026) == 1  # per series


def test_letter_is_stored_with_hash_and_verifiable(api, seeded):
    case = file_objection(api)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    letter = db.session.scalar(select(Letter).where(Letter.case_id == case["id"]))
    assert letter.doc_number == "随信用异受〔2026〕1号"
    assert hashlib.sha256(letter.pdf).hexdigest() == letter.sha256
    page = seeded.test_client().get(f"/v/{letter.verify_code}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for expected in (letter.doc_number, letter.addressee, "2026年11月27日", "随州市社会信用体系建设领导小组办公室",
                     "存档文件与登记哈希一致"):
        assert expected in text
    assert seeded.test_client().get("/v/not-a-code").status_code == 404


@pytest.mark.postgres
def test_concurrent_issue_gives_unique_consecutive_numbers(api, seeded):
    case_id = file_objection(api)["id"]
    db.session.commit()
    db.engine.dispose()
    ctx = mp.get_context("fork")
    with ctx.Pool(6) as pool:
        numbers = pool.map(_issue_one, [case_id] * 12)
    assert sorted(numbers) == sorted(f"随信用异决〔2026〕{n}号" for n in range(1, 13))


def _issue_one(case_id: int) -> str:
    from app import create_app
    from app.core import clock
    from config import TestConfig
    from tests.support.constants import T0

    app = create_app(TestConfig)
    with app.app_context():
        clock.set_frozen(T0)
        case = db.session.get(Case, case_id)
        from app.services.workflow import registry

        context = {**registry.letter_type("objection_decision").context(case), "reasons": "并发测试"}
        letter = letters.issue_letter(case, "objection_decision", user_id=None, context=context)
        db.session.commit()
        number = letter.doc_number
        db.session.remove()
        db.engine.dispose()
        return number


def test_issued_letter_is_immutable(api, seeded):
    case = file_objection(api)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    letter = db.session.scalar(select(Letter))
    letter.addressee = "别的单位"
    with pytest.raises(ValueError, match="immutable"):
        db.session.flush()
    db.session.rollback()
