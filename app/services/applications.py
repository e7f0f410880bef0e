"""Applications filed by a unit (objection, repair, restoration): materials, submission, numbering, 补正."""
from __future__ import annotations

import secrets

from flask_babel import gettext as _
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, Case, CreditRecord, User
from app.services import access, calendar, clock, rules, sequences
from app.services.clock import now
from app.services.errors import Conflict, Invalid
from app.services.process import completion_hook, start_process
from app.services.transitions import change_case_status

CASE_PREFIX = {"objection": "YY", "rectification": "ZG", "repair": "XF", "restoration": "HF"}


@dataclass(frozen=True)
class ApplicationKind:
    materials: dict[str, str]  # attachment kind -> what the applicant must upload
    block: Callable[[Case], str | None]  # why the case cannot be submitted now (None when it can)
    start_data: Callable[[Case], dict] = field(default=lambda case: {})  # facts the process starts with


KINDS: dict[str, ApplicationKind] = {}


def assign_number(case: Case) -> None:
    """Give a case its human number, e.g. YY-2026-000123 (gap-free per type and year)."""
    year = clock.local_today().year
    case.number = f"{CASE_PREFIX[case.type]}-{year}-{sequences.next_number('case:' + case.type, year):06d}"


def missing_materials(case: Case) -> list[str]:
    """Name what a draft still lacks before it can be submitted."""
    kinds = set(db.session.scalars(select(Attachment.kind).where(Attachment.case_id == case.id)))
    return [f"{label}（{kind}）" for kind, label in KINDS[case.type].materials.items() if kind not in kinds]


def submit_case(user: User, case_id: int) -> Case:
    """Submit a complete draft: give it a number and start its process (flushes only)."""
    case = access.get_case(user, case_id)
    if case.applicant_unit_id != user.unit_id or not user.has_role("applicant"):
        raise Invalid(_("只有申请单位经办人可以提交本单位的申请。"), code="role")
    if case.status != "draft":
        raise Conflict(_("该申请已提交，请勿重复提交。"), code="duplicate_submission")
    kind = KINDS[case.type]
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


@completion_hook("supplement_materials")
def _supplied(case: Case, user: User, values: dict) -> dict:
    change_case_status(case, "in_progress", user_id=user.id, reason="已补正材料", step="supplement_materials")
    return {}
