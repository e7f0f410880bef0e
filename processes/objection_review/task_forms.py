"""The objection review's task forms: 受理审查 and 补正 (shared with repairs), 核查, 拟定处理意见, 审批."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.services.applications import INTAKE_FIELDS, SUPPLEMENT_FORM
from app.services.workflow.taskforms import Field, TaskForm, approval_form
from app.models.records import CATEGORIES
from processes.objection_review.service import DECISION_LABELS, PROPOSALS, current_facts, decision_choices

VERIFY_CHOICES = (("error_confirmed", _l("确认有误")), ("no_error", _l("核实无误")), ("cannot_confirm", _l("无法确认")))
DECISION_CHOICES = DECISION_LABELS
APPROVAL_CHOICES = (("approve", _l("批准")), ("return", _l("退回修改")))
SEVERITY_CHOICES = (("minor", _l("轻微")), ("general", _l("一般")), ("serious", _l("严重")))
CATEGORY_CHOICES = tuple(CATEGORIES.items())

# The user tasks' names by BPMN id, for the interface language (the BPMN names them in Chinese only).
STEPS = {
    "intake_review": _l("受理审查"),
    "supplement_materials": _l("补正材料"),
    "verify_record": _l("认定单位核查"),
    "draft_decision": _l("拟定处理意见"),
    "approve_decision": _l("审批处理决定"),
}

FORMS = (
    TaskForm("objection_intake_review", INTAKE_FIELDS, public=True),
    SUPPLEMENT_FORM,
    TaskForm(
        "verify_record",
        (
            Field("verify_choice", _l("核查结论"), "choice", True, VERIFY_CHOICES, routing=True),
            Field("opinion", _l("核查意见"), required=True),
            # 确认有误: what the recording unit decides (谁认定、谁更正) — 更正 with the corrected values (unchanged
            # ones left empty), or 撤销. The service requires it (a court's answer may leave it to the court's order).
            Field("proposal", _l("处理建议（确认有误时填写）"), "choice", choices=PROPOSALS),
            Field("corrected_facts", _l("更正后的失信事实")),
            Field("corrected_basis_doc_no", _l("更正后的认定文书号"), "text"),
            Field("corrected_basis_date", _l("更正后的认定文书日期（如 2026-04-01）"), "text"),
            Field("corrected_category", _l("更正后的失信类别"), "choice", choices=CATEGORY_CHOICES),
            Field("corrected_severity", _l("更正后的失信程度"), "choice", choices=SEVERITY_CHOICES),
            Field("corrected_legal_basis", _l("更正后的认定依据")),
        ),
        initial_for=current_facts,  # the corrected content starts from the record as it stands
    ),
    TaskForm(
        "draft_decision",
        (
            Field("decision", _l("处理意见"), "choice", True, DECISION_CHOICES, routing=True),
            Field("reasons", _l("理由"), required=True),
        ),
        choices_for=decision_choices,  # only what the recording unit's answer leaves (谁认定、谁更正)
    ),
    approval_form("approve_decision", "approval", APPROVAL_CHOICES, refuse="return"),
)
