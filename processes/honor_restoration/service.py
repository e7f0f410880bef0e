"""Restoring eligibility for honour evaluations (SPEC §4.4): three ways to start, DMN, effect."""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l
import secrets

from sqlalchemy import select

from app.extensions import db
from app.models import CASE_OPEN, Case, CaseEvent, Sanction, User
from app.services import applications, audit, eligibility, locks, rules, sanctions
from app.core import clock
from app.core.clock import now
from app.core.errors import Conflict, Invalid, NotFound
from app.services.workflow.run import start_process
from app.services.transitions import change_case_status

DUPLICATE = _l("该措施已有正在办理的恢复申请。")
TRIGGERS = {"applicant": "申请单位申请", "repair": "信用修复后自动发起", "timer": "惩戒期限届满自动发起"}


def open_case_for(sanction: Sanction) -> Case | None:
    return db.session.scalar(select(Case).where(
        Case.type == "restoration", Case.status.in_(CASE_OPEN),
        Case.form["sanction_id"].as_integer() == sanction.id))


def start_restoration(sanction: Sanction, trigger: str, *, user: User | None) -> Case:
    """Open and start a restoration case for one honour disqualification (flushes only)."""
    locks.lock_record(sanction.records[0].id)  # a parallel start for the same measure waits, then sees this case
    if open_case_for(sanction):
        raise Conflict(str(DUPLICATE), code="duplicate_restoration")
    record = sanction.records[0]
    case = Case(type="restoration", status="draft", record_id=record.id, applicant_unit_id=sanction.unit_id,
                created_by_id=user.id if user else None, rule_set_id=rules.rule_set_on(record.basis_date).id,
                form={"sanction_id": sanction.id, "trigger": trigger}, query_code=secrets.token_hex(4).upper(),
                created_at=now(), submitted_at=now())
    db.session.add(case)
    db.session.flush()
    applications.assign_number(case)
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id if user else None, action="created",
                             to_status="draft", comment=f"荣誉评选资格恢复：{TRIGGERS[trigger]}"))
    audit.record("case.create", object_type="case", object_id=case.id,
                 details={"type": "restoration", "sanction_id": sanction.id, "trigger": trigger})
    change_case_status(case, "in_progress", user_id=user.id if user else None, reason=TRIGGERS[trigger])
    start_process(case, user, {"trigger": trigger, **eligibility.restoration_facts(sanction)})
    return case


def apply_for_restoration(user: User, sanction_id: int) -> Case:
    """The applicant unit asks for its eligibility back; refused at once, with the reason, when not eligible."""
    if not user.has_role("applicant"):
        raise Invalid(_("只有申请单位经办人可以申请恢复荣誉评选资格。"), code="role")
    sanction = db.session.scalar(select(Sanction).where(Sanction.id == sanction_id,
                                                        sanctions.sanction_filter(user)))
    if sanction is None or sanction.unit_id != user.unit_id:
        raise NotFound()
    verdict = eligibility.restoration_verdict(sanction)
    if not verdict.eligible:
        raise Invalid(verdict.message, code=f"not_eligible_{verdict.code}")
    return start_restoration(sanction, "applicant", user=user)


def restoration_offer(sanction: Sanction) -> eligibility.Verdict:
    """Whether the unit's application would succeed now (the page offers the button only then), or why not: the
    verdict apply_for_restoration and start_restoration refuse with."""
    if open_case_for(sanction) is not None:
        return eligibility.Verdict(False, "open_case", str(DUPLICATE))
    return eligibility.restoration_verdict(sanction)


def start_due_restorations(limit: int = 200) -> int:
    """Worker: open a restoration for each disqualification whose term has ended (SPEC §4.4.1)."""
    today = clock.local_today()
    query = select(Sanction).where(
        Sanction.kind == "honor_disqualification", Sanction.status == "active",
        Sanction.term_end.is_not(None), Sanction.term_end < today).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # several workers: each sanction once
    due = db.session.scalars(query).all()
    started = 0
    for sanction in due:
        if open_case_for(sanction) is None and not _already_refused_for_term(sanction):
            start_restoration(sanction, "timer", user=None)
            started += 1
    return started


def _already_refused_for_term(sanction: Sanction) -> bool:
    # A timer-started case that found the unit ineligible is not reopened every sweep.
    return db.session.scalar(select(Case.id).where(
        Case.type == "restoration", Case.form["sanction_id"].as_integer() == sanction.id,
        Case.form["trigger"].as_string() == "timer").limit(1)) is not None


def _sanction_of(case: Case) -> Sanction:
    return db.session.get(Sanction, case.form["sanction_id"])


def _restore(case: Case, user_id: int | None) -> None:
    sanction = _sanction_of(case)
    if sanction.status == "active":
        sanctions.lift(sanction, case, user_id=user_id, reason=f"{case.number}：恢复荣誉评选资格")


EFFECTS = {"restore_honor": _restore}
