"""Rule sets as data (SPEC §3): the seeded national rule sets, time limits per rule set, new versions."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, RuleSet
from app.services import rules
from app.core.errors import Invalid
from tests.support.flows import open_order, timer, unit_record

# SPEC §3 "Default time limits", in working days; the steps SPEC leaves open are local defaults.
SPEC_TIME_LIMITS = [
    ("objection_intake", 2),  # objection: acceptance check (受理审查)
    ("objection_verify", 5),  # objection: verification by the recording unit (核查)
    ("objection_verify_extension", 5),  # objection: one extension of 核查, approved by the office (issue 13 §6)
    ("objection_draft", 2),  # objection: draft decision
    ("objection_approve", 2),  # objection: approval
    ("supplement", 5),  # applicant supplement (补正), then withdrawn
    ("repair_intake", 2),  # repair: acceptance check, as for objections
    ("repair_verify", 5),  # repair: recording unit's opinion
    ("repair_approve", 2),  # repair: approval
    ("repair_total", 10),  # repair: whole case
    ("rectification_default", 20),  # rectification: deadline set per case, default 20
    ("rectification_reminder", 3),  # rectification: reminder 3 working days before the deadline
    ("rectification_late", 10),  # local default: handling a late rectification submission
    ("rectification_review", 5),  # local default: reviewing the rectification
    ("rectification_criticism", 2),  # local default: approving a public criticism
    ("statement_window", 3),  # issue 13 §2: 陈述申辩 after the 拟惩戒告知书's delivery (local default)
    ("measures_review", 3),  # issue 13 §2: the office reviews the statement and proposes the decision
    ("restoration_review", 2),  # local default: restoration review
    ("restoration_approve", 2),  # local default: restoration approval
    ("push", 3),  # push of a result to the provincial platform within 3 working days
    ("registration_review", 3),  # local default: the office reviews a reported record
    ("registration_correction", 5),  # local default: the recording unit corrects a returned record
    ("publication_delay", 0),  # local default: published on the day it is registered
    ("source_change", 3),  # 上海条例第三十七条 (model): record revoked or corrected within 3 working days
]


def test_default_time_limits_are_the_specified_ones():
    assert rules.DEFAULT_TIME_LIMITS == dict(SPEC_TIME_LIMITS)


# SPEC §3 "Publication periods": (code, in force from, to, severity, min months, max months, published).
SPEC_PERIODS = [
    ("NDRC-58", date(2023, 5, 1), date(2026, 3, 31), "minor", 3, 12, True),  # 第58号令 has no minor class: as general
    ("NDRC-58", date(2023, 5, 1), date(2026, 3, 31), "general", 3, 12, True),  # 3 months min, 1 year max
    ("NDRC-58", date(2023, 5, 1), date(2026, 3, 31), "serious", 12, 36, True),  # 1 year min, 3 years max
    ("NDRC-36", date(2026, 4, 1), None, "minor", 0, 3, False),  # in principle not published, max 3 months
    ("NDRC-36", date(2026, 4, 1), None, "general", 3, 12, True),  # 3 months min, 1 year max
    ("NDRC-36", date(2026, 4, 1), None, "serious", 12, 36, True),  # 1 year min, 3 years max
]


@pytest.mark.parametrize(("code", "start", "end", "severity", "low", "high", "published"), SPEC_PERIODS)
def test_seeded_rule_sets_carry_the_specified_periods(app, code, start, end, severity, low, high, published):
    rules.seed_rule_sets()
    row = db.session.scalar(select(RuleSet).where(RuleSet.code == code))
    assert (row.effective_from, row.effective_to) == (start, end)
    assert row.name and row.legal_basis and row.time_limits == rules.DEFAULT_TIME_LIMITS
    assert row.repair_bar == {}  # no repeat-offence bar without a cited legal basis (令第36号第二条)
    assert row.periods[severity] == {"min_months": low, "max_months": high, "published": published}


def test_seeding_twice_adds_nothing(app):
    rules.seed_rule_sets()
    rules.seed_rule_sets()
    assert db.session.scalar(select(func.count()).select_from(RuleSet)) == 2


@pytest.mark.parametrize(("day", "code"), [
    (date(2023, 5, 1), "NDRC-58"),  # the first day of 第58号令
    (date(2026, 3, 31), "NDRC-58"),  # its last day
    (date(2026, 4, 1), "NDRC-36"),  # 第36号令 from 2026-04-01
    (date(2030, 1, 1), "NDRC-36"),  # open-ended
    (date(2020, 1, 1), "NDRC-58"),  # before any rule set: the earliest applies (records predate the data)
])
def test_rule_set_on(app, day, code):
    rules.seed_rule_sets()
    assert rules.rule_set_on(day).code == code


def test_rule_set_on_without_rule_sets(app):
    with pytest.raises(LookupError):
        rules.rule_set_on(date(2026, 4, 1))


@pytest.mark.parametrize(("code", "severity", "basis", "expected"), [
    ("NDRC-36", "general", date(2026, 4, 30), (date(2026, 7, 30), date(2027, 4, 30))),  # + 3 and + 12 months
    ("NDRC-36", "minor", date(2026, 5, 31), (date(2026, 5, 31), date(2026, 8, 31))),  # + 0 and + 3 months
    ("NDRC-58", "serious", date(2024, 2, 29), (date(2025, 2, 28), date(2027, 2, 28))),  # a leap day ends a month early
])
def test_publication_dates(app, code, severity, basis, expected):
    rules.seed_rule_sets()
    row = db.session.scalar(select(RuleSet).where(RuleSet.code == code))
    assert rules.publication_dates(row, severity, basis) == expected


@pytest.mark.parametrize(("limits", "key", "expected"), [
    ({"supplement": 7}, "supplement", 7),  # an edited limit wins over the default
    ({"supplement": 7}, "objection_verify", 5),  # a key the rule set lacks falls back to the local default
    ({"rectification_reminder": "4"}, "rectification_reminder", 4),  # stored as text, read as a number
    ({}, "push", 3),  # an empty table: every default
])
def test_time_limit_reads_the_rule_set(app, limits, key, expected):
    assert rules.time_limit(RuleSet(time_limits=limits), key) == expected


def test_rectification_reminder_follows_the_rule_set(api, seeded):
    """An edited reminder lead time is honoured: 5 working days before Friday 12-25 is Friday 12-18, 09:00 Beijing."""
    record = unit_record()
    record.rule_set.time_limits = {**record.rule_set.time_limits, "rectification_reminder": 5}
    db.session.commit()
    case = open_order(api, days=20, record=record)
    assert timer(case["id"], "rectification_reminder").fire_at.isoformat() == "2026-12-18T01:00:00+00:00"


# --- new rule-set versions -----------------------------------------------------------------------------------

PERIODS = {"minor": {"min_months": 0, "max_months": 3}, "general": {"min_months": 3, "max_months": 12},
           "serious": {"min_months": 12, "max_months": 36}}
GOOD = dict(code="LOCAL-2027", name="随州市规定", legal_basis="随信用办〔2026〕1号", effective_from=date(2027, 1, 1),
            periods=PERIODS, time_limits={"supplement": 7}, repair_bar={"repeat_within_months": 12, "legal_basis": "某法规第十条"})


def test_add_rule_set_closes_the_previous_one(app):
    rules.seed_rule_sets()
    row = rules.add_rule_set(**GOOD)
    assert row.id and row.effective_to is None
    assert row.time_limits == {**rules.DEFAULT_TIME_LIMITS, "supplement": 7}  # the rest from the defaults
    assert rules.rule_set_on(date(2026, 12, 31)).code == "NDRC-36"
    assert rules.rule_set_on(date(2027, 1, 1)).code == "LOCAL-2027"
    previous = db.session.scalar(select(RuleSet).where(RuleSet.code == "NDRC-36"))
    assert previous.effective_to == date(2026, 12, 31)  # the day before
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ruleset.add"))
    assert (event.object_id, event.details) == (str(row.id), {"code": "LOCAL-2027", "effective_from": "2027-01-01"})
    assert [r.code for r in rules.all_rule_sets()] == ["NDRC-58", "NDRC-36", "LOCAL-2027"]


def _periods(**changed) -> dict:
    return {**PERIODS, **changed}


BAD_RULE_SETS = [
    (dict(code=" "), "code"),  # a code is required
    (dict(code="NDRC-36"), "code"),  # and must be new
    (dict(name=" "), "name"),  # a name is required
    (dict(legal_basis=""), "name"),  # and a legal basis
    (dict(effective_from=date(2026, 4, 1)), "effective_from"),  # not on the current one's first day
    (dict(effective_from=date(2026, 3, 1)), "effective_from"),  # nor before it
    (dict(periods=_periods(minor={"min_months": 4, "max_months": 3})), "minor"),  # min above max
    (dict(periods=_periods(general={"min_months": -1, "max_months": 3})), "general"),  # negative
    (dict(periods=_periods(serious={"min_months": 12, "max_months": 121})), "serious"),  # over 120 months
    (dict(periods=_periods(serious={"min_months": "12", "max_months": 36})), "serious"),  # not a number
    (dict(periods={"minor": PERIODS["minor"], "general": PERIODS["general"]}), "serious"),  # a severity missing
    (dict(periods={"general": PERIODS["general"], "serious": PERIODS["serious"]}), "minor"),  # another
    (dict(periods={"minor": PERIODS["minor"], "serious": PERIODS["serious"]}), "general"),  # and the third
    (dict(time_limits={"supplement": 0}), "time_limits"),  # at least one working day
    (dict(time_limits={"supplement": 367}), "time_limits"),  # at most 366
    (dict(time_limits={"supplement": "5"}), "time_limits"),  # a number
]


@pytest.mark.parametrize(("changed", "field"), BAD_RULE_SETS)
def test_add_rule_set_refuses_and_changes_nothing(app, changed, field):
    rules.seed_rule_sets()
    with pytest.raises(Invalid) as refused:
        rules.add_rule_set(**{**GOOD, **changed})
    assert list(refused.value.fields) == [field] and "未保存" in refused.value.message
    assert db.session.scalar(select(func.count()).select_from(RuleSet)) == 2
    assert db.session.scalar(select(RuleSet).where(RuleSet.code == "NDRC-36")).effective_to is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ruleset.add")) is None


@pytest.mark.parametrize("changed", [
    dict(periods=_periods(minor={"min_months": 0, "max_months": 0})),  # 0–0: never published
    dict(periods=_periods(serious={"min_months": 120, "max_months": 120})),  # the 120-month ceiling
    dict(time_limits={"supplement": 1}),  # one working day
    dict(time_limits={"supplement": 366}),  # a year of working days at most
])
def test_add_rule_set_accepts_the_limits(app, changed):
    rules.seed_rule_sets()
    assert rules.add_rule_set(**{**GOOD, **changed}).id


def test_first_rule_set_on_an_empty_table(app):
    row = rules.add_rule_set(**GOOD)
    assert rules.rule_set_on(date(2027, 1, 1)) == row and row.effective_to is None
