"""Applications filed by a unit (objection, repair, restoration): materials, submission, numbering, 补正."""
from __future__ import annotations

import functools
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from app.extensions import db
from app.letters.commitment import render_commitment_pdf
from app.models import Attachment, Case, CaseEvent, CreditRecord, User
from app.services import access, attachments, audit, calendar, letters, locks, rules, sequences
from app.core import clock
from app.core.clock import now
from app.core.errors import Conflict, Invalid
from app.services.workflow import registry
from app.services.workflow.run import last_values, start_process
from app.services.workflow.taskforms import Field, TaskForm
from app.services.transitions import change_case_status

@dataclass(frozen=True)
class Commitment:
    """The 信用承诺书 an application carries, as the blank form the unit downloads, fills in, signs and seals."""
    title: str
    paragraphs: tuple[str, ...]  # a run of underscores is a blank to fill in


@dataclass(frozen=True)
class ApplicationKind:
    materials: dict[str, str]  # attachment kind -> what the applicant must upload
    block: Callable[[Case], str | None]  # why the case cannot be submitted now (None when it can)
    start_data: Callable[[Case], dict] = field(default=lambda case: {})  # facts the process starts with
    commitment: Commitment | None = None  # the template of its "commitment" material


# The signature block every commitment ends with: who signs for the unit, its seal and the date.
COMMITMENT_SIGNATURE = ("法定代表人（负责人）签字：＿＿＿＿", "经办人及联系电话：＿＿＿＿＿＿", "单位（盖章）",
                        "＿＿＿＿年＿＿月＿＿日")


def commitment_form(case_type: str) -> tuple[str, bytes] | None:
    """The blank commitment of an application type as (title, PDF); None when the type carries none."""
    try:
        kind = registry.application(case_type)
    except KeyError:  # not a process type at all
        return None
    commitment = kind.commitment if kind else None
    if commitment is None:
        return None
    return commitment.title, _commitment_pdf(commitment, current_app.config["ISSUER_NAME"])


@functools.lru_cache(maxsize=8)
def _commitment_pdf(commitment: Commitment, office: str) -> bytes:
    # The same text makes the same bytes: rendered once per process, not per download.
    return render_commitment_pdf({"title": commitment.title, "addressee": office,
                                  "paragraphs": commitment.paragraphs, "signature": COMMITMENT_SIGNATURE})


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


def missing_materials(case: Case) -> dict[str, str]:
    """What a draft still lacks before it can be submitted: the kind of material (a form's file field) and its name."""
    kinds = set(db.session.scalars(select(Attachment.kind).where(Attachment.case_id == case.id)))
    return {kind: str(label) for kind, label in registry.application(case.type).materials.items() if kind not in kinds}


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
        raise Invalid(_("材料不全：缺少") + _("、").join(missing.values()) + _("。"), code="missing_materials",
                      fields={kind: _("请上传%(name)s。", name=label) for kind, label in missing.items()})
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
    """Put a case into 补正 (once per case), issue the 补正通知书 listing what to supply, and return the deadline
    variable its boundary timer reads."""
    asked = db.session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case.id,
                                                         CaseEvent.to_status == "supplement").limit(1))
    if asked:
        raise Conflict(_("本件已要求过一次补正，不能再次要求补正；材料仍不符合要求的，请作出受理或不予受理的决定。"),
                       code="supplement_once", fields={"intake_choice": _("补正只能要求一次")})
    change_case_status(case, "supplement", user_id=user.id, reason="要求补正：" + values["supplement_items"],
                       step="intake_review")
    days = rules.time_limit(case.rule_set, "supplement")
    due = calendar.deadline(now(), days)
    letters.issue_letter(case, "supplement_notice", user_id=user.id,
                         context=supplement_context(case, values["supplement_items"], values.get("reason", ""),
                                                    due.due_date))
    return {"supplement_due": due.due.isoformat()}


def supplement_request(case: Case) -> dict | None:
    """What a case in 补正 was asked to supply and why, as the intake wrote it (None when it is not in 补正)."""
    if case.status != "supplement":
        return None
    values = last_values(case, "intake_review")
    return {"items": values.get("supplement_items", "").strip(), "reason": (values.get("reason") or "").strip()}


def supplied(case: Case, user: User, values: dict) -> dict:
    """Completion hook of 补正: the case is back in progress."""
    change_case_status(case, "in_progress", user_id=user.id, reason="已补正材料", step="supplement_materials")
    return {}


# --- the letters of 补正 (shared by every application: each slice spreads SUPPLEMENT_LETTERS into its LETTERS) ------

def supplement_context(case: Case, items: str, reason: str, due) -> dict:
    days = rules.time_limit(case.rule_set, "supplement")
    return {"items": items.strip(), "reason": (reason or "").strip().rstrip("。"), "due": due, "days": days,
            "deadline": letters.from_delivery(days), "what": _application_word(case)}


def _application_word(case: Case) -> str:
    return {"objection": "异议申请", "repair": "信用修复申请"}.get(case.type, "申请")


def _asked(case: Case) -> dict:
    """What the 补正 request said (for the 视为撤回告知书 and for a preview of the 补正通知书)."""
    values = last_values(case, "intake_review")
    due = None
    running = ((case.form or {}).get("deadlines") or {}).get("supplement_due") or {}
    if running.get("due"):  # counted from the 补正通知书's delivery (送达)
        due = clock.local_date(datetime.fromisoformat(running["due"]))
    else:
        event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                          CaseEvent.to_status == "supplement")
                                  .order_by(CaseEvent.id.desc()).limit(1))
        if event is not None:
            due = calendar.deadline(event.at, rules.time_limit(case.rule_set, "supplement")).due_date
    return supplement_context(case, values.get("supplement_items", ""), values.get("reason", ""),
                              due or clock.local_today())


SUPPLEMENT_NOTICE = """
你单位于{{ submitted }}提交的关于{{ record }}的{{ what }}（受理编号：{{ case_number }}）收悉。
经审查，申请材料不齐全或者不符合要求{% if reason %}（{{ reason }}）{% endif %}。根据{{ law.plan }}的有关规定，请补正以下材料：

{{ items }}

请{{ deadline }}，通过“信用随州”网站本件办理页面一次性提交补正材料和补正说明。补正材料齐全后，
本办重新进行受理审查。

逾期未补正的，视为撤回申请，本办将书面告知。你单位可凭受理编号和查询码（{{ query_code }}）查询办理进度。
"""

WITHDRAWN_NOTICE = """
你单位于{{ submitted }}提交的关于{{ record }}的{{ what }}（受理编号：{{ case_number }}），本办已以补正通知书告知需补正的材料
（{{ items }}）和补正期限（自补正通知书送达之日起计算，最后一日为{{ date(due) }}）。

补正期限届满，你单位未提交补正材料。根据{{ law.plan }}及有关规定，视为你单位撤回该{{ what }}，本办不再办理。

{% if what == "异议申请" %}该记录的“异议中”标注同时撤销，恢复原公示状态。{% endif %}你单位仍可依照规定重新提出申请。

{{ challenge }}
"""

def _recording_unit(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


SUPPLEMENT_LETTERS = {
    "supplement_notice": letters.LetterType(
        "补正通知书", "补正", SUPPLEMENT_NOTICE, "特此通知。", context=_asked, cc=_recording_unit,
        starts={"supplement_due": lambda case: rules.time_limit(case.rule_set, "supplement")}),
    "withdrawn_notice": letters.LetterType("视为撤回告知书", "撤回", WITHDRAWN_NOTICE, "特此告知。", context=_asked,
                                           decides=True, cc=_recording_unit),
}


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
