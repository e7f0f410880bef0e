"""Eligibility: may a record be repaired, may an honour disqualification end, is a unit eligible on a date.

Python computes the facts (dates, other records, open cases); the DMN tables in processes/ decide,
both here before a form opens and again inside the BPMN processes.
"""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l
from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from app.engine import decisions
from app.engine.definitions import latest_definition
from app.extensions import db
from app.models import CASE_PENDING, RECORD_PUBLIC, RECORD_SETTLED, Case, CreditRecord, RecordHistory, Sanction
from app.core import clock
from app.services import letters, rules

REPAIRABLE = RECORD_SETTLED
CLEARED = ("repaired", "revoked", "expired")
LIVE = RECORD_PUBLIC
OPEN_CASE = CASE_PENDING


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    code: str  # the DMN's reason code
    message: str  # what the applicant reads
    earliest: date | None = None  # when min_period is the obstacle


def _decide(process_key: str, decision_id: str, facts: dict) -> dict:
    definition = latest_definition(process_key)
    filename = f"{decision_id}.dmn"
    if definition is None or filename not in definition.sources:
        raise RuntimeError(f"{process_key} with {filename} is not deployed (flask --app wsgi processes deploy)")
    return decisions.evaluate(decision_id, definition.sources[filename], facts)


def repair_reading(record: CreditRecord, today: date) -> dict:
    """Which rule set and reading decide this record's repair on `today` (LAW.md "Transition ❓").

    A record dated before the rule set now in force: its reading ("transition" policy of the rule set in force) is
    "favourable" — the rule more favourable to the subject (the earlier repair date, a bar only if both bar) — or
    "basis_date" — the record's own rule set alone. Plain data, recorded on the repair case."""
    own = record.rule_set
    try:
        current = rules.rule_set_on(today)
    except LookupError:
        current = own
    reading = str(rules.policy(current, "transition")) if current.id != own.id else "basis_date"
    if reading not in rules.TRANSITION_READINGS:
        reading = "favourable"
    earliest = record.earliest_repair_date
    barred = repeat_offence(record) is not None
    applied = own
    if current.id != own.id and reading == "favourable":
        later_earliest = rules.publication_dates(current, record.severity, record.basis_date)[0]
        if later_earliest < earliest:
            earliest, applied = later_earliest, current
        barred = barred and repeat_offence(record, current) is not None
    return {"record_rule_set": own.code, "current_rule_set": current.code, "reading": reading,
            "applied_rule_set": applied.code, "earliest_repair_date": earliest, "barred": barred}


def repair_facts(record: CreditRecord, today: date, *, ignore_case_id: int | None = None) -> dict:
    """Facts for repair_eligibility.dmn (SPEC §4.3.1)."""
    rectification_ordered = db.session.scalar(select(Case.id).where(
        Case.record_id == record.id, Case.type == "rectification", Case.status != "draft").limit(1)) is not None
    # An objection or repair filed and not yet finished (a draft is not filed), other than the one being checked.
    open_cases = select(Case.id).where(
        Case.record_id == record.id, Case.type.in_(("objection", "repair")), Case.status.in_(OPEN_CASE[1:]))
    if ignore_case_id is not None:
        open_cases = open_cases.where(Case.id != ignore_case_id)
    open_case = db.session.scalar(open_cases.limit(1)) is not None
    reading = repair_reading(record, today)
    return {
        "min_period_passed": today >= reading["earliest_repair_date"],
        "rectification_ok": (not rectification_ordered) or record.rectified_at is not None,
        "open_case": open_case,
        "barred": reading["barred"],
    }


def repeat_offence(record: CreditRecord, rule_set=None) -> CreditRecord | None:
    """Another record of the same unit and category within the rule set's window after this one.

    Only a bar that cites its legal basis applies (令第36号第二条: not repairable only where law, regulation or a
    党中央/国务院 document says so); there is none by default."""
    bar = (rule_set or record.rule_set).repair_bar or {}
    months = bar.get("repeat_within_months")
    if not months or not str(bar.get("legal_basis") or "").strip():
        return None
    return db.session.scalar(select(CreditRecord).where(
        CreditRecord.subject_unit_id == record.subject_unit_id, CreditRecord.category == record.category,
        CreditRecord.id != record.id, CreditRecord.status != "revoked",
        CreditRecord.basis_date > record.basis_date,
        CreditRecord.basis_date <= record.basis_date + relativedelta(months=months),
    ).limit(1))


REPAIR_MESSAGES = {
    "min_period": _l("最短公示期未满，暂不能申请信用修复。"),
    "rectification": _l("该记录被责令限期整改，整改尚未通过审核，暂不能申请信用修复。"),
    "open_case": _l("该记录已有正在办理的异议或信用修复申请。"),
    "barred": _l("该单位在规定期限内再次发生同类失信行为，依规则集载明的依据不予修复。"),
    "eligible": _l("符合信用修复申请条件。"),
}


