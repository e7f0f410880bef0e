"""The processes the office runs, one slice each: a folder with the BPMN (and DMN) files and the Python that gives
them meaning — effects and completion hooks (service.py), task forms (task_forms.py), letters (letters.py).

Adding a process: add its folder and one line below (ARCHITECTURE.md, "Adding a process").
"""
from processes import credit_repair, honor_restoration, objection_review, record_registration, rectification, source_change

SLICES = (
    record_registration.SLICE,
    objection_review.SLICE,
    rectification.SLICE,
    credit_repair.SLICE,
    honor_restoration.SLICE,
    source_change.SLICE,
)
