"""限期整改 — rectification (SPEC §4.2): rectification.bpmn and what its steps mean."""
from pathlib import Path

from app.services.workflow.registry import ProcessSlice
from processes.rectification import letters, service, task_forms

SLICE = ProcessSlice(
    key="rectification", case_type="rectification", folder=Path(__file__).parent, case_prefix="ZG",
    effects=service.EFFECTS, hooks=service.HOOKS, forms=task_forms.FORMS, steps=task_forms.STEPS, letters=letters.LETTERS,
)
