"""Applications filed by a unit (objection, repair, restoration): materials, submission, numbering, 补正."""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from app.extensions import db
from app.models import Attachment, Case, CaseEvent, CreditRecord, User
from app.services import access, attachments, audit, calendar, locks, rules, sequences
from app.core import clock
from app.core.clock import now
from app.core.errors import Conflict, Invalid
from app.services.workflow import registry
from app.services.workflow.run import start_process
from app.services.workflow.taskforms import Field, TaskForm
from app.services.transitions import change_case_status

@dataclass(frozen=True)
class ApplicationKind:
    materials: dict[str, str]  # attachment kind -> what the applicant must upload
    block: Callable[[Case], str | None]  # why the case cannot be submitted now (None when it can)
    start_data: Callable[[Case], dict] = field(default=lambda case: {})  # facts the process starts with


INTAKE_CHOICES = (("accept", _l("受理")), ("request_supplement", _l("要求补正")), ("reject", _l("不予受理")))
# 受理审查 is the same form for objections and repairs: accept, ask for 补正, or refuse.
INTAKE_FIELDS = (
    Field("intake_choice", _l("审查结论"), "choice", True, INTAKE_CHOICES, routing=True),
    Field("supplement_items", _l("需补正的材料"), required_if={"intake_choice": ("request_supplement",)}),
    Field("reason", _l("理由"), required_if={"intake_choice": ("reject", "request_supplement")}),
)
SUPPLEMENT_FORM = TaskForm("supplement_materials", (Field("statement", _l("补正说明"), required=True),), public=True)


def assign_number(case: Case) -> None:
    """Give a case its human number, e.g. YY-2026-000123 (gap-free per type and year)."""
    year = clock.local_today().year
    case.number = f"{registry.slice_for(case.type).case_prefix}-{year}-{sequences.next_number('case:' + case.type, year):06d}"


def missing_materials(case: Case) -> list[str]:
    """Name what a draft still lacks before it can be submitted."""
    kinds = set(db.session.scalars(select(Attachment.kind).where(Attachment.case_id == case.id)))
    return [f"{label}（{kind}）" for kind, label in registry.application(case.type).materials.items() if kind not in kinds]


def submit_case(user: User, case_id: int) -> Case:
    """Submit a complete draft: give it a number and start its process (flushes only)."""
    case = access.get_case(user, case_id)
    if case.applicant_unit_id != user.unit_id or not user.has_role("applicant"):
        raise Invalid(_("只有申请单位经办人可以提交本单位的申请。"), code="role")
    # A parallel submission (this draft twice, or another draft for the same record) waits here, then sees the
    # winner's case: the status and eligibility checks below read what it committed.
    locks.lock_record(case.record_id)
    try:
        db.session.refresh(case)
    except InvalidRequestError:  # the worker purged this long-idle draft while we waited for the lock
        raise Conflict(_("该草稿已因长期未提交被清理，请重新填写申请。"), code="draft_purged") from None
    if case.status != "draft":
        raise Conflict(_("该申请已提交，请勿重复提交。"), code="duplicate_submission")
    kind = registry.application(case.type)
    missing = missing_materials(case)
    if missing:
        raise Invalid(_("材料不全：缺少") + _("、").join(missing) + _("。"), code="missing_materials",
                      fields={"materials": _("、").join(missing)})
    block = kind.block(case)
    if block:
        raise Conflict(block, code="not_eligible")
    assign_number(case)
    case.submitted_at = now()
    change_case_status(case, "in_progress", user_id=user.id, reason="提交申请")
    try:
        db.session.flush()  # the database's own guard (one open objection per record) answers here
    except IntegrityError:
        raise Conflict(_("该记录已有正在办理的申请，本次提交未生效。"), code="duplicate_case") from None
    start_process(case, user, kind.start_data(case))
    return case


def new_draft(user: User, case_type: str, record: CreditRecord, form: dict) -> Case:
    """Create a draft application of the user's unit for a record (flushes only)."""
    case = Case(type=case_type, status="draft", record_id=record.id, applicant_unit_id=user.unit_id,
                created_by_id=user.id, rule_set_id=rules.rule_set_on(record.basis_date).id, form=form,
                query_code=secrets.token_hex(4).upper(), created_at=now())
    db.session.add(case)
    db.session.flush()
    return case


def request_supplement(case: Case, user: User, values: dict) -> dict:
    """Put a case into 补正 and return the deadline variable its boundary timer reads."""
    change_case_status(case, "supplement", user_id=user.id, reason="要求补正：" + values["supplement_items"],
                       step="intake_review")
    due = calendar.deadline(now(), rules.time_limit(case.rule_set, "supplement"))
    return {"supplement_due": due.due.isoformat()}


def supplied(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 补正: the case is back in progress."""
    change_case_status(case, "in_progress", user_id=user.id, reason="已补正材料", step="supplement_materials")
    return {}


SUPPLEMENT_HOOKS = {"supplement_materials": supplied}


# --- drafts never submitted -------------------------------------------------------------------------------------

def _stale_drafts():
    """Drafts never submitted, neither created nor given a file within DRAFT_PURGE_AFTER_DAYS."""
    cutoff = now() - timedelta(days=current_app.config["DRAFT_PURGE_AFTER_DAYS"])
    recent_file = select(Attachment.id).where(Attachment.case_id == Case.id, Attachment.uploaded_at >= cutoff).exists()
    return select(Case).where(Case.status == "draft", Case.submitted_at.is_(None), Case.created_at < cutoff,
                              ~recent_file)


def stale_draft_ids(limit: int) -> list[int]:
    """Up to `limit` drafts due for purging, oldest first."""
    return list(db.session.scalars(_stale_drafts().with_only_columns(Case.id).order_by(Case.id).limit(limit)))


def purge_draft(case_id: int) -> bool:
    """Delete a stale draft with its history, attachment rows and (once committed) files; audited (flushes).

    False when it is no longer due: submitted, given a file meanwhile, purged by another worker, or locked by a
    request working on it right now (PostgreSQL skips it; the next sweep looks again).
    """
    audit.lock_chain()  # first, as every audited transaction takes it (see audit.lock_chain)
    query = _stale_drafts().where(Case.id == case_id)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Case, skip_locked=True)
    case = db.session.scalar(query)
    if case is None:
        return False
    files = attachments.discard_case_files(case.id)
    details = {"type": case.type, "record_id": case.record_id, "unit_id": case.applicant_unit_id,
               "created_at": case.created_at.isoformat(), "after_days": current_app.config["DRAFT_PURGE_AFTER_DAYS"],
               "files": len(files), "bytes": sum(f["size"] for f in files), "attachments": files[:50]}
    db.session.execute(delete(CaseEvent).where(CaseEvent.case_id == case.id))
    db.session.execute(delete(Case).where(Case.id == case_id))
    audit.record("draft.purged", object_type="case", object_id=case_id, details=details)
    return True
