"""Sanctions (惩戒措施): created, proposed, lifted — every change with history and audit (SPEC §2)."""
from __future__ import annotations

from sqlalchemy import false, or_, select, true

from app.extensions import db
from app.models import Case, CreditRecord, Sanction, User, sanction_record
from app.core.clock import now
from app.services.transitions import change_sanction_status


def impose(kind: str, case: Case, *, status: str, user_id: int | None, reason: str) -> Sanction:
    """Create a sanction on the case's record and unit, active or proposed (flushes only).

    An honour disqualification lasts while its record may be published: its term ends with the
    record's automatic end date, when the worker opens a restoration.
    """
    from app.core.clock import local_today

    term_end = case.record.auto_end_date if kind == "honor_disqualification" else None
    sanction = Sanction(kind=kind, unit_id=case.record.subject_unit_id, status=None, created_by_case_id=case.id,
                        start_date=local_today() if status == "active" else None, term_end=term_end,
                        created_at=now())
    sanction.records = [case.record]
    db.session.add(sanction)
    change_sanction_status(sanction, status, user_id=user_id, case_id=case.id, reason=reason)
    return sanction


def activate(sanction: Sanction, case: Case, *, user_id: int | None, reason: str) -> None:
    """Put a proposed sanction into force."""
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
