"""Task forms as data: one definition serves the web form, the API field list and validation.

Each process slice declares the forms of its user tasks (processes/<name>/task_forms.py); the registry finds them.
"""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l
from collections.abc import Callable
from dataclasses import dataclass, field, replace

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
    # Choices narrowed per case: fn(case) -> {field name: the (value, label) pairs this case allows}, e.g. the
    # decisions the recording unit's answer leaves. The form shown (web, API) offers only those; the slice's
    # completion hook refuses anything else with its reason.
    choices_for: Callable | None = None
    # What the web form starts from: fn(case) -> {field name: value}, e.g. the record's current facts for the
    # verifier to correct. A value submitted unchanged counts as not given (`unchanged_blank`).
    initial_for: Callable | None = None

    def initial(self, case) -> dict[str, str]:
        return self.initial_for(case) if self.initial_for is not None and case is not None else {}

    def unchanged_blank(self, case, values: dict[str, str]) -> dict[str, str]:
        """`values` with every field still holding its starting value left empty, as if it had not been filled."""
        start = self.initial(case)
        return {name: "" if name in start and value.strip() == start[name].strip() else value
                for name, value in values.items()}

    def for_case(self, case) -> TaskForm:
        """This form as shown for a case: every field whose choices the case narrows offers only those."""
        if self.choices_for is None or case is None:
            return self
        narrowed = self.choices_for(case)
        return replace(self, fields=tuple(replace(f, choices=tuple(narrowed[f.name])) if f.name in narrowed else f
                                          for f in self.fields))

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


def approval_form(key: str, choice: str, choices: tuple[tuple[str, str], ...], *, refuse: str) -> TaskForm:
    """The approver's step: a routing conclusion (审批结论) and a comment (审批意见) that is required when the
    approver chooses `refuse` (returns or declines)."""
    return TaskForm(key, (
        Field(choice, _l("审批结论"), "choice", True, choices, routing=True),
        Field("comment", _l("审批意见"), required_if={choice: (refuse,)}),
    ))