def repair_verdict(record: CreditRecord, today: date | None = None, *, ignore_case_id: int | None = None) -> Verdict:
    """Say whether the record may be repaired now, why not, and from when."""
    today = today or clock.local_today()
    if record.status not in REPAIRABLE:
        return Verdict(False, "status", _("该记录当前状态为“%(status)s”，无需或不能申请信用修复。", status=record.status_label))
    result = _decide("credit_repair", "repair_eligibility", repair_facts(record, today, ignore_case_id=ignore_case_id))
    code = result["ineligible_reason"]
    message = str(REPAIR_MESSAGES[code])
    earliest = repair_reading(record, today)["earliest_repair_date"] if code == "min_period" else None
    if earliest:
        message += _("最早可于%(day)s申请。", day=letters.chinese_date(earliest))
    return Verdict(bool(result["eligible"]), code, message, earliest)


def _other_serious(sanction: Sanction):
    """The unit's other serious records still published, beside the ones the measure rests on."""
    return select(CreditRecord).where(
        CreditRecord.subject_unit_id == sanction.unit_id, CreditRecord.severity == "serious",
        CreditRecord.status.in_(LIVE), CreditRecord.id.not_in({r.id for r in sanction.records}))


def restoration_facts(sanction: Sanction) -> dict:
    """Facts for restoration_eligibility.dmn (SPEC §4.4.2)."""
    other_serious = db.session.scalar(_other_serious(sanction).with_only_columns(CreditRecord.id).limit(1))
    return {
        "records_cleared": all(r.status in CLEARED for r in sanction.records),
        "other_serious_active": other_serious is not None,
    }


def _restoration_earliest(sanction: Sanction, code: str) -> date | None:
    """The first day the records in the way have left publication by themselves: a record expires the day after its
    maximum period ends (publication.expire_records). Repaired or revoked sooner, they stop blocking sooner."""
    if code == "records_active":
        ends = [r.auto_end_date for r in sanction.records if r.status not in CLEARED]
    elif code == "other_serious":
        ends = list(db.session.scalars(_other_serious(sanction).with_only_columns(CreditRecord.auto_end_date)))
    else:
        return None
    return max(ends) + timedelta(days=1) if ends else None


RESTORATION_MESSAGES = {
    "records_active": _l("取消荣誉评选资格所依据的失信记录尚未修复、撤销或届满。"),
    "other_serious": _l("该单位另有严重失信记录正在公示。"),
    "eligible": _l("符合恢复荣誉评选资格的条件。"),
}


def restoration_verdict(sanction: Sanction) -> Verdict:
    """Say whether an honour disqualification may be lifted now, why not, and from when."""
    if sanction.kind != "honor_disqualification" or sanction.status != "active":
        return Verdict(False, "status", _("该措施不是实施中的“取消荣誉评选资格”。"))
    result = _decide("honor_restoration", "restoration_eligibility", restoration_facts(sanction))
    code = result["ineligible_reason"]
    message = str(RESTORATION_MESSAGES[code])
    earliest = None if result["eligible"] else _restoration_earliest(sanction, code)
    if earliest:
        message += _("届时未修复、撤销的，最早可于%(day)s申请。", day=letters.chinese_date(earliest))
    return Verdict(bool(result["eligible"]), code, message, earliest)


@dataclass(frozen=True)
class HonourAnswer:
    eligible: bool
    sanctions: list[Sanction]
    records: list[CreditRecord]


def _left_publication_on(record: CreditRecord) -> date | None:
    """The date a record stopped being published (None while it still is)."""
    if record.status not in CLEARED:
        return None
    ended = db.session.scalar(select(RecordHistory).where(
        RecordHistory.record_id == record.id, RecordHistory.to_status.in_(CLEARED)).order_by(RecordHistory.id).limit(1))
    return clock.local_date(ended.at if ended else record.updated_at)


def honour_eligibility(unit_id: int, day: date) -> HonourAnswer:
    """Is the unit eligible for honour evaluation on `day`, and which sanctions and records stand in the way."""
    blocking_sanctions = []
    for sanction in db.session.scalars(select(Sanction).where(
            Sanction.unit_id == unit_id, Sanction.kind == "honor_disqualification",
            Sanction.status.in_(("active", "lifted")))):
        started = sanction.start_date is not None and sanction.start_date <= day
        lifted = sanction.lifted_at is not None and clock.local_date(sanction.lifted_at) <= day
        expired = sanction.term_end is not None and sanction.term_end < day
        if started and not lifted and not expired:
            blocking_sanctions.append(sanction)
    blocking_records = []
    for record in db.session.scalars(select(CreditRecord).where(
            CreditRecord.subject_unit_id == unit_id, CreditRecord.severity == "serious",
            CreditRecord.publication_start <= day, CreditRecord.auto_end_date >= day)):
        left = _left_publication_on(record)
        if left is None or left > day:
            blocking_records.append(record)
    return HonourAnswer(not blocking_sanctions and not blocking_records, blocking_sanctions, blocking_records)
