"""认定文书撤销或变更 — changes from the source (issue 12 §4): source_change.bpmn and what its steps mean."""
from pathlib import Path

from app.services.workflow.registry import ProcessSlice
from processes.source_change import letters, service, task_forms

SLICE = ProcessSlice(
    key="source_change", case_type="source_change", folder=Path(__file__).parent, case_prefix="BG",
    effects=service.EFFECTS, hooks=service.HOOKS, forms=task_forms.FORMS, steps=task_forms.STEPS, letters=letters.LETTERS,
)
