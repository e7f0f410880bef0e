"""The credit repair's task forms: 受理审查 and 补正 (shared with objections), 认定单位意见, 审批."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.services.applications import INTAKE_FIELDS, SUPPLEMENT_FORM
from app.services.workflow.taskforms import Field, TaskForm

AGREE_CHOICES = (("agree", _l("同意")), ("disagree", _l("不同意")))
# Which of these the approver may choose follows the recording unit's opinion (service.allowed_decisions, checked on
# completion): 同意 → 准予修复 | 不予修复; 不同意 → 不予修复 | 退回申请单位补充材料 | 退回认定单位重新出具意见.
REPAIR_CHOICES = (("approve", _l("准予修复")), ("refuse", _l("不予修复")),
                  ("return_applicant", _l("退回申请单位补充材料")), ("return_verifier", _l("退回认定单位重新出具意见")))



def approval_choices(case) -> dict:
    """The 审批 choices this case allows (the recording unit's opinion decides), for the form shown; the completion
    hook (service._approval_decided) refuses any other choice."""
    from processes.credit_repair.service import allowed_decisions

    allowed = allowed_decisions(case)
    return {"repair_decision": tuple(c for c in REPAIR_CHOICES if c[0] in allowed)}


# The user tasks' names by BPMN id, for the interface language (the BPMN names them in Chinese only).
STEPS = {
    "intake_review": _l("受理审查"),
    "supplement_materials": _l("补正材料"),
    "verify_repair": _l("认定单位出具修复意见"),
    "approve_repair": _l("审批修复申请"),
    "more_materials": _l("补充修复材料"),
}

FORMS = (
    TaskForm("repair_intake_review", INTAKE_FIELDS, public=True),
    SUPPLEMENT_FORM,
    TaskForm(
        "verify_repair",
        (
            Field("verifier_opinion", _l("认定单位意见"), "choice", True, AGREE_CHOICES),
            Field("opinion", _l("意见说明"), required=True),
        ),
    ),
    TaskForm(
        "approve_repair",
        (
            Field("repair_decision", _l("审批结论"), "choice", True, REPAIR_CHOICES, routing=True),
            Field("reasons", _l("理由（退回补充材料时写明需补充的材料）"), required=True),
        ),
        choices_for=approval_choices,  # only what the recording unit's opinion leaves (谁认定、谁修复)
    ),
)
