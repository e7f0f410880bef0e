"""失信记录认定登记与公示 — registration (issue 12 §1): record_registration.bpmn and what its steps mean."""
from pathlib import Path

from app.services.workflow.registry import ProcessSlice
from processes.record_registration import letters, service, task_forms

SLICE = ProcessSlice(
    key="record_registration", case_type="registration", folder=Path(__file__).parent, case_prefix="DJ",
    effects=service.EFFECTS, hooks=service.HOOKS, forms=task_forms.FORMS, steps=task_forms.STEPS, letters=letters.LETTERS,
    daily=(service.publish_due,),
)
