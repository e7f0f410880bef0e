"""The registration's task forms: 信用办审核登记 (the five checks and the conclusion), 认定单位修改后重新报送."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.services.workflow.taskforms import Field, TaskForm

REVIEW_CHOICES = (("accept", _l("予以登记，告知主体并公示")), ("return", _l("退回认定单位修改")))
CHECK_CHOICES = (("pass", _l("符合")), ("fail", _l("不符合")))
CORRECTION_CHOICES = (("resubmit", _l("已修改，重新报送")), ("withdraw", _l("撤回报送")))

# The user tasks' names by BPMN id, for the interface language (the BPMN names them in Chinese only).
STEPS = {
    "office_review": _l("信用办审核登记"),
    "correct_record": _l("认定单位修改后重新报送"),
}

FORMS = (
    TaskForm(
        "office_review",
        (
            Field("check_complete", _l("材料完整（认定文书已上传，要素齐全）"), "choice", True, CHECK_CHOICES),
            Field("check_subject", _l("主体匹配（单位或人员与认定文书一致）"), "choice", True, CHECK_CHOICES),
            Field("check_duplicate", _l("无重复登记"), "choice", True, CHECK_CHOICES),
            Field("check_legal_basis", _l("法律依据明确"), "choice", True, CHECK_CHOICES),
            Field("check_severity", _l("失信程度认定适当"), "choice", True, CHECK_CHOICES),
            Field("review", _l("审核结论"), "choice", True, REVIEW_CHOICES, routing=True),
            Field("return_reasons", _l("退回理由（逐项写明需修改的内容）"), required_if={"review": ("return",)}),
            Field("opinion", _l("审核意见")),
        ),
        public=True,
    ),
    TaskForm(
        "correct_record",
        (
            Field("correction", _l("处理"), "choice", True, CORRECTION_CHOICES, routing=True),
            Field("statement", _l("修改说明或撤回理由"), required=True),
        ),
        public=True,
    ),
)
