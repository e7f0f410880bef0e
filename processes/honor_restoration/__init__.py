"""恢复荣誉评选资格 — restoration (SPEC §4.4): honor_restoration.bpmn with restoration_eligibility.dmn."""
from pathlib import Path

from app.services.workflow.registry import ProcessSlice
from processes.honor_restoration import letters, service, task_forms

SLICE = ProcessSlice(
    key="honor_restoration", case_type="restoration", folder=Path(__file__).parent, case_prefix="HF",
    effects=service.EFFECTS, forms=task_forms.FORMS, steps=task_forms.STEPS, letters=letters.LETTERS,
    daily=(service.start_due_restorations,),
)
