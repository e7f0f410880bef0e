"""Isolation: a unit sees only its own records, cases, attachments, tasks and letters (404 otherwise)."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, CreditRecord, Letter, User, UserRole
from app.services import access, attachments
from app.core.errors import NotFound
from tests.support import factories
from tests.support.flows import do_task


def test_applicant2_cannot_reach_applicant1_objects_via_api(api, filed):
    other = api("applicant2")
    for path in (f"/api/v1/cases/{filed['case']}", f"/api/v1/records/{filed['record']}",
                 f"/api/v1/letters/{filed['letter']}.pdf", f"/api/v1/tasks/{filed['task']}"):
        response = other.get(path)
        assert response.status_code == 404, path
        assert "申请" not in response.get_data(as_text=True)
    assert other.post(f"/api/v1/tasks/{filed['task']}/claim").status_code == 404
    assert other.post(f"/api/v1/cases/{filed['case']}/submit").status_code == 404
    ids = {r["id"] for r in other.get("/api/v1/records").get_json()["items"]}
    assert filed["record"] not in ids
    assert other.get("/api/v1/tasks?scope=all").get_json()["items"] == []


def test_applicant2_cannot_reach_applicant1_objects_via_web(web, filed):
    other = web("applicant2")
    for path in (f"/cases/{filed['case']}", f"/portal/records/{filed['record']}",
                 f"/cases/letters/{filed['letter']}.pdf", f"/cases/attachments/{filed['attachment']}",
                 f"/tasks/{filed['task']}"):
        assert other.get(path).status_code == 404, path
    assert "YY-2026" not in other.get("/portal/cases").get_data(as_text=True)


def test_owner_can_download_attachment(web, filed):
    response = web("applicant1").get(f"/cases/attachments/{filed['attachment']}")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]


def test_verifier_sees_only_records_its_unit_made(api, seeded, users):
    items = api("verifier1").get("/api/v1/records").get_json()["items"]
    unit = users["verifier1"].unit
    assert items and all(item["recording_unit"] == unit.name for item in items)
    foreign = db.session.scalar(select(CreditRecord.id).where(CreditRecord.recording_unit_id != unit.id))
    assert api("verifier1").get(f"/api/v1/records/{foreign}").status_code == 404


def test_other_verifier_cannot_take_the_verification(api, filed):
    assert api("verifier2").get(f"/api/v1/tasks/{filed['task']}").status_code == 404
    assert api("verifier1").get(f"/api/v1/tasks/{filed['task']}").status_code == 200


def test_auditor_and_admin_see_no_case_content(api, filed):
    for username in ("auditor1", "admin1"):
        client = api(username)
        assert client.get(f"/api/v1/cases/{filed['case']}").status_code == 404
        listing = client.get("/api/v1/records")  # not their role's route at all (policy table)
        assert listing.status_code == 404 and "items" not in listing.get_json()


def test_applicant_cannot_object_to_another_units_record(api, seeded, users):
    foreign = db.session.scalar(select(CreditRecord.id).where(CreditRecord.subject_unit_id != users["applicant1"].unit_id))
    response = api("applicant1").post("/api/v1/cases", json={"type": "objection", "record_id": foreign,
                                                             "reason": "duplicate", "statement": "x"})
    assert response.status_code == 404


def test_unauthenticated_api_is_401(seeded):
    client = seeded.test_client()
    assert client.get("/api/v1/records").status_code == 401
    assert client.get("/api/v1/records", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_denials_are_audited(api, web, filed):
    from app.models import AuditEvent

    api("applicant2").get(f"/api/v1/cases/{filed['case']}")
    web("applicant2").get(f"/cases/{filed['case']}")
    denials = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert {d.object_id for d in denials} >= {f"/api/v1/cases/{filed['case']}", f"/cases/{filed['case']}"}
    assert all(d.username == "applicant2" and d.outcome == "denied" for d in denials)


# --- the right object by id ------------------------------------------------------------------------------------
# A lookup that dropped its id condition would still find *a* visible row; only different bytes tell them apart.

EVIDENCE = b"%PDF-1.4\n% evidence\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
COMMITMENT = b"%PDF-1.4\n% commitment, a different file\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def file_objection_with(api, record: CreditRecord, uploads: dict[str, bytes]) -> int:
    client = api("applicant1")
    case_id = client.post("/api/v1/cases", json={"type": "objection", "record_id": record.id, "reason": "wrong_content",
                                                 "statement": "处罚决定已被撤销。"}).get_json()["id"]
    for kind, data in uploads.items():
        response = client.post(f"/api/v1/cases/{case_id}/attachments", content_type="multipart/form-data",
                               data={"kind": kind, "file": (io.BytesIO(data), f"{kind}.pdf")})
        assert response.status_code == 201, response.get_json()
    assert client.post(f"/api/v1/cases/{case_id}/submit").status_code == 200
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})  # issues the acceptance letter
    return case_id


@pytest.fixture()
def two_cases(api, seeded, users):
    """Two accepted objections of applicant1, each with two different uploads and its own acceptance letter."""
    records = db.session.scalars(select(CreditRecord).where(
        CreditRecord.subject_unit_id == users["applicant1"].unit_id, CreditRecord.subject_type == "unit",
        CreditRecord.recording_unit_id == users["verifier1"].unit_id).order_by(CreditRecord.id)).all()[:2]
    first = file_objection_with(api, records[0], {"evidence": EVIDENCE, "commitment": COMMITMENT})
    second = file_objection_with(api, records[1], {"evidence": COMMITMENT + b"%2\n", "commitment": EVIDENCE + b"%2\n"})
    db.session.expire_all()
    return [first, second]


def test_each_attachment_id_returns_its_own_bytes(web, two_cases):
    rows = db.session.scalars(select(Attachment).where(Attachment.case_id.in_(two_cases))
                              .order_by(Attachment.uploaded_at, Attachment.id)).all()
    assert len({attachments.read_attachment(row) for row in rows}) == 4  # four different files
    for username in ("applicant1", "intake1", "verifier1"):  # owner, credit office, recording unit
        client = web(username)
        for row in rows:
            response = client.get(f"/cases/attachments/{row.id}")
            assert response.status_code == 200 and response.data == attachments.read_attachment(row), (username, row.kind)


def test_each_letter_id_returns_its_own_pdf(api, web, two_cases):
    letters = db.session.scalars(select(Letter).where(Letter.case_id.in_(two_cases)).order_by(Letter.id)).all()
    assert len(letters) == 2 and letters[0].pdf != letters[1].pdf
    for letter in letters:
        assert api("applicant1").get(f"/api/v1/letters/{letter.id}.pdf").data == letter.pdf
        assert web("intake1").get(f"/cases/letters/{letter.id}.pdf").data == letter.pdf


def _user(*roles: str) -> User:
    return User(username="x", display_name="x", role_rows=[UserRole(role=role) for role in roles])


@pytest.mark.parametrize(("roles", "internal"), [
    (("intake",), True),  # the credit office's intake officer works with the internal opinions
    (("approver",), True),  # the office's leader decides on them
    (("verifier",), True),  # the recording unit wrote the verification opinion
    (("applicant",), False),  # the applicant unit reads decisions, not the internal opinions
    (("auditor",), False),  # the auditor sees the audit log, not case content
    (("admin",), False),  # the administrator manages accounts, not cases
    (("applicant", "verifier"), True),  # a unit that is also a recording unit sees what its verifier role sees
    ((), False),  # no role, nothing
])
def test_who_sees_internal_opinions(roles, internal):
    assert access.can_see_internal(_user(*roles)) is internal


# --- the filters, from tables ------------------------------------------------------------------------------------
# Two units' records and cases, a draft among them, and tasks in every lane: each row says who reaches what.

@pytest.fixture()
def scene(staff):
    """Three records: applicant1's and applicant2's unit, recorded by verifier1's unit, and one by verifier2's."""
    unit = {username: user.unit for username, user in staff.items()}
    r1 = factories.record(unit["applicant1"], unit["verifier1"])
    r2 = factories.record(unit["applicant2"], unit["verifier1"])
    r3 = factories.record(unit["applicant1"], unit["verifier2"])
    c1, c1d = factories.case(r1, status="in_progress"), factories.case(r1, type="repair", status="draft")
    c2, c3 = factories.case(r2, status="in_progress"), factories.case(r3, status="in_progress")
    objects = {"r1": r1, "r2": r2, "r3": r3, "c1": c1, "c1d": c1d, "c2": c2, "c3": c3,
               "t_intake": factories.task(c1, "intake"),
               "t_approver": factories.task(c2, "approver", bpmn_id="approve_decision"),
               "t_verifier1": factories.task(c1, "verifier", unit_id=r1.recording_unit_id, bpmn_id="verify_record"),
               "t_applicant1": factories.task(c1, "applicant", unit_id=r1.subject_unit_id, bpmn_id="supplement_materials"),
               "t_applicant2": factories.task(c2, "applicant", unit_id=r2.subject_unit_id, bpmn_id="supplement_materials")}
    db.session.commit()
    return {name: row.id for name, row in objects.items()}


def reach(getter, username: str, object_id, **kw):
    """The id of what the user gets for object_id, or None when it is not found."""
    user = db.session.scalar(select(User).where(User.username == username))
    try:
        return getter(user, object_id, **kw).id
    except NotFound:
        return None


RECORD_ROWS = [
    ("intake1", "r1", True), ("intake1", "r3", True),  # the credit office sees every record
    ("approver1", "r2", True), ("approver1", "r3", True),  # its leader too
    ("applicant1", "r1", True),  # a unit sees its own records
    ("applicant1", "r2", False),  # not another unit's
    ("verifier1", "r1", True), ("verifier1", "r2", True),  # a recording unit sees the records it made (谁认定)
    ("verifier1", "r3", False),  # not another recording unit's
    ("verifier2", "r3", True),
    ("auditor1", "r1", False), ("admin1", "r1", False),  # the auditor and administrator see no records
]


@pytest.mark.parametrize(("username", "name", "visible"), RECORD_ROWS)
def test_who_reaches_which_record(scene, username, name, visible):
    assert reach(access.get_record, username, scene[name]) == (scene[name] if visible else None)


CASE_ROWS = [
    ("intake1", "c1", True), ("intake1", "c3", True), ("intake1", "c1d", True),  # the office sees every case
    ("approver1", "c2", True), ("approver1", "c1d", True),
    ("applicant1", "c1", True), ("applicant1", "c1d", True),  # a unit sees its own cases, drafts included
    ("applicant1", "c2", False),  # not another unit's
    ("verifier1", "c1", True), ("verifier1", "c2", True),  # the recording unit sees cases on its records
    ("verifier1", "c1d", False),  # but not a draft the applicant has not filed
    ("verifier1", "c3", False),  # nor cases on another recording unit's records
    ("verifier2", "c3", True), ("verifier2", "c1", False),
    ("auditor1", "c1", False), ("admin1", "c1", False),  # no case content for auditor and administrator
]


@pytest.mark.parametrize(("username", "name", "visible"), CASE_ROWS)
def test_who_reaches_which_case(scene, username, name, visible):
    assert reach(access.get_case, username, scene[name]) == (scene[name] if visible else None)


TASK_ROWS = [
    ("intake1", "t_intake", False, True),  # the intake lane's task
    ("intake1", "t_approver", False, False),  # not the leader's
    ("intake1", "t_verifier1", False, False),  # nor a recording unit's
    ("intake1", "t_approver", True, False),  # and intake supervises nobody
    ("approver1", "t_approver", False, True),  # the leader works the approval
    ("approver1", "t_intake", False, False),  # but not intake's work, unless supervising
    ("approver1", "t_intake", True, True),  # the leader oversees the office's lanes (to reassign)
    ("approver1", "t_verifier1", True, False),  # but not a recording unit's lane
    ("approver1", "t_applicant1", True, False),  # nor an applicant's
    ("verifier1", "t_verifier1", False, True),  # the verification of its own unit
    ("verifier2", "t_verifier1", False, False),  # not another unit's verification
    ("applicant1", "t_applicant1", False, True),  # its own supplement task
    ("applicant1", "t_applicant2", False, False),  # not another unit's
    ("applicant2", "t_applicant2", False, True),
    ("applicant1", "t_intake", False, False),  # never a credit-office task
    ("auditor1", "t_intake", True, False),  # the auditor works and oversees nothing
]


@pytest.mark.parametrize(("username", "name", "supervise", "visible"), TASK_ROWS)
def test_who_reaches_which_task(scene, username, name, supervise, visible):
    kw = {"supervise": True} if supervise else {}
    assert reach(access.get_task, username, scene[name], **kw) == (scene[name] if visible else None)
