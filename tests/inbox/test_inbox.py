"""The reviewer inbox: tabs with counts, filters (saved, shared), keyset paging, reassign and bulk actions."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, CaseEvent, HumanTask, Unit, User
from app.core import clock
from app.services import workflow
from app.services.inbox import filters as inbox_filters, queries as tasks
from app.core.errors import Forbidden
from tests.support.constants import T0
from tests.support.flows import file_objection, file_repair, own_record, repairable


def test_tabs_and_counts(api, web, both_applicants, users):
    file_objection(api)
    file_objection(api, "applicant2", record=own_record("applicant2"))
    intake = users["intake1"]
    assert tasks.count_tasks(intake, "group") == 2 and tasks.count_tasks(intake, "mine") == 0
    # Intake review is due in 2 working days: due soon, not overdue.
    assert tasks.count_tasks(intake, "due_soon") == 2 and tasks.count_tasks(intake, "overdue") == 0
    first = tasks.task_page(intake, "group").rows[0]
    workflow.claim_task(intake, first.id)
    workflow.complete_task(intake, first.id, {"intake_choice": "accept"})
    db.session.commit()
    assert [t.id for t in tasks.task_page(intake, "done").rows] == [first.id]
    clock.set_frozen(T0 + timedelta(days=10))
    assert tasks.count_tasks(intake, "overdue") == 1
    page = web("intake1").get("/tasks/inbox?scope=overdue").get_data(as_text=True)
    assert "已超期（1）" in page and "⚠ 已超期" in page  # colour plus text


def test_filters_and_saved_shared_filters(api, web, both_applicants, users):
    file_objection(api)
    file_repair(api, repairable("applicant2"), "applicant2")
    intake = users["intake1"]
    assert tasks.count_tasks(intake, "group", {"process": "repair"}) == 1
    assert tasks.count_tasks(intake, "group", {"process": "objection"}) == 1
    unit2 = users["applicant2"].unit_id
    assert tasks.count_tasks(intake, "group", {"unit": str(unit2)}) == 1
    assert inbox_filters.clean_filters({"process": "nonsense", "unit": "1; drop", "due": "soon"}) == {"due": "soon"}
    client = web("intake1")
    client.post("/tasks/filters", {"name": "修复件", "process": "repair", "shared": "1"}, form_page="/tasks/inbox")
    assert [f.name for f in inbox_filters.saved_filters(users["approver1"])] == []  # no common role with intake1
    from app.services.auth import create_user

    office = db.session.scalar(select(Unit.id).where(Unit.is_credit_office.is_(True)))
    colleague = create_user("intake2", "受理员二", office, ["intake"], "Xinyong@2026")
    db.session.commit()
    assert [f.name for f in inbox_filters.saved_filters(colleague)] == ["修复件"]
    page = web("intake2").get("/tasks/inbox?scope=group").get_data(as_text=True)
    assert "修复件（共享）" in page


def test_keyset_paging(api, both_applicants, users):
    for record in [own_record("applicant1")] + [own_record("applicant2")]:
        file_objection(api, "applicant1" if record.subject_unit_id == users["applicant1"].unit_id else "applicant2",
                       record=record)
    intake = users["intake1"]
    first = tasks.task_page(intake, "group", limit=1)
    assert len(first.rows) == 1 and first.next_after
    second = tasks.task_page(intake, "group", limit=1, after=first.next_after)
    assert len(second.rows) == 1 and second.rows[0].id != first.rows[0].id and second.next_after is None


def test_reassign_by_leader_with_reason_in_history(api, web, both_applicants, users):
    from app.services.auth import create_user

    office = db.session.scalar(select(Unit.id).where(Unit.is_credit_office.is_(True)))
    intake2 = create_user("intake2", "受理员二", office, ["intake"], "Xinyong@2026")
    db.session.commit()
    case = file_objection(api)
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case["id"]))
    workflow.claim_task(users["intake1"], task.id)
    db.session.commit()
    leader = web("approver1")
    page = leader.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "改派（信用办负责人）" in page
    leader.post(f"/tasks/{task.id}/reassign", {"assignee_id": str(intake2.id), "reason": "受理员一休假"},
                form_page=f"/tasks/{task.id}")
    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).assignee_id == intake2.id
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.action == "reassigned"))
    assert "受理员一休假" in event.comment and event.internal
    try:
        workflow.reassign_task(users["intake1"], task.id, users["intake1"].id, "自己改回来")
        raise AssertionError("an intake officer must not reassign")
    except Forbidden:
        db.session.rollback()
    # Not to someone who cannot do the step:
    verifier = db.session.scalar(select(User).where(User.username == "verifier1"))
    response = leader.post(f"/tasks/{task.id}/reassign", {"assignee_id": str(verifier.id), "reason": "x"},
                           form_page=f"/tasks/{task.id}", follow_redirects=True)
    assert "改派对象须为可办理该环节的在岗人员" in response.get_data(as_text=True)


def test_bulk_claim_and_bulk_assign(api, web, both_applicants, users):
    file_objection(api)
    file_objection(api, "applicant2", record=own_record("applicant2"))
    ids = list(db.session.scalars(select(HumanTask.id).where(HumanTask.status == "open")))
    web("intake1").post("/tasks/bulk", {"action": "claim", "task_ids": ids}, form_page="/tasks/inbox?scope=group")
    db.session.expire_all()
    assert {db.session.get(HumanTask, i).assignee_id for i in ids} == {users["intake1"].id}
    from app.services.auth import create_user

    office = db.session.scalar(select(Unit.id).where(Unit.is_credit_office.is_(True)))
    intake2 = create_user("intake2", "受理员二", office, ["intake"], "Xinyong@2026")
    db.session.commit()
    web("approver1").post("/tasks/bulk", {"action": "assign", "task_ids": ids, "assignee_id": str(intake2.id),
                                          "reason": "均衡工作量"}, form_page="/tasks/inbox")
    db.session.expire_all()
    assert {db.session.get(HumanTask, i).assignee_id for i in ids} == {intake2.id}


def test_business_filters_match_the_case_and_record(seeded, users):
    """Unit, category and severity filters pick exactly the open tasks whose case and record match."""
    from app.models import Case, CreditRecord
    from app.demo.bulk import seed_cases

    seed_cases(200)
    intake = users["intake1"]
    truth = db.session.execute(
        select(HumanTask.id, Case.applicant_unit_id, CreditRecord.category, CreditRecord.severity)
        .join(Case, Case.id == HumanTask.case_id).join(CreditRecord, CreditRecord.id == Case.record_id)
        .where(HumanTask.status == "open", HumanTask.lane == "intake", HumanTask.assignee_id.is_(None))).all()
    assert truth
    unit, category, severity = truth[0][1], truth[0][2], truth[0][3]
    for key, value, column in (("unit", unit, 1), ("category", category, 2), ("severity", severity, 3)):
        expected = {row[0] for row in truth if row[column] == value}
        got = {t.id for t in tasks.task_page(intake, "group", filters={key: str(value)}, limit=1000).rows}
        assert got == expected and expected, key


# Who sees a filter intake1 shared: the same role in the same unit only (an applicant's shared filter once showed
# in other units' inboxes).
SHARE_TABLE = [
    ("intake2", "office", ["intake"], True),       # same unit, same role
    ("approver2", "office", ["approver"], False),  # same unit, other role
    ("intake3", "other", ["intake"], False),       # same role, another unit
]


@pytest.mark.parametrize("username,unit,roles,sees", SHARE_TABLE)
def test_shared_filters_stay_in_the_unit_and_role(web, staff, users, username, unit, roles, sees):
    from app.services.auth import create_user

    client = web("intake1")
    client.post("/tasks/filters", {"name": "修复件", "process": "repair", "shared": "1"}, form_page="/tasks/inbox")
    saved = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "filter.save"))
    assert saved is not None and saved.username == "intake1" and saved.details["shared"] is True
    unit_id = users["intake1"].unit_id if unit == "office" else users["applicant2"].unit_id
    viewer = create_user(username, username, unit_id, roles, "Xinyong@2026")
    db.session.commit()
    assert ([f.name for f in inbox_filters.saved_filters(viewer)] == ["修复件"]) is sees


def test_an_applicants_shared_filter_stays_in_its_unit(web, staff, users):
    from app.services.auth import create_user

    web("applicant1").post("/tasks/filters", {"name": "本单位整改", "process": "rectification", "shared": "1"},
                           form_page="/tasks/inbox")
    same_unit = create_user("applicant1b", "经办人乙", users["applicant1"].unit_id, ["applicant"], "Xinyong@2026")
    db.session.commit()
    assert [f.name for f in inbox_filters.saved_filters(same_unit)] == ["本单位整改"]
    assert [f.name for f in inbox_filters.saved_filters(users["applicant2"])] == []
