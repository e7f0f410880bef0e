"""The restoration's task forms: 审核 and 审批."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.services.workflow.taskforms import Field, TaskForm, approval_form

AGREE_CHOICES = (("agree", _l("同意")), ("disagree", _l("不同意")))
RESTORATION_CHOICES = (("approve", _l("批准恢复")), ("refuse", _l("不予恢复")))

# The user tasks' names by BPMN id, for the interface language (the BPMN names them in Chinese only).
STEPS = {
    "review_restoration": _l("审核恢复申请"),
    "approve_restoration": _l("审批恢复"),
}

FORMS = (
    TaskForm(
        "review_restoration",
        (
            Field("restoration_review", _l("审核意见"), "choice", True, AGREE_CHOICES, routing=True),
            Field("opinion", _l("意见说明"), required=True),
        ),
    ),
    approval_form("approve_restoration", "restoration_approval", RESTORATION_CHOICES, refuse="refuse"),
)
