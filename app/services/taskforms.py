"""Task forms as data: one definition serves the web form, the API field list and validation."""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l
from dataclasses import dataclass, field

from app.core.errors import Invalid

MAX_TEXT = 4000


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "textarea"  # choice | text | textarea
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    # Required only when another field has one of these values, e.g. {"intake_choice": ("reject",)}.
    required_if: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Routing fields go into the workflow's task data; the rest only into the case history.
    routing: bool = False

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "label": str(self.label),
            "type": self.type,
            "required": self.required,
            "required_if": {k: list(v) for k, v in self.required_if.items()},
            "choices": [{"value": v, "label": str(label)} for v, label in self.choices],
        }


@dataclass(frozen=True)
class TaskForm:
    key: str
    fields: tuple[Field, ...]
    # Opinions of this step stay internal (staff and recording unit) unless public.
    public: bool = False

    def validate(self, data: dict) -> dict:
        """Return cleaned values or raise Invalid naming every bad field (changes nothing)."""
        if not isinstance(data, dict):
            raise Invalid(_("提交内容格式不正确。"), code="bad_payload")
        unknown = set(data) - {f.name for f in self.fields}
        errors: dict[str, str] = {name: "未知字段。" for name in sorted(unknown)}
        clean: dict[str, str] = {}
        for f in self.fields:
            raw = data.get(f.name)
            if raw is not None and not isinstance(raw, str):
                errors[f.name] = _("应为文本。")
                continue
            value = (raw or "").strip()
            if len(value) > MAX_TEXT:
                errors[f.name] = _("不能超过 %(max)s 字。", max=MAX_TEXT)
                continue
            if f.choices and value and value not in {c for c, _ in f.choices}:
                errors[f.name] = _("请从给定选项中选择。")
                continue
            clean[f.name] = value
        for f in self.fields:
            if f.name in errors or clean.get(f.name):
                continue
            needed = f.required or any(clean.get(other) in values for other, values in f.required_if.items())
            if needed:
                errors[f.name] = _("请填写“%(label)s”。", label=f.label)
        if errors:
            raise Invalid(_("表单有误，请修改后重新提交。"), fields=errors)
        return clean

    def routing_values(self, clean: dict) -> dict:
        return {f.name: clean[f.name] for f in self.fields if f.routing}


INTAKE_CHOICES = (("accept", _l("受理")), ("request_supplement", _l("要求补正")), ("reject", _l("不予受理")))
VERIFY_CHOICES = (("error_confirmed", _l("确认有误")), ("no_error", _l("核实无误")), ("cannot_confirm", _l("无法确认")))
DECISION_CHOICES = (
    ("correct", _l("更正")),
    ("revoke", _l("撤销")),
    ("maintain", _l("维持，不予更正")),
    ("annotate", _l("无法确认，记载异议")),
)
APPROVAL_CHOICES = (("approve", _l("批准")), ("return", _l("退回修改")))
SEVERITY_CHOICES = (("minor", _l("轻微")), ("general", _l("一般")), ("serious", _l("严重")))
REVIEW_CHOICES = (("accept", _l("整改通过")), ("return_for_rework", _l("退回重新整改")))
AGREE_CHOICES = (("agree", _l("同意")), ("disagree", _l("不同意")))
REPAIR_CHOICES = (("approve", _l("准予修复")), ("refuse", _l("不予修复")))
RESTORATION_CHOICES = (("approve", _l("批准恢复")), ("refuse", _l("不予恢复")))
CRITICISM_CHOICES = (("approve", _l("批准通报批评")), ("decline", _l("不予通报批评")))

# 受理审查 is the same form for objections and repairs: accept, ask for 补正, or refuse.
INTAKE_FIELDS = (
    Field("intake_choice", _l("审查结论"), "choice", True, INTAKE_CHOICES, routing=True),
    Field("supplement_items", _l("需补正的材料"), required_if={"intake_choice": ("request_supplement",)}),
    Field("reason", _l("理由"), required_if={"intake_choice": ("reject", "request_supplement")}),
)

FORMS = {
    form.key: form
    for form in (
        TaskForm("objection_intake_review", INTAKE_FIELDS, public=True),
        TaskForm("repair_intake_review", INTAKE_FIELDS, public=True),
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
                Field("reasons", _l("理由"), required=True),
            ),
        ),
        TaskForm(
            "review_restoration",
            (
                Field("restoration_review", _l("审核意见"), "choice", True, AGREE_CHOICES, routing=True),
                Field("opinion", _l("意见说明"), required=True),
            ),
        ),
        TaskForm(
            "approve_restoration",
            (
                Field("restoration_approval", _l("审批结论"), "choice", True, RESTORATION_CHOICES, routing=True),
                Field("comment", _l("审批意见"), required_if={"restoration_approval": ("refuse",)}),
            ),
        ),
        TaskForm(
            "supplement_materials",
            (Field("statement", _l("补正说明"), required=True),),
            public=True,
        ),
        TaskForm(
            "verify_record",
            (
                Field("verify_choice", _l("核查结论"), "choice", True, VERIFY_CHOICES, routing=True),
                Field("opinion", _l("核查意见"), required=True),
                Field("corrected_facts", _l("更正后的失信事实"), required_if={"verify_choice": ("error_confirmed",)}),
                Field("corrected_basis_doc_no", _l("更正后的认定文书号"), "text"),
                Field("corrected_severity", _l("更正后的失信程度"), "choice", choices=SEVERITY_CHOICES),
            ),
        ),
        TaskForm(
            "draft_decision",
            (
                Field("decision", _l("处理意见"), "choice", True, DECISION_CHOICES, routing=True),
                Field("reasons", _l("理由"), required=True),
            ),
        ),
        TaskForm(
            "approve_decision",
            (
                Field("approval", _l("审批结论"), "choice", True, APPROVAL_CHOICES, routing=True),
                Field("comment", _l("审批意见"), required_if={"approval": ("return",)}),
            ),
        ),
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
        TaskForm(
            "approve_public_criticism",
            (
                Field("criticism", _l("审批结论"), "choice", True, CRITICISM_CHOICES, routing=True),
                Field("comment", _l("审批意见"), required_if={"criticism": ("decline",)}),
            ),
        ),
    )
}


def form_for(key: str) -> TaskForm:
    """Return the form of a task's formKey (deploy lint guarantees every task has one)."""
    return FORMS[key]
