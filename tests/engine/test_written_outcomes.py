"""No case ends without its letter (issue 13 §3): every step that closes a case issues the letter saying so.

A case closes in a script task that emits close_case (a rectification closes when its process ends: its letters are
checked in tests/processes/rectification). Whatever the outcome — refused, not accepted, found
ineligible inside the process, deemed withdrawn because the 补正 was not supplied, repaired, restored — the unit
affected learns it in writing, so the same script issues a letter. The only closings without one are a recording
unit withdrawing its own report (it acted itself; nobody else is affected).
"""
from __future__ import annotations

import re

import pytest
from lxml import etree

from tests.support.constants import PROCESSES

pytestmark = pytest.mark.database_free

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
# Closings by the unit's own act: a recording unit withdrawing its registration or its source-change report.
OWN_WITHDRAWALS = {"registration_withdrawn", "source_change_withdrawn"}
FILES = sorted(PROCESSES.glob("*/*.bpmn"))


def closings(path):
    """(script task id, its close_case arguments, the letters it issues) for every closing script of a diagram."""
    tree = etree.parse(str(path))
    for task in tree.iterfind(".//bpmn:scriptTask", NS):
        script = task.findtext("bpmn:script", default="", namespaces=NS)
        close = re.search(r'emit\("close_case",([^)]*)\)', script)
        if close:
            yield task.get("id"), close.group(1), re.findall(r'emit\("issue_letter",\s*letter="(\w+)"', script)


def outcome_of(arguments: str) -> str | None:
    literal = re.search(r'outcome="(\w+)"', arguments)
    return literal.group(1) if literal else None  # a variable (e.g. the DMN's ineligible_reason): any outcome


CASES = [(path.name, task_id, arguments, issued) for path in FILES for task_id, arguments, issued in closings(path)]


def test_the_diagrams_have_closings():
    assert len(CASES) >= 15
    assert {name for name, *_ in CASES} >= {"objection_review.bpmn", "credit_repair.bpmn", "honor_restoration.bpmn",
                                            "record_registration.bpmn", "source_change.bpmn"}


@pytest.mark.parametrize("name,task_id,arguments,issued", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_every_closing_issues_its_letter(name, task_id, arguments, issued):
    if outcome_of(arguments) in OWN_WITHDRAWALS:
        assert not issued
        return
    assert issued, f"{name}: {task_id} closes the case ({arguments.strip()}) without a letter"


def test_the_rule_sees_a_closing_without_a_letter(tmp_path):
    bpmn = tmp_path / "x.bpmn"
    bpmn.write_text(f'<bpmn:definitions xmlns:bpmn="{NS["bpmn"]}"><bpmn:process id="x">'
                    '<bpmn:scriptTask id="close"><bpmn:script>emit("close_case", status="closed", outcome="refused")'
                    '</bpmn:script></bpmn:scriptTask></bpmn:process></bpmn:definitions>')
    assert list(closings(bpmn)) == [("close", ' status="closed", outcome="refused"', [])]
