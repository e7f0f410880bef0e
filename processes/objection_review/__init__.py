"""异议申诉 — objection review (SPEC §4.1): objection_review.bpmn and what its steps mean."""
from pathlib import Path

from app.services.workflow.registry import ProcessSlice
from processes.objection_review import letters, service, task_forms

SLICE = ProcessSlice(
    key="objection_review", case_type="objection", folder=Path(__file__).parent, case_prefix="YY",
    effects=service.EFFECTS, hooks=service.HOOKS, forms=task_forms.FORMS, steps=task_forms.STEPS, letters=letters.LETTERS,
    application=service.APPLICATION,
)
