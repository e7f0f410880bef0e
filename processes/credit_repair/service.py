"""The credit repair (SPEC §4.3): eligibility first, then the process and its effects."""
from __future__ import annotations

from flask_babel import gettext as _

from app.extensions import db
from app.models import Case, CaseEvent, User
from app.services import access, applications, audit, eligibility, publication, sanctions
from app.core.clock import local_date, now
from app.core.errors import Invalid
from processes.honor_restoration import service as restoration
from app.services.transitions import change_record_status


def create_repair(user: User, record_id: int, statement: str) -> Case:
    """Create a draft repair application, refusing at once (with the reason and date) when ineligible."""
    if not user.has_role("applicant"):
        raise Invalid(_("只有申请单位经办人可以申请信用修复。"), code="role")
    record = access.get_record(user, record_id)
    if record.subject_unit_id != user.unit_id:
        raise Invalid(_("只能为本单位的记录申请信用修复。"), code="not_own_record")
    verdict = eligibility.repair_verdict(record)
    if not verdict.eligible:
        fields = {"earliest_repair_date": verdict.earliest.isoformat()} if verdict.earliest else {}
        raise Invalid(verdict.message, code=f"not_eligible_{verdict.code}", fields=fields)
    statement = (statement or "").strip()
    if not statement:
        raise Invalid(_("请说明失信行为的纠正和义务履行情况。"), fields={"statement": _("必填")})
    if len(statement) > 4000:
        raise Invalid(_("说明不能超过 4000 字。"), fields={"statement": _("不超过 4000 字")})
    case = applications.new_draft(user, "repair", record, {"statement": statement})
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="created", to_status="draft",
                             comment="信用修复申请"))
    audit.record("case.create", object_type="case", object_id=case.id, details={"type": "repair", "record_id": record.id})
    return case


def _block(case: Case) -> str | None:
    verdict = eligibility.repair_verdict(case.record, ignore_case_id=case.id)
    return None if verdict.eligible else verdict.message


def _intake_decided(case: Case, user: User, values: dict) -> dict:
    if values["intake_choice"] == "request_supplement":
        return applications.request_supplement(case, user, values)
    return {}


def _apply_repair(case: Case, user_id: int | None) -> None:
    record = case.record
    change_record_status(record, "repaired", user_id=user_id, case_id=case.id,
                         reason=f"信用修复（{case.number}）：终止公示，停止共享")
    publication.push(record, "withdraw", case)
    # Every honour disqualification resting on this record gets a restoration case of its own.
    for sanction in sanctions.resting_on(record.id, kind="honor_disqualification", status="active"):
        restoration.start_restoration(sanction, "repair", user=None)


EFFECTS = {"apply_repair": _apply_repair}
HOOKS = {"repair_intake_review": _intake_decided, **applications.SUPPLEMENT_HOOKS}
APPLICATION = applications.ApplicationKind(
    materials={"evidence": _("已履行法定义务、纠正失信行为的证明材料"), "commitment": _("加盖公章的信用承诺书")},
    block=_block,
    # The process checks again with the same DMN table (SPEC §4.3.1), on the facts as of the local day of submission.
    start_data=lambda case: eligibility.repair_facts(case.record, local_date(case.submitted_at), ignore_case_id=case.id),
)
