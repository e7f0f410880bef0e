"""The English UI (cookie lang=en): step names through the catalogue, dates written the English way."""
import re

from app.i18n import chinese
from app.services.workflow import registry
from tests.support.flows import file_objection


def test_every_user_task_has_its_bpmn_name_as_a_translatable_step():
    for piece in registry.slices():
        named = {}
        for path in piece.folder.glob("*.bpmn"):
            named.update(re.findall(r'<bpmn:userTask id="([^"]+)" name="([^"]+)"', path.read_text(encoding="utf-8")))
        assert {bpmn_id: chinese(label) for bpmn_id, label in piece.steps.items()} == named, piece.key


def test_inbox_names_the_step_in_the_interface_language(web, api, seeded, monkeypatch):
    file_objection(api)
    # Stands in for the catalogue's English entry, which the translators fill in.
    monkeypatch.setitem(registry.slice_for("objection").steps, "intake_review", "Intake review")
    client = web("intake1")
    client.get("/lang/en")
    page = client.get("/tasks/inbox?scope=group").get_data(as_text=True)
    assert ">Intake review</a>" in page and "受理审查" not in page


def test_case_and_task_pages_name_the_step_in_the_interface_language(web, api, seeded, monkeypatch):
    case = file_objection(api)
    monkeypatch.setitem(registry.slice_for("objection").steps, "intake_review", "Intake review")
    client = web("intake1")
    client.get("/lang/en")
    page = client.get(f"/cases/{case['id']}").get_data(as_text=True)
    steps = page.split('<ol class="timeline steps">')[1].split("</ol>")[0]
    assert "<strong>Intake review</strong>" in steps and "<dd>Intake review</dd>" in page
    task_id = page.split('<p class="next-step"><a class="button" href="/tasks/')[1].split('"')[0]
    assert "Intake review</a>" in page.split('<p class="next-step">')[1].split("</p>")[0]
    task = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "<title>Intake review - " in task and "<h1>Intake review — " in task


def test_dashboard_dates_follow_the_interface_language(web, seeded):
    client = web("intake1")
    assert "2025年12月1日" in client.get("/dashboard/").get_data(as_text=True)  # the window's first day
    client.get("/lang/en")
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "1 December 2025" in page and not re.search(r"\d年\d+月\d+日", page)
