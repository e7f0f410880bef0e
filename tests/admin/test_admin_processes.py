"""Deployed process versions: hash, deploy time, cases running on each, and the bare diagram (no case in it)."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.core.clock import now
from app.extensions import db
from app.models import ProcessDefinition, ProcessInstance
from tests.support import factories


def _definition(key: str) -> ProcessDefinition:
    return db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_key == key)
                             .order_by(ProcessDefinition.version.desc()).limit(1))


def test_every_version_with_its_hash_deploy_time_and_running_cases(admin, staff):
    factories.deployed()
    objection = _definition("objection_review")
    newer = ProcessDefinition(process_key="objection_review", version=objection.version + 1, file_hash="b" * 64,
                              sources=objection.sources, spec_json="{}", deployed_at=now())
    db.session.add(newer)
    db.session.flush()
    cases = [factories.case(factories.record(factories.unit(), factories.unit())) for _ in range(3)]
    for case, definition, status in ((cases[0], objection, "running"), (cases[1], objection, "running"),
                                     (cases[2], newer, "completed")):
        db.session.add(ProcessInstance(definition_id=definition.id, case_id=case.id, state="{}", status=status,
                                       serializer_version="1", updated_at=now()))
    db.session.commit()
    page = admin.get("/admin/processes").get_data(as_text=True)
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr>\s*<td><code>(\w+)</code></td><td>v\d+</td>.*?</tr>',
                                                         page, re.S)}
    assert set(rows) >= {"objection_review", "credit_repair", "rectification", "honor_restoration"}
    cells = re.findall(r"<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>",
                       page.split(f'title="{objection.file_hash}"')[1].split("</tr>")[0])
    assert cells == [("2", "0", "0")]  # the two running cases on the older version
    assert re.findall(r"<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>",
                      page.split('title="' + "b" * 64 + '"')[1].split("</tr>")[0]) == [("0", "1", "0")]
    assert objection.file_hash[:16] in page
    for case in cases:  # counts only: the administrator sees no case
        assert case.number not in page


def test_the_diagram_of_a_version_is_the_bare_process(admin, staff):
    factories.deployed()
    definition = _definition("objection_review")
    case = factories.case(factories.record(factories.unit(), factories.unit()))
    factories.task(case, "intake")  # a case on some version: its steps must not show up in the version's diagram
    db.session.commit()
    page = admin.get(f"/admin/processes/{definition.id}").get_data(as_text=True)
    assert definition.file_hash in page and f'/admin/processes/{definition.id}/diagram.json' in page
    body = admin.get(f"/admin/processes/{definition.id}/diagram.json").get_json()
    assert body["completed"] == [] and body["active"] == []
    assert "<bpmn:definitions" in body["xml"] or "definitions" in body["xml"]
    assert 'name="信用办受理员"' in body["xml"]  # lanes by their Chinese role names, as on a case page


def test_a_version_without_a_diagram_or_that_does_not_exist_is_404(admin, staff):
    row = ProcessDefinition(process_key="x", version=1, file_hash="c" * 64, sources={"x.dmn": "<definitions/>"},
                            spec_json="{}", deployed_at=now())
    db.session.add(row)
    db.session.commit()
    assert admin.get(f"/admin/processes/{row.id}/diagram.json").status_code == 404
    assert admin.get(f"/admin/processes/{row.id + 1}").status_code == 404
    row_html = admin.get("/admin/processes").get_data(as_text=True).split('title="' + "c" * 64)[1].split("</tr>")[0]
    assert "查看" not in row_html
