"""`demo seed --cases N`: generated cases are real — their tasks can be claimed and completed."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, HumanTask, ProcessInstance
from app.services.inbox import queries as tasks
from app.demo.bulk import seed_cases


def test_generated_cases_work(api, seeded, users):
    before = db.session.scalar(select(func.count()).select_from(Case))
    seed_cases(40)
    # 40 generated plus the handful of template cases built through the real services
    assert db.session.scalar(select(func.count()).select_from(Case)) - before - 40 in (5, 6)
    numbers = db.session.scalars(select(Case.number)).all()
    assert len(numbers) == len(set(numbers))
    intake = users["intake1"]
    assert tasks.count_tasks(intake, "group") >= 10
    assert tasks.count_tasks(intake, "overdue") >= 1 and tasks.count_tasks(intake, "due_soon") >= 0
    generated = db.session.scalar(
        select(HumanTask).where(HumanTask.form_key == "objection_intake_review", HumanTask.status == "open")
        .order_by(HumanTask.created_at.desc(), HumanTask.case_id.desc()).limit(1))
    client = api("intake1")
    assert client.post(f"/api/v1/tasks/{generated.id}/claim").status_code == 200
    response = client.post(f"/api/v1/tasks/{generated.id}/complete", json={"intake_choice": "accept"})
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    case = db.session.get(Case, generated.case_id)
    assert [t.bpmn_id for t in db.session.scalars(select(HumanTask).where(
        HumanTask.case_id == case.id, HumanTask.status == "open"))] == ["verify_record"]
    assert db.session.scalar(select(ProcessInstance.lock_version).where(ProcessInstance.case_id == case.id)) >= 1


def test_cases_filed_after_generation_get_free_ids(api, seeded):
    """Generated rows carry explicit ids; PostgreSQL's sequences must move past them (else pk_case collides)."""
    from app.models import CreditRecord
    from app.demo.bulk import _columns
    from tests.support.flows import file_objection, own_record

    template = _columns(own_record("applicant1"))
    seed_cases(20)
    highest = db.session.scalar(select(func.max(Case.id)))
    record = CreditRecord(**{**template, "id": None, "basis_doc_no": "随财罚〔2026〕999999号"})
    db.session.add(record)
    db.session.commit()  # a new record row: its id comes from the sequence too
    case = file_objection(api, record=record)
    assert case["id"] > highest


def test_generator_works_on_a_used_demo_database(seeded):
    """Once the demo's records have open cases (the generator's own templates, a user's objections), a second
    `demo seed --cases N` registers fresh template records instead of failing (issue 15 §10)."""
    from app.models import CreditRecord

    seed_cases(5)
    records = db.session.scalar(select(func.count()).select_from(CreditRecord))
    cases = db.session.scalar(select(func.count()).select_from(Case))
    seed_cases(5)
    # The four objection templates and the rectification found no free record of their kind: each registered one
    # (with its registration case), besides its own template case and the five generated ones.
    assert db.session.scalar(select(func.count()).select_from(CreditRecord)) - records - 5 >= 4
    assert db.session.scalar(select(func.count()).select_from(Case)) - cases > 5 + 5
