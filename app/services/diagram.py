"""A case's process diagram: the BPMN XML its instance runs, with the steps done and the steps open."""
from __future__ import annotations

from lxml import etree
from sqlalchemy import select

from app.engine import runtime
from app.extensions import db
from app.models import ROLES, Case, HumanTask, ProcessDefinition, ProcessInstance
from app.core.errors import NotFound


def case_instance(case: Case) -> ProcessInstance | None:
    """The process instance a case runs, or None for a draft."""
    return db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))


def case_diagram(case: Case) -> dict:
    """BPMN XML plus the ids of completed elements and of open human tasks; NotFound for a draft."""
    instance = case_instance(case)
    if instance is None:
        raise NotFound()
    active = _open_task_ids(case)
    completed = runtime.completed_task_ids(runtime.load_workflow(instance, runtime.RunContext()))
    # A step done before and open again (a supplement loop) is drawn as current, not as done.
    return {"xml": _bpmn_xml(instance), "completed": sorted(completed - set(active)), "active": active}


def _bpmn_xml(instance: ProcessInstance) -> str:
    xml = next(xml for name, xml in instance.definition.sources.items() if name.endswith(".bpmn"))
    return _label_lanes(xml)


def _label_lanes(xml: str) -> str:
    """Show lanes by their Chinese role names; in the files a lane is named by its role code (deploy lint)."""
    root = etree.fromstring(xml.encode("utf-8"))
    for lane in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}lane"):
        lane.set("name", str(ROLES.get(lane.get("name"), lane.get("name"))))
    return etree.tostring(root, encoding="unicode")


def _open_task_ids(case: Case) -> list[str]:
    rows = db.session.scalars(
        select(HumanTask.bpmn_id).where(HumanTask.case_id == case.id, HumanTask.status == "open").distinct()
    )
    return sorted(rows)


def definition_diagram(definition: ProcessDefinition) -> dict:
    """A deployed version's BPMN XML, nothing marked: what the process is, not where any case stands."""
    if not any(name.endswith(".bpmn") for name in definition.sources):
        raise NotFound()
    xml = next(xml for name, xml in definition.sources.items() if name.endswith(".bpmn"))
    return {"xml": _label_lanes(xml), "completed": [], "active": []}
