"""The rectification's task forms: 提交整改材料, 审核整改, 陈述申辩, 审查陈述申辩, 审批惩戒决定 (and the old diagram's
审批通报批评, kept for cases running on version 1)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.services.workflow.taskforms import Field, TaskForm, approval_form

REVIEW_CHOICES = (("accept", _l("整改通过")), ("return_for_rework", _l("退回重新整改")))
CRITICISM_CHOICES = (("approve", _l("批准通报批评")), ("decline", _l("不予通报批评")))
# The office's opinion after hearing the unit (随信用办〔2017〕9号 三（二）6: 从轻或免于实施失信惩戒措施).
OUTCOME_CHOICES = (("confirm", _l("维持拟采取的惩戒措施")), ("lighten", _l("从轻处理")), ("exempt", _l("免于惩戒")))
MEASURES_CHOICES = (("approve", _l("同意惩戒意见")), ("decline", _l("不同意，不予惩戒")))

# The user tasks' names by BPMN id, for the interface language (the BPMN names them in Chinese only).
STEPS = {
    "submit_rectification": _l("提交书面说明和整改报告"),
    "submit_late": _l("逾期提交书面说明和整改报告"),
    "state_case": _l("陈述申辩"),
    "review_statement": _l("审查陈述申辩，提出惩戒意见"),
    "approve_measures": _l("审批惩戒决定"),
    "review_rectification": _l("审核整改情况"),
}

FORMS = (
    TaskForm(
        "submit_rectification",
        (
            Field("explanation", _l("失信原因书面说明"), required=True),
            Field("report", _l("整改情况报告"), required=True),
        ),
        public=True,
    ),
    TaskForm(
        "review_rectification",
        (
            Field("review", _l("审核结论"), "choice", True, REVIEW_CHOICES, routing=True),
            Field("opinion", _l("审核意见"), required=True),
            Field("new_deadline_days", _l("重新整改期限（工作日）"), "text",
                  required_if={"review": ("return_for_rework",)}),
        ),
        public=True,
    ),
    TaskForm("state_case", (Field("statement", _l("陈述申辩意见"), required=True),), public=True),
    TaskForm(
        "review_statement",
        (
            Field("outcome", _l("惩戒意见"), "choice", True, OUTCOME_CHOICES, routing=True),
            Field("reasons", _l("理由"), required=True),
        ),
    ),
    approval_form("approve_measures", "measures_approval", MEASURES_CHOICES, refuse="decline"),
    approval_form("approve_public_criticism", "criticism", CRITICISM_CHOICES, refuse="decline"),
)
