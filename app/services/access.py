"""The one authorization path: who may see and do what (SPEC §1, QUALITY.md §3).

Objects outside a user's reach are reported as not found, never as forbidden, so nothing leaks.
"""
from __future__ import annotations

from sqlalchemy import Select, false, or_, select, true

from app.extensions import db
from app.models import RECORD_UNREGISTERED, Attachment, Case, CreditRecord, HumanTask, Letter, User
from app.core.errors import NotFound

STAFF_ROLES = ("intake", "approver")


def _reach(user: User, *, own_unit, made_by_unit):
    """Staff reach everything; an applicant what concerns its own unit; a verifier what its unit made (谁认定、谁修复).
    The conditions are built only for the roles the user holds."""
    if user.has_role(*STAFF_ROLES):
        return true()
    conditions = [condition() for role, condition in (("applicant", own_unit), ("verifier", made_by_unit))
                  if user.has_role(role)]
    return or_(*conditions) if conditions else false()


def reaches_all_records(user: User) -> bool:
    """Whether record_filter lets the user see every record (the credit office's staff)."""
    return user.has_role(*STAFF_ROLES)


def record_filter(user: User):
    """SQL condition for the records a user may see."""
    # The subject sees a record once the office has registered it; before that only its recording unit does.
    return _reach(user, own_unit=lambda: (CreditRecord.subject_unit_id == user.unit_id)
                  & CreditRecord.status.not_in(RECORD_UNREGISTERED),
                  made_by_unit=lambda: CreditRecord.recording_unit_id == user.unit_id)


def case_filter(user: User):
    """SQL condition for the cases a user may see (a verifier: submitted cases about records its unit made, and its
    own registration drafts). A registration case reaches the subject unit only once it registered the record."""
    return _reach(user, own_unit=lambda: (Case.applicant_unit_id == user.unit_id)
                  & ((Case.type != "registration") | (Case.outcome == "registered")),
                  made_by_unit=lambda: Case.record_id.in_(
                      select(CreditRecord.id).where(CreditRecord.recording_unit_id == user.unit_id))
                  & ((Case.status != "draft") | (Case.type == "registration")))


def task_filter(user: User):
    """SQL condition for the tasks a user may see and work: its lanes, and its unit where the lane is unit-bound."""
    conditions = []
    for role in user.roles:
        if role in STAFF_ROLES:
            conditions.append(HumanTask.lane == role)
        elif role in ("applicant", "verifier"):
            conditions.append((HumanTask.lane == role) & (HumanTask.candidate_unit_id == user.unit_id))
    return or_(*conditions) if conditions else false()


def visible_records(user: User) -> Select:
    return select(CreditRecord).where(record_filter(user))


def visible_cases(user: User) -> Select:
    return select(Case).where(case_filter(user))


def get_record(user: User, record_id: int) -> CreditRecord:
    """Load a record the user may see, else NotFound."""
    row = db.session.scalar(visible_records(user).where(CreditRecord.id == record_id))
    if row is None:
        raise NotFound()
    return row


def get_case(user: User, case_id: int) -> Case:
    """Load a case the user may see, else NotFound."""
    row = db.session.scalar(visible_cases(user).where(Case.id == case_id))
    if row is None:
        raise NotFound()
    return row


def supervised_filter(user: User):
    """Tasks a credit-office leader oversees (to reassign), beyond the ones they work themselves."""
    if user.has_role("approver"):
        return HumanTask.lane.in_(STAFF_ROLES)
    return false()


def get_task(user: User, task_id: str, *, supervise: bool = False) -> HumanTask:
    """Load a task the user may work (or, with supervise, oversee), in any state, else NotFound."""
    condition = or_(task_filter(user), supervised_filter(user)) if supervise else task_filter(user)
    row = db.session.scalar(select(HumanTask).where(HumanTask.id == str(task_id), condition))
    if row is None:
        raise NotFound()
    return row


def get_letter(user: User, letter_id: int) -> Letter:
    """Load a letter of a case the user may see, else NotFound."""
    row = db.session.scalar(select(Letter).join(Case).where(Letter.id == letter_id, case_filter(user)))
    if row is None:
        raise NotFound()
    return row


def get_attachment(user: User, attachment_id: str) -> Attachment:
    """Load an attachment of a case the user may see, else NotFound."""
    row = db.session.scalar(select(Attachment).join(Case).where(Attachment.id == str(attachment_id), case_filter(user)))
    if row is None:
        raise NotFound()
    return row


def can_see_internal(user: User) -> bool:
    """Internal opinions are for the credit office and the recording unit, not the applicant."""
    return user.has_role("intake", "approver", "verifier")
