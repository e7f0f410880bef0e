"""Eligibility facts, from tables: honour evaluation on a day, the repair facts, the restoration facts.

Every row builds its own few rows with tests/support/factories.py on top of a little background (another unit with its
own disqualification and repaired record), so a query that forgets its unit or record filter picks the wrong row.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.engine.definitions import deploy_directory
from app.extensions import db
from app.models import RecordHistory
from app.services import eligibility
from config import Config
from tests.support import factories

TZ = ZoneInfo(Config.TIMEZONE)
D = date(2026, 6, 10)  # the day asked about


def local(day: date, hour: int) -> datetime:
    """An instant given as local wall-clock time."""
    return datetime.combine(day, time(hour), TZ)


def published(row, at: datetime) -> None:
    db.session.add(RecordHistory(record_id=row.id, at=at, action="published", to_status="published", changes={},
                                 reason="公示"))
    db.session.flush()


@pytest.fixture()
def world(app):
    subject, recorder, other = factories.unit(), factories.unit(), factories.unit()
    # Background: another unit, disqualified and with a serious record repaired long ago (its history row comes
    # first), so a lookup without its unit or record filter finds these.
    old = factories.record(other, recorder, severity="serious", basis_date=D - timedelta(days=300))
    published(old, local(old.basis_date, 10))
    factories.left_publication(old, "repaired", local(D - timedelta(days=100), 10))
    factories.sanction(other, start_date=D - timedelta(days=30))
    return {"subject": subject, "recorder": recorder, "other": other}


# --- honour evaluation on a day ------------------------------------------------------------------------------

SANCTION_ROWS = [
    (dict(start_date=D), True),  # in force from its first day
    (dict(start_date=D + timedelta(days=1)), False),  # starts tomorrow: not yet
    (dict(start_date=None), False),  # never started (a proposal has no start date)
    (dict(start_date=D - timedelta(days=30), status="lifted", lifted_at=local(D, 7)), False),
    # lifted at 07:00 on the day (23:00 UTC the evening before): free that day
    (dict(start_date=D - timedelta(days=30), status="lifted", lifted_at=local(D + timedelta(days=1), 7)), True),
    # lifted at 07:00 the next day, which is 23:00 UTC on the day itself: a UTC date would free it a day early
    (dict(start_date=D - timedelta(days=30), status="lifted", lifted_at=local(D - timedelta(days=1), 12)), False),
    # lifted the day before
    (dict(start_date=D - timedelta(days=30), term_end=D), True),  # the last day of the term still counts
    (dict(start_date=D - timedelta(days=30), term_end=D - timedelta(days=1)), False),  # the term ended yesterday
    (dict(start_date=D - timedelta(days=30), kind="public_criticism"), False),  # only this kind bars honours
    (dict(start_date=D - timedelta(days=30), kind="rectification_order"), False),  # nor does a rectification order
    (dict(start_date=D - timedelta(days=30), status="declined"), False),  # a declined proposal never applied
]


@pytest.mark.parametrize(("sanction", "blocks"), SANCTION_ROWS)
def test_honour_eligibility_sanction_dates(world, sanction, blocks):
    row = factories.sanction(world["subject"], **sanction)
    answer = eligibility.honour_eligibility(world["subject"].id, D)
    assert answer.eligible is not blocks
    assert answer.sanctions == ([row] if blocks else []) and answer.records == []


RECORD_ROWS = [
    (dict(basis_date=D), None, True),  # published from the basis date: blocks on its first day
    (dict(basis_date=D + timedelta(days=1)), None, False),  # published from tomorrow
    (dict(basis_date=D - timedelta(days=400), auto_end_date=D), None, True),  # the last day of publication counts
    (dict(basis_date=D - timedelta(days=400), auto_end_date=D - timedelta(days=1)), None, False),  # over yesterday
    (dict(basis_date=D - timedelta(days=30), severity="general"), None, False),  # only serious records bar honours
    (dict(basis_date=D - timedelta(days=30), status="disputed"), None, True),  # an objection leaves it published
    (dict(basis_date=D - timedelta(days=30), status="corrected"), None, True),  # a corrected one is published too
    (dict(basis_date=D - timedelta(days=30), updated_at=local(D + timedelta(days=5), 10)),
     ("repaired", local(D, 7)), False),  # repaired at 07:00 on the day: off publication that day
    (dict(basis_date=D - timedelta(days=30), updated_at=local(D - timedelta(days=5), 10)),
     ("repaired", local(D + timedelta(days=1), 7)), True),
    # repaired at 07:00 the next day (23:00 UTC on the day): still published on the day
    (dict(basis_date=D - timedelta(days=30), updated_at=local(D - timedelta(days=5), 10)),
     ("revoked", local(D + timedelta(days=1), 7)), True),  # revoked the next day: the same
    (dict(basis_date=D - timedelta(days=30), updated_at=local(D - timedelta(days=5), 10)),
     ("expired", local(D - timedelta(days=1), 12)), False),  # expired the day before
    (dict(basis_date=D - timedelta(days=30), status="repaired", updated_at=local(D + timedelta(days=1), 7)), None,
     True),  # cleared without a history row: the record's own update time decides
    (dict(basis_date=D - timedelta(days=30), status="expired", updated_at=local(D, 7)), None, False),
    # the same, cleared on the day
]


@pytest.mark.parametrize(("record", "left", "blocks"), RECORD_ROWS)
def test_honour_eligibility_record_dates(world, record, left, blocks):
    fields = dict(severity="serious")
    fields.update(record)
    row = factories.record(world["subject"], world["recorder"], **fields)
    published(row, local(row.basis_date, 10))
    if left:
        factories.left_publication(row, *left)
    answer = eligibility.honour_eligibility(world["subject"].id, D)
    assert answer.eligible is not blocks
    assert answer.records == ([row] if blocks else []) and answer.sanctions == []


def test_honour_eligibility_names_every_obstacle(world):
    sanction = factories.sanction(world["subject"], start_date=D - timedelta(days=1))
    record = factories.record(world["subject"], world["recorder"], severity="serious", basis_date=D)
    answer = eligibility.honour_eligibility(world["subject"].id, D)
    assert (answer.eligible, answer.sanctions, answer.records) == (False, [sanction], [record])
    assert eligibility.honour_eligibility(world["subject"].id, D - timedelta(days=2)).eligible


# --- repair facts --------------------------------------------------------------------------------------------

OPEN_CASE_ROWS = [
    (("objection", "in_progress"), True),  # an objection being handled
    (("objection", "supplement"), True),  # waiting for materials is still open
    (("repair", "in_progress"), True),  # another repair application
    (("repair", "supplement"), True),  # likewise while supplementing
    (("objection", "draft"), False),  # a draft was never filed
    (("repair", "draft"), False),  # nor this one
    (("objection", "closed"), False),  # decided
    (("repair", "rejected"), False),  # not accepted
    (("repair", "withdrawn"), False),  # withdrawn
    (("rectification", "in_progress"), False),  # a rectification order is not an application (it is a fact of its own)
    (None, False),  # nothing else on file
]


@pytest.mark.parametrize(("other", "open_case"), OPEN_CASE_ROWS)
def test_repair_facts_open_case(world, other, open_case):
    record = factories.record(world["subject"], world["recorder"], basis_date=D - timedelta(days=200))
    other_record = factories.record(world["subject"], world["recorder"], basis_date=D - timedelta(days=200),
                                    category="breach")
    factories.case(other_record, type="objection", status="in_progress")  # open, but on another record
    mine = factories.case(record, type="repair", status="in_progress")  # the application being checked
    if other:
        factories.case(record, type=other[0], status=other[1])
    assert eligibility.repair_facts(record, D, ignore_case_id=mine.id)["open_case"] is open_case
    # Without naming the application being checked, it counts itself.
    assert eligibility.repair_facts(record, D)["open_case"] is True


RECTIFICATION_ROWS = [
    (None, False, True),  # never ordered to rectify
    ("draft", False, True),  # a draft order was never issued
    ("in_progress", False, False),  # ordered and not yet accepted
    ("in_progress", True, True),  # ordered and accepted (rectified_at set)
    ("closed", False, False),  # order closed without acceptance: still not rectified
]


@pytest.mark.parametrize(("order", "rectified", "ok"), RECTIFICATION_ROWS)
def test_repair_facts_rectification(world, order, rectified, ok):
    record = factories.record(world["subject"], world["recorder"], basis_date=D - timedelta(days=200),
                              rectified_at=local(D, 9) if rectified else None)
    other = factories.record(world["subject"], world["recorder"], basis_date=D - timedelta(days=200),
                             category="breach")
    factories.case(other, type="rectification", status="in_progress")  # another record's order is not this one's
    if order:
        factories.case(record, type="rectification", status=order)
    assert eligibility.repair_facts(record, D)["rectification_ok"] is ok


@pytest.mark.parametrize(("today", "passed"), [
    (date(2026, 8, 1), True),  # the earliest repair date itself
    (date(2026, 7, 31), False),  # the day before
])
def test_repair_facts_minimum_period(world, today, passed):
    record = factories.record(world["subject"], world["recorder"], basis_date=date(2026, 5, 1))  # general: 3 months
    assert record.earliest_repair_date == date(2026, 8, 1)
    assert eligibility.repair_facts(record, today) == {
        "min_period_passed": passed, "rectification_ok": True, "open_case": False, "barred": False}


REPEAT_ROWS = [
    (dict(basis_date=date(2026, 9, 1)), True),  # same unit and category four months later
    (dict(basis_date=date(2027, 5, 1)), True),  # exactly twelve months later still counts
    (dict(basis_date=date(2027, 5, 2)), False),  # a day past the window
    (dict(basis_date=date(2026, 5, 1)), False),  # the same day is not "again"
    (dict(basis_date=date(2026, 3, 1)), False),  # an earlier record does not bar a later one
    (dict(basis_date=date(2026, 9, 1), category="breach"), False),  # a different kind of breach
    (dict(basis_date=date(2026, 9, 1), status="revoked"), False),  # a revoked record never happened
    (dict(basis_date=date(2026, 9, 1), status="repaired"), True),  # a repaired one did
    (dict(basis_date=date(2026, 9, 1), subject="other"), False),  # another unit's record
    (None, False),  # nothing else
]


@pytest.mark.parametrize(("later", "barred"), REPEAT_ROWS)
def test_repeat_offence_bars_repair(world, later, barred):
    record = factories.record(world["subject"], world["recorder"], basis_date=date(2026, 5, 1))
    record.rule_set.repair_bar = BAR  # configured with its cited basis (none by default)
    found = None
    if later:
        later = dict(later)
        subject = world[later.pop("subject", "subject")]
        found = factories.record(subject, world["recorder"], **later)
    assert eligibility.repeat_offence(record) == (found if barred else None)
    assert eligibility.repair_facts(record, D)["barred"] is barred


# A bar applies only with a cited legal basis (令第36号第二条); the basis here is a test's placeholder.
BAR = {"repeat_within_months": 12, "legal_basis": "测试用法规第十条"}


def test_no_repeat_window_no_bar(world):
    """A rule set without repair_bar (with 0 months, or a bar without its legal basis) bars nothing."""
    record = factories.record(world["subject"], world["recorder"], basis_date=date(2026, 5, 1))
    factories.record(world["subject"], world["recorder"], basis_date=date(2026, 6, 1))
    assert eligibility.repeat_offence(record) is None  # the default: no bar
    record.rule_set.repair_bar = BAR
    assert eligibility.repeat_offence(record) is not None
    for bar in ({}, {"repeat_within_months": 0}, {"repeat_within_months": 12}, {"repeat_within_months": 12, "legal_basis": ""}):
        record.rule_set.repair_bar = bar
        assert eligibility.repeat_offence(record) is None


# --- repair verdict --------------------------------------------------------------------------------------------

@pytest.fixture()
def deployed(world, app):
    deploy_directory(Path(app.root_path).parent / "processes")
    return world


@pytest.mark.parametrize(("status", "code"), [
    ("published", "eligible"),  # published and past the minimum period
    ("corrected", "eligible"),  # a corrected record may be repaired like a published one
    ("disputed", "status"),  # not while an objection is being handled
    ("repaired", "status"),  # already repaired
    ("revoked", "status"),  # revoked: nothing to repair
    ("expired", "status"),  # publication over: nothing to repair
])
def test_repair_verdict_by_record_status(deployed, status, code):
    record = factories.record(deployed["subject"], deployed["recorder"], basis_date=date(2026, 1, 5), status=status)
    verdict = eligibility.repair_verdict(record, D)
    assert (verdict.eligible, verdict.code) == (code == "eligible", code)
    assert verdict.message and verdict.earliest is None


def test_repair_verdict_names_the_earliest_day(deployed):
    record = factories.record(deployed["subject"], deployed["recorder"], basis_date=date(2026, 5, 1))
    verdict = eligibility.repair_verdict(record, date(2026, 7, 31))
    assert (verdict.eligible, verdict.code, verdict.earliest) == (False, "min_period", date(2026, 8, 1))
    assert "2026年8月1日" in verdict.message


def test_repair_verdict_needs_the_deployed_table(world):
    record = factories.record(world["subject"], world["recorder"], basis_date=date(2026, 1, 5))
    with pytest.raises(RuntimeError, match="not deployed"):
        eligibility.repair_verdict(record, D)


# --- restoration facts -----------------------------------------------------------------------------------------

RESTORATION_ROWS = [
    (["repaired"], None, True, False),  # its only record repaired
    (["revoked"], None, True, False),  # or revoked
    (["expired"], None, True, False),  # or expired
    (["published"], None, False, False),  # its record still published
    (["repaired", "published"], None, False, False),  # every record it rests on must be cleared
    (["repaired"], ("serious", "published"), True, True),  # another serious record of the unit is published
    (["repaired"], ("serious", "disputed"), True, True),  # disputed records are still published
    (["repaired"], ("serious", "corrected"), True, True),  # corrected ones too
    (["repaired"], ("serious", "repaired"), True, False),  # a repaired one is not active
    (["repaired"], ("general", "published"), True, False),  # only serious records count
]


@pytest.mark.parametrize(("own", "other", "cleared", "other_active"), RESTORATION_ROWS)
def test_restoration_facts(world, own, other, cleared, other_active):
    records = [factories.record(world["subject"], world["recorder"], severity="serious", status=status,
                                basis_date=D - timedelta(days=200)) for status in own]
    sanction = factories.sanction(world["subject"], start_date=D - timedelta(days=100), records=records)
    # The background unit has a published serious record of its own: never this unit's obstacle.
    factories.record(world["other"], world["recorder"], severity="serious", basis_date=D - timedelta(days=10))
    if other:
        factories.record(world["subject"], world["recorder"], severity=other[0], status=other[1],
                         basis_date=D - timedelta(days=10))
    assert eligibility.restoration_facts(sanction) == {"records_cleared": cleared,
                                                       "other_serious_active": other_active}


@pytest.mark.parametrize(("kind", "status"), [
    ("rectification_order", "active"),  # only an honour disqualification is restored
    ("public_criticism", "active"),  # a criticism is published, not restored
    ("honor_disqualification", "lifted"),  # already lifted
])
def test_restoration_verdict_only_for_an_active_disqualification(world, kind, status):
    sanction = factories.sanction(world["subject"], kind=kind, status=status, start_date=D)
    verdict = eligibility.restoration_verdict(sanction)
    assert (verdict.eligible, verdict.code) == (False, "status") and verdict.message
