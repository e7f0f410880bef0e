"""record_registration (issue 12 §1): the recording unit enters, the office reviews, the subject is told, the public sees."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core import clock
from app.core.errors import Conflict, Invalid, NotFound
from app.extensions import db
from app.models import (
    AuditEvent, Case, CreditRecord, HumanTask, Letter, Notification, OutboxMessage, RecordHistory, RuleSet, Unit, User,
)
from app.services import access, attachments, public, workflow
from processes.record_registration import service as registration
from tests.support.constants import T0
from tests.support.files import PDF_BYTES

PASSED = {"check_complete": "pass", "check_subject": "pass", "check_duplicate": "pass", "check_legal_basis": "pass",
          "check_severity": "pass", "review": "accept", "opinion": "予以登记。"}


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def _entry(**over) -> dict:
    data = {"subject_type": "unit", "subject_unit_id": _user("applicant1").unit_id, "category": "breach",
            "severity": "general", "basis_doc_no": "随财函〔2026〕88号", "basis_date": "2026-10-15",
            "facts": "拖欠中小企业工程款210万元，经督办逾期仍未支付。", "legal_basis": "《保障中小企业款项支付条例》第十五条"}
    data.update(over)
    return data


def _draft(data: dict | None = None, *, with_document: bool = True) -> CreditRecord:
    officer = _user("verifier1")
    record = registration.create_draft(officer, registration.prepare(data or _entry(), officer.unit))
    if with_document:
        registration.attach_document(officer, record.id, "认定文书.pdf", PDF_BYTES)
    return record


def _history(record: CreditRecord) -> list[RecordHistory]:
    return db.session.scalars(select(RecordHistory).where(RecordHistory.record_id == record.id)
                              .order_by(RecordHistory.id)).all()


def _open_task(case: Case, step: str) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.bpmn_id == step,
                                                     HumanTask.status == "open"))


def test_entered_reviewed_registered_told_and_published(seeded):
    record = _draft()
    applicant = _user("applicant1")
    with pytest.raises(NotFound):  # before registration the subject does not see it
        access.get_record(applicant, record.id)
    case = registration.submit(_user("verifier1"), record.id)
    assert case.number.startswith("DJ-2026-") and case.status == "in_progress" and record.status == "reviewing"
    task = _open_task(case, "office_review")
    assert task.lane == "intake" and task.due_at is not None
    assert db.session.scalar(select(func.count()).select_from(Case).where(
        access.case_filter(applicant), Case.id == case.id)) == 0
    workflow.complete_task(_user("intake1"), task.id, dict(PASSED))
    assert record.status == "published" and record.published_at is not None
    assert record.publication_start == clock.local_today() and case.status == "closed"
    assert case.outcome == "registered"
    letters = db.session.scalars(select(Letter).where(Letter.case_id == case.id).order_by(Letter.id)).all()
    assert [(l.type, l.addressee) for l in letters] == [("disclosure_notice", applicant.unit.name),
                                                       ("repair_notice", applicant.unit.name)]
    disclosure, repair = (" ".join(l.data["paragraphs"]) for l in letters)
    assert "异议" in disclosure and "随财函〔2026〕88号" in disclosure and "自2026年11月27日起" in disclosure
    assert "2027年1月15日" in repair  # earliest repair date: basis date + 3 months (令第36号, general)
    assert letters[0].data["cc"] == [_user("verifier1").unit.name]
    pushes = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "push")).all()
    assert [p.payload["action"] for p in pushes if p.payload["record_id"] == record.id] == ["publish"]
    assert access.get_record(applicant, record.id) is record
    assert record in public.public_records(q=applicant.unit.name)[0]
    told = db.session.scalars(select(Notification.kind).where(Notification.unit_id == applicant.unit_id,
                                                              Notification.case_id == case.id)).all()
    assert "record" in told and "letter" in told
    steps = [(h.action, h.to_status) for h in _history(record)]
    assert steps == [("entered", "draft"), ("status", "reviewing"), ("status", "published"), ("published", None)]
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(record.id))))
    assert {"record.enter", "record.status", "record.publish"} <= actions


def test_a_minor_record_under_order_36_is_registered_and_told_but_never_published(seeded):
    record = _draft(_entry(severity="minor", basis_doc_no="随财罚〔2026〕91号"))
    case = registration.submit(_user("verifier1"), record.id)
    workflow.complete_task(_user("intake1"), _open_task(case, "office_review").id, dict(PASSED))
    assert record.status == "published" and record.published_at is None
    assert record not in public.public_records()[0]
    assert not db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "push",
                                                                OutboxMessage.payload["record_id"].as_integer() == record.id))
    disclosure = " ".join(db.session.scalar(select(Letter).where(Letter.case_id == case.id,
                                                                 Letter.type == "disclosure_notice")).data["paragraphs"])
    assert "不予公示" in disclosure
    assert registration.publish_due(100) == 0 and record.published_at is None  # the daily rule passes it over


def test_publication_begins_at_its_start_when_the_rule_set_delays_it(seeded):
    rule_set = db.session.scalar(select(RuleSet).where(RuleSet.code == "NDRC-36"))
    rule_set.time_limits = {**rule_set.time_limits, "publication_delay": 2}
    record = _draft()
    case = registration.submit(_user("verifier1"), record.id)
    workflow.complete_task(_user("intake1"), _open_task(case, "office_review").id, dict(PASSED))
    # Friday 2026-11-27 + 2 working days = Tuesday 12-01.
    assert record.publication_start == date(2026, 12, 1) and record.published_at is None
    assert record not in public.public_records()[0]
    clock.set_frozen(T0 + timedelta(days=3))  # Monday: not yet
    assert registration.publish_due(100) == 0
    clock.set_frozen(T0 + timedelta(days=4))
    assert registration.publish_due(100) == 1 and record.published_at is not None
    assert record in public.public_records()[0]


def test_returned_with_reasons_corrected_and_resubmitted(seeded):
    record = _draft()
    case = registration.submit(_user("verifier1"), record.id)
    returned = {**PASSED, "review": "return", "check_legal_basis": "fail", "return_reasons": "请写明条款项。"}
    workflow.complete_task(_user("intake1"), _open_task(case, "office_review").id, returned)
    assert record.status == "returned"
    correction = _open_task(case, "correct_record")
    assert correction.lane == "verifier" and correction.candidate_unit_id == record.recording_unit_id
    told = db.session.scalar(select(Notification).where(Notification.kind == "returned", Notification.case_id == case.id))
    assert told.unit_id == record.recording_unit_id and "请写明条款项。" in told.body
    registration.update_draft(_user("verifier1"), record.id, {"legal_basis": "《保障中小企业款项支付条例》第十五条第一款"})
    assert record.legal_basis.endswith("第一款") and _history(record)[-1].changes["legal_basis"][1].endswith("第一款")
    registration.submit(_user("verifier1"), record.id)
    assert record.status == "reviewing" and _open_task(case, "correct_record") is None
    workflow.complete_task(_user("intake1"), _open_task(case, "office_review").id, dict(PASSED))
    assert record.status == "published" and case.outcome == "registered"


def test_withdrawn_after_a_return(seeded):
    record = _draft()
    case = registration.submit(_user("verifier1"), record.id)
    workflow.complete_task(_user("intake1"), _open_task(case, "office_review").id,
                           {**PASSED, "review": "return", "return_reasons": "主体有误。"})
    workflow.complete_task(_user("verifier1"), _open_task(case, "correct_record").id,
                           {"correction": "withdraw", "statement": "主体认定有误，撤回。"})
    assert record.status == "withdrawn" and case.status == "withdrawn" and case.outcome == "registration_withdrawn"
    assert not db.session.scalar(select(Letter.id).where(Letter.case_id == case.id))


@pytest.mark.parametrize("check", sorted(registration.CHECK_FIELDS.values()))
def test_registration_is_refused_while_any_check_fails(seeded, check):
    record = _draft()
    case = registration.submit(_user("verifier1"), record.id)
    with pytest.raises(Invalid) as refused:
        workflow.complete_task(_user("intake1"), _open_task(case, "office_review").id, {**PASSED, check: "fail"})
    assert check in refused.value.fields
    assert record.status == "reviewing" and _open_task(case, "office_review") is not None


def test_an_automatic_check_that_fails_refuses_registration(seeded):
    """The same unit on the same basis document, entered by another recording unit too: the duplicate check fails."""
    court = _user("verifier2")
    other = registration.create_draft(court, registration.prepare(_entry(), court.unit))
    record = _draft()
    case = registration.submit(_user("verifier1"), record.id)
    checks = dict((name, passed) for name, passed, _found in registration.automatic_checks(case))
    assert checks == {"complete": True, "subject": True, "duplicate": False, "legal_basis": True, "severity": True}
    with pytest.raises(Invalid) as refused:
        workflow.complete_task(_user("intake1"), _open_task(case, "office_review").id, dict(PASSED))
    assert "check_duplicate" in refused.value.fields
    registration.withdraw_draft(court, other.id, "重复")  # a withdrawn record is no duplicate
    assert all(passed for _name, passed, _found in registration.automatic_checks(case))


def test_two_civil_servants_on_one_decision_are_not_duplicates(seeded):
    unit_id = _user("applicant1").unit_id
    people = [{"name": "张伟", "id_number": "11010519491231002X", "post": "科长", "unit_id": unit_id},
              {"name": "李娜", "id_number": "110105198001010016", "post": "副科长", "unit_id": unit_id}]
    records = [_draft(_entry(subject_type="person", person=p, subject_unit_id=None)) for p in people]
    case = registration.submit(_user("verifier1"), records[0].id)
    assert all(passed for _name, passed, _found in registration.automatic_checks(case))


def test_report_needs_the_basis_document(seeded):
    record = _draft(with_document=False)
    with pytest.raises(Invalid) as refused:
        registration.submit(_user("verifier1"), record.id)
    assert refused.value.code == "missing_document" and record.status == "draft"


def test_the_same_record_cannot_be_entered_twice(seeded):
    first = _draft()
    with pytest.raises(Conflict) as refused:
        _draft()
    # Named: the API answers error.record_id (a concurrent post may meet it here, after its own check).
    assert refused.value.code == "duplicate_record" and refused.value.extra == {"record_id": first.id}
    # Same document, another subject: another record.
    other = db.session.scalar(select(Unit).where(Unit.id != _user("applicant1").unit_id, Unit.is_credit_office.is_(False),
                                                 Unit.id != _user("verifier1").unit_id))
    assert _draft(_entry(subject_unit_id=other.id)).subject_key == f"unit:{other.id}"


BAD = [
    ({"subject_unit_id": None}, "subject_unit_id"),
    ({"subject_unit_id": "abc"}, "subject_unit_id"),
    ({"subject_unit_id": 999999}, "subject_unit_id"),
    ({"category": "fraud"}, "category"),
    ({"severity": "grave"}, "severity"),
    ({"basis_doc_no": "  "}, "basis_doc_no"),
    ({"basis_doc_no": "号" * 81}, "basis_doc_no"),
    ({"basis_date": "2026-11-28"}, "basis_date"),  # tomorrow at T0
    ({"basis_date": "2013-12-31"}, "basis_date"),
    ({"basis_date": "2026/10/15"}, "basis_date"),
    ({"facts": ""}, "facts"),
    ({"legal_basis": ""}, "legal_basis"),
    ({"legal_basis": 5}, "legal_basis"),
    ({"subject_type": "company"}, "subject_type"),
    ({"colour": "red"}, "colour"),
    ({"subject_type": "person", "person": {"name": "张伟", "id_number": "110105194912310021", "post": "科长",
                                           "unit_id": 1}}, "person.id_number"),
    ({"subject_type": "person", "person": "张伟"}, "person"),
]


@pytest.mark.parametrize("change, field", BAD)
def test_bad_input_names_the_field_and_enters_nothing(seeded, change, field):
    officer = _user("verifier1")
    before = db.session.scalar(select(func.count()).select_from(CreditRecord))
    with pytest.raises(Invalid) as refused:
        registration.prepare(_entry(**change), officer.unit)
    assert field in refused.value.fields, refused.value.fields
    assert db.session.scalar(select(func.count()).select_from(CreditRecord)) == before


def test_the_boundary_dates_are_accepted(seeded):
    officer = _user("verifier1")
    for day in ("2014-01-01", "2026-11-27"):
        assert registration.prepare(_entry(basis_date=day), officer.unit).basis_date == date.fromisoformat(day)


@pytest.mark.parametrize("subject", ["own", "office"])
def test_the_recording_unit_and_the_office_are_not_subjects(seeded, subject):
    officer = _user("verifier1")
    unit_id = officer.unit_id if subject == "own" else _user("intake1").unit_id
    with pytest.raises(Invalid) as refused:
        registration.prepare(_entry(subject_unit_id=unit_id), officer.unit)
    assert "subject_unit_id" in refused.value.fields


@pytest.mark.parametrize("username", ["applicant1", "intake1", "approver1"])
def test_only_a_recording_unit_enters_records(seeded, username):
    user = _user(username)
    entry = registration.prepare(_entry(), _user("verifier1").unit)
    with pytest.raises(Invalid) as refused:
        registration.create_draft(user, entry)
    assert refused.value.code == "role"


def test_another_recording_unit_cannot_touch_the_draft(seeded):
    record = _draft()
    court = _user("verifier2")
    for action in (lambda: registration.update_draft(court, record.id, {"facts": "改"}),
                   lambda: registration.submit(court, record.id),
                   lambda: registration.attach_document(court, record.id, "x.pdf", PDF_BYTES)):
        with pytest.raises(NotFound):
            action()


def test_a_registered_record_can_no_longer_be_edited(seeded):
    record = _draft()
    case = registration.submit(_user("verifier1"), record.id)
    with pytest.raises(Conflict):
        registration.update_draft(_user("verifier1"), record.id, {"facts": "改"})
    workflow.complete_task(_user("intake1"), _open_task(case, "office_review").id, dict(PASSED))
    with pytest.raises(Conflict):
        registration.attach_document(_user("verifier1"), record.id, "x.pdf", PDF_BYTES)


def test_a_draft_is_withdrawn_without_a_process(seeded):
    record = _draft()
    registration.withdraw_draft(_user("verifier1"), record.id, "录入有误")
    case = registration.registration_case(record)
    assert record.status == "withdrawn" and case.status == "withdrawn" and case.number is None


def test_a_person_subject_is_one_person_with_a_masked_encrypted_number(seeded):
    from app.services import persons

    unit_id = _user("applicant1").unit_id
    person = {"name": "张伟", "id_number": "11010519491231002x", "post": "科长", "unit_id": unit_id}
    first = _draft(_entry(subject_type="person", person=person, subject_unit_id=None))
    second = _draft(_entry(subject_type="person", person=person, subject_unit_id=None, basis_doc_no="随财函〔2026〕89号"))
    assert first.person_id == second.person_id and first.subject_unit_id == unit_id
    row = first.person
    assert row.id_masked == "110105********002X" and "11010519491231002X" not in row.id_cipher
    assert persons.decrypt(row.id_cipher) == "11010519491231002X"
    assert first.public_subject == second.public_subject and "张伟" not in first.public_subject


def test_web_entry_keeps_what_was_typed_and_enters_nothing_on_error(web, seeded):
    browser = web("verifier1")
    assert browser.get("/records/new").status_code == 200
    before = db.session.scalar(select(func.count()).select_from(CreditRecord))
    form = {"subject_type": "unit", "subject_unit_id": str(_user("applicant1").unit_id), "category": "breach",
            "severity": "general", "basis_doc_no": "随财函〔2026〕90号", "basis_date": "2030-01-01",
            "facts": "拖欠工程款。", "legal_basis": "《保障中小企业款项支付条例》", "action": "submit"}
    page = browser.post("/records/new", form, form_page="/records/new")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "晚于今天" in text and "拖欠工程款。" in text
    assert db.session.scalar(select(func.count()).select_from(CreditRecord)) == before
    import io

    ok = browser.post("/records/new", {**form, "basis_date": "2026-10-15", "document": (io.BytesIO(PDF_BYTES), "文书.pdf")},
                      form_page="/records/new", content_type="multipart/form-data")
    assert ok.status_code == 302
    record = db.session.scalar(select(CreditRecord).where(CreditRecord.basis_doc_no == "随财函〔2026〕90号"))
    assert record.status == "reviewing" and record.source == "web"
    assert browser.get(f"/records/{record.id}").status_code == 200


@pytest.mark.parametrize("username, status", [("applicant1", 404), ("intake1", 404), ("verifier1", 200)])
def test_the_entry_page_is_the_recording_units(web, seeded, username, status):
    assert web(username).get("/records/new").status_code == status


def test_the_office_sees_the_checks_and_the_letter_preview_beside_the_review(web, seeded):
    record = _draft()
    case = registration.submit(_user("verifier1"), record.id)
    db.session.commit()
    browser = web("intake1")
    task = _open_task(case, "office_review")
    page = browser.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "登记审核要点" in page and "材料完整" in page and "preview.pdf" in page
    preview = browser.get(f"/tasks/{task.id}/preview.pdf")
    assert preview.status_code == 200 and preview.data.startswith(b"%PDF")
    assert attachments.read_attachment(case.attachments[0]) == PDF_BYTES


@pytest.mark.parametrize("unit_id", ["²", "٣", "99999999999999999999", "0", "-1", 3.5])
def test_odd_unit_ids_are_refused_not_crashed(seeded, unit_id):
    with pytest.raises(Invalid) as refused:
        registration.prepare(_entry(subject_unit_id=unit_id), _user("verifier1").unit)
    assert "subject_unit_id" in refused.value.fields


@pytest.mark.parametrize("text", ["20261010", "2026-1-05", " 2026-10-15x", "２０２６-10-15"])
def test_a_basis_date_is_written_yyyy_mm_dd(seeded, text):
    with pytest.raises(Invalid) as refused:
        registration.prepare(_entry(basis_date=text), _user("verifier1").unit)
    assert "basis_date" in refused.value.fields


def test_a_record_names_the_post_held_then_without_moving_the_person(seeded):
    applicant_unit = _user("applicant1").unit_id
    other_unit = db.session.scalar(select(Unit.id).where(Unit.id.not_in((applicant_unit, _user("verifier1").unit_id)),
                                                         Unit.is_credit_office.is_(False)))
    person = {"name": "张伟", "id_number": "11010519491231002X", "post": "科长", "unit_id": applicant_unit}
    first = _draft(_entry(subject_type="person", person=person, subject_unit_id=None))
    earlier = _draft(_entry(subject_type="person", subject_unit_id=None, basis_doc_no="随财函〔2026〕77号",
                            person={**person, "post": "副主任", "unit_id": other_unit}))
    assert (earlier.subject_unit_id, earlier.person_post) == (other_unit, "副主任")
    assert earlier.person_id == first.person_id
    assert (first.person.unit_id, first.person.post) == (applicant_unit, "科长")  # moves are the office's, audited
