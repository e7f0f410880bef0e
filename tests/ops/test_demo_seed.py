"""Demo data meets SPEC §7: districts, recording units, accounts and records for both applicants."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.extensions import db
from app.core import clock
from app.models import CATEGORIES, SEVERITIES, Case, CreditRecord, HumanTask, RuleSet, Unit, User
from app.services import publication
from app.demo.seed import seed_demo
from app.engine.definitions import deploy_directory
from tests.support.constants import PROCESSES
from app.services.uscc import validate_uscc

TODAY = date(2026, 11, 27)
DEMO_ROLES = {
    "applicant1": {"applicant"},
    "applicant2": {"applicant"},
    "intake1": {"intake"},
    "verifier1": {"verifier"},
    "approver1": {"approver"},
    "admin1": {"admin"},
    "auditor1": {"auditor"},
    "verifier2": {"verifier"},
    "verifier3": {"verifier"},
    "personnel1": {"personnel"},
}


def _seed():
    deploy_directory(PROCESSES)  # the records are registered through their process
    return seed_demo(TODAY)


@pytest.fixture()
def demo(app):
    counts = _seed()
    db.session.commit()
    return counts


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def test_counts_match_the_database(demo):
    assert demo == {
        "units": db.session.query(Unit).count(),
        "users": db.session.query(User).count(),
        "records": db.session.query(CreditRecord).count(),
    }


def test_demo_accounts_have_their_roles(demo):
    for username, roles in DEMO_ROLES.items():
        user = _user(username)
        assert user is not None, username
        assert user.roles == roles, username
    office = _user("intake1").unit
    assert office.is_credit_office and office.name == "随州市社会信用体系建设领导小组办公室"
    for username in ("approver1", "admin1", "auditor1"):
        assert _user(username).unit_id == office.id


def test_applicants_have_records_by_verifier1s_unit_on_both_sides_of_the_minimum_period(demo):
    recording_unit = _user("verifier1").unit_id
    applicant_units = {_user(name).unit_id for name in ("applicant1", "applicant2")}
    assert len(applicant_units) == 2
    for unit_id in applicant_units:
        records = db.session.scalars(select(CreditRecord).where(
            CreditRecord.subject_unit_id == unit_id, CreditRecord.recording_unit_id == recording_unit,
            CreditRecord.status == "published")).all()
        assert len(records) >= 3
        assert any(r.earliest_repair_date <= TODAY for r in records)
        assert any(r.earliest_repair_date > TODAY for r in records)


def test_records_cover_categories_severities_and_both_rule_sets(demo):
    records = db.session.scalars(select(CreditRecord)).all()
    assert len(records) >= 20
    assert {r.category for r in records} == set(CATEGORIES)
    assert {r.severity for r in records} == set(SEVERITIES)
    assert {r.subject_type for r in records} == {"unit", "person"}
    assert {r.rule_set.code for r in records} == {code for code in db.session.scalars(select(RuleSet.code))}
    assert any(r.basis_date < date(2026, 4, 1) for r in records)
    assert any(r.basis_date >= date(2026, 4, 1) for r in records)
    assert any(r.earliest_repair_date <= TODAY for r in records)
    assert any(r.earliest_repair_date > TODAY for r in records)
    for r in records:
        # Registered through record_registration: entered, reported, registered; published unless minor (令第36号).
        assert r.status == "published" and r.publication_start == clock.local_today() and r.source == "seed"
        assert r.auto_end_date > TODAY, r.facts  # nothing should already have expired
        if r.subject_type == "person":
            assert r.person_name and r.person_post and r.person_id and r.person.id_masked.count("*") == 8
        steps = [(h.action, h.to_status) for h in r.history]
        assert steps[:3] == [("entered", "draft"), ("status", "reviewing"), ("status", "published")], steps
        assert (steps[3:] == [("published", None)]) == publication.publishable(r), (r.severity, steps)
        assert (r.published_at is not None) == publication.publishable(r)
        case = db.session.scalar(select(Case).where(Case.record_id == r.id, Case.type == "registration"))
        assert case.status == "closed" and case.outcome == "registered"
        assert sorted(letter.type for letter in case.letters) == ["disclosure_notice", "repair_notice"]


def test_units_have_valid_codes_districts_and_recording_units(demo):
    units = db.session.scalars(select(Unit)).all()
    for unit in units:
        assert validate_uscc(unit.uscc) is None, (unit.name, unit.uscc)
    city = next(u for u in units if u.name == "随州市人民政府")
    districts = [u for u in units if u.parent_id == city.id and u.kind == "government"]
    assert len(districts) >= 3
    assert {u.kind for u in units} == {"government", "department", "institution", "grassroots"}
    recorder_ids = set(db.session.scalars(select(CreditRecord.recording_unit_id)))
    recorders = {u.name for u in units if u.id in recorder_ids}
    assert {"随州市中级人民法院", "随州市人力资源和社会保障局", "随州市纪委监委", "随州市财政局"} <= recorders


def test_codes_are_the_same_on_every_run(app):
    _seed()
    first = {u.name: u.uscc for u in db.session.scalars(select(Unit))}
    db.session.rollback()
    db.session.expunge_all()  # rolled-back rule sets can linger in the identity map
    _seed()
    assert {u.name: u.uscc for u in db.session.scalars(select(Unit))} == first


def test_seeding_twice_is_refused(demo):
    with pytest.raises(RuntimeError, match="演示数据已存在"):
        seed_demo(TODAY)


def test_the_demo_shows_cases_of_the_processes_waiting_at_their_steps(demo):
    from app.demo.seed import seed_demo_cases

    made = seed_demo_cases()
    assert made == {"objection": 4, "rectification": 1, "registration": 2, "repair": 1, "source_change": 1}
    waiting = db.session.scalars(select(CreditRecord.status).where(CreditRecord.status.in_(("reviewing", "returned"))))
    assert sorted(waiting) == ["returned", "reviewing"]
    open_steps = set(db.session.scalars(select(HumanTask.bpmn_id).where(HumanTask.status == "open")))
    assert {"office_review", "correct_record", "intake_review", "verify_record", "draft_decision", "approve_decision",
            "submit_rectification", "apply_change"} <= open_steps
