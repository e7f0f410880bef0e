"""信用修复 — credit repair (SPEC §4.3): credit_repair.bpmn with repair_eligibility.dmn, and what its steps mean."""
from pathlib import Path

from app.services.workflow.registry import ProcessSlice
from processes.credit_repair import letters, service, task_forms

SLICE = ProcessSlice(
    key="credit_repair", case_type="repair", folder=Path(__file__).parent, case_prefix="XF",
    effects=service.EFFECTS, hooks=service.HOOKS, forms=task_forms.FORMS, steps=task_forms.STEPS, letters=letters.LETTERS,
    application=service.APPLICATION, daily=(service.escalate_overdue_cases,),
)
