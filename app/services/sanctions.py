"""Sanctions (惩戒措施): created, proposed, lifted — every change with history and audit (SPEC §2)."""
from __future__ import annotations

from sqlalchemy import false, or_, select, true
from sqlalchemy.orm import defer

from flask_babel import gettext as _

from app.extensions import db
from app.models import Case, CreditRecord, Letter, Sanction, User, sanction_record
from app.core.clock import now
from app.core.errors import Invalid
from app.services import rules
from app.services.transitions import change_sanction_status

# The letter types that are published on the public pages once issued (公开通报批评的通报).
PUBLISHED_LETTERS = ("public_criticism_decision",)


def catalogue(rule_set) -> dict:
    """The catalogue of measures of a rule set (rules.DEFAULT_POLICY["measures"] unless the rule set overrides it)."""
    return rules.policy(rule_set, "measures")


def measure(rule_set, kind: str) -> dict:
    """One measure of the catalogue, or Invalid when the rule set does not list it (no measure without a basis)."""
    found = catalogue(rule_set).get(kind)
    if not found:
        raise Invalid(_("惩戒措施“%(kind)s”不在规则集的惩戒措施目录中，不能实施。", kind=kind), code="unknown_measure")
    return found


def applicable(rule_set, kind: str, subject_type: str) -> dict:
    """The catalogue entry of a measure that applies to this kind of subject (unit / person), or Invalid."""
    entry = measure(rule_set, kind)
    if subject_type not in entry.get("applies_to", ()):
        raise Invalid(_("惩戒措施“%(name)s”不适用于该失信主体。", name=entry["name"]), code="measure_not_applicable")
    return entry


def standing(case: Case, kind: str) -> Sanction | None:
    """A measure of this kind already active or proposed on the case's record (never stacked a second time)."""
    return db.session.scalar(
        select(Sanction).join(sanction_record, sanction_record.c.sanction_id == Sanction.id)
        .where(sanction_record.c.record_id == case.record_id, Sanction.kind == kind,
               Sanction.status.in_(("active", "proposed"))).order_by(Sanction.id).limit(1))


def impose(kind: str, case: Case, *, status: str, user_id: int | None, reason: str) -> Sanction:
    """Create a sanction on the case's record and unit, active or proposed (flushes only).

    Only a measure in the rule set's catalogue that applies to the record's subject may be imposed.
    An honour disqualification lasts while its record may be published: its term ends with the
    record's automatic end date, when the worker opens a restoration.
    """
    from app.core.clock import local_today

    applicable(case.rule_set, kind, case.record.subject_type)
    term_end = case.record.auto_end_date if kind == "honor_disqualification" else None
    sanction = Sanction(kind=kind, unit_id=case.record.subject_unit_id, status=None, created_by_case_id=case.id,
                        start_date=local_today() if status == "active" else None, term_end=term_end,
                        created_at=now())
    sanction.records = [case.record]
    db.session.add(sanction)
    change_sanction_status(sanction, status, user_id=user_id, case_id=case.id, reason=reason)
    return sanction


def activate(sanction: Sanction, case: Case, *, user_id: int | None, reason: str) -> None:
    """Put a proposed sanction into force, from today (the decision date)."""
    from app.core.clock import local_today

    sanction.start_date = local_today()
    change_sanction_status(sanction, "active", user_id=user_id, case_id=case.id, reason=reason)


def lift(sanction: Sanction, case: Case, *, user_id: int | None, reason: str) -> None:
    """Lift an active sanction, naming the case that lifted it and why."""
    change_sanction_status(sanction, "lifted", user_id=user_id, case_id=case.id, reason=reason)


def of_case(case: Case, kind: str, status: str) -> list[Sanction]:
    """Sanctions of a kind and status that this case created."""
    return list(db.session.scalars(
        select(Sanction).where(Sanction.created_by_case_id == case.id, Sanction.kind == kind, Sanction.status == status)
    ))


def sanction_filter(user: User):
    """SQL condition for the sanctions a user may see: staff all, a unit its own, a verifier those on its records."""
    if user.has_role("intake", "approver"):
        return true()
    conditions = []
    if user.has_role("applicant"):
        conditions.append(Sanction.unit_id == user.unit_id)
    if user.has_role("verifier"):
        conditions.append(Sanction.id.in_(
            select(sanction_record.c.sanction_id).join(CreditRecord, CreditRecord.id == sanction_record.c.record_id)
            .where(CreditRecord.recording_unit_id == user.unit_id)
        ))
    return or_(*conditions) if conditions else false()


def visible_sanctions(user: User, unit_id: int | None = None) -> list[Sanction]:
    query = select(Sanction).where(sanction_filter(user))
    if unit_id is not None:
        query = query.where(Sanction.unit_id == unit_id)
    return list(db.session.scalars(query.order_by(Sanction.id.desc())))


def resting_on(record_id: int, *, kind: str, status: str) -> list[Sanction]:
    """Sanctions of a kind and status that rest on a record."""
    return list(db.session.scalars(
        select(Sanction).join(sanction_record, sanction_record.c.sanction_id == Sanction.id)
        .where(sanction_record.c.record_id == record_id, Sanction.kind == kind, Sanction.status == status)
    ))


def decline(sanction: Sanction, case: Case, *, user_id: int | None, reason: str) -> None:
    """A proposed sanction that the decision does not impose (从轻 or 免于惩戒)."""
    change_sanction_status(sanction, "declined", user_id=user_id, case_id=case.id, reason=reason)


def published_notices() -> list[Letter]:
    """The issued letters published on the public pages (通报), newest first."""
    return list(db.session.scalars(
        select(Letter).options(defer(Letter.pdf)).where(Letter.type.in_(PUBLISHED_LETTERS)).order_by(Letter.issued_at.desc(), Letter.id.desc())))


def published_notice(letter_id: int) -> Letter | None:
    letter = db.session.get(Letter, letter_id)
    return letter if letter is not None and letter.type in PUBLISHED_LETTERS else None
