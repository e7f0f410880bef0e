"""The source change's task forms: 信用办核对文书并撤销或更正记录, 认定单位补正后重新报送."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.services.workflow.taskforms import Field, TaskForm

CHECK_CHOICES = (("pass", _l("符合")), ("fail", _l("不符合")))
CONCLUSION_CHOICES = (("apply", _l("照文书撤销或更正记录，告知主体")), ("return", _l("退回认定单位补正")))
CORRECTION_CHOICES = (("resubmit", _l("已补正，重新报送")), ("withdraw", _l("撤回报送")))

# The user tasks' names by BPMN id, for the interface language (the BPMN names them in Chinese only).
STEPS = {
    "apply_change": _l("信用办核对文书并撤销或更正记录"),
    "correct_change": _l("认定单位补正后重新报送"),
}

FORMS = (
    TaskForm(
        "apply_source_change",
        (
            Field("check_document", _l("撤销或变更文书已上传，文号、日期和内容与报送一致"), "choice", True, CHECK_CHOICES),
            Field("conclusion", _l("办理结论"), "choice", True, CONCLUSION_CHOICES, routing=True),
            Field("return_reasons", _l("退回理由（写明需补正的内容）"), required_if={"conclusion": ("return",)}),
            Field("opinion", _l("办理意见")),
        ),
        public=True,
    ),
    TaskForm(
        "correct_source_change",
        (
            Field("correction", _l("处理"), "choice", True, CORRECTION_CHOICES, routing=True),
            Field("statement", _l("补正说明或撤回理由"), required=True),
        ),
        public=True,
    ),
)
