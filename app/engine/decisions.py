"""Evaluate a deployed DMN decision outside a workflow (the eligibility pre-checks use the same table)."""
from __future__ import annotations

from functools import lru_cache

from lxml import etree
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser


class _Workflow:
    script_engine = PythonScriptEngine()


class _Facts:
    """The two attributes the DMN engine reads from a task: its data and its workflow's script engine."""

    workflow = _Workflow()

    def __init__(self, data: dict):
        self.data = data


@lru_cache(maxsize=16)
def _engine(decision_id: str, xml: str) -> DMNEngine:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_dmn_xml(etree.fromstring(xml.encode("utf-8")))
    return parser.get_engine(decision_id, None)


def evaluate(decision_id: str, xml: str, facts: dict) -> dict:
    """Run one decision table against plain facts and return its outputs."""
    return _engine(decision_id, xml).result(_Facts(dict(facts)))
