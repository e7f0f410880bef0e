"""The rectification's task forms: 提交整改材料, 审核整改, 审批通报批评."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.services.workflow.taskforms import Field, TaskForm, approval_form

REVIEW_CHOICES = (("accept", _l("整改通过")), ("return_for_rework", _l("退回重新整改")))
CRITICISM_CHOICES = (("approve", _l("批准通报批评")), ("decline", _l("不予通报批评")))

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
    approval_form("approve_public_criticism", "criticism", CRITICISM_CHOICES, refuse="decline"),
)
