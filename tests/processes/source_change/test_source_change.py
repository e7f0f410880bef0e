"""认定文书撤销或变更 (issue 12 §4): the recording unit reports, the office applies within 3 working days, with history,
the platform's withdraw/update message, the letter to the subject and the sanctions that rested on a revoked record."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.clock import now
from app.core.errors import Conflict, Invalid, NotFound
from app.extensions import db
from app.models import (
    Attachment, Case, CreditRecord, HumanTask, Letter, Notification, OutboxMessage, Person, RecordHistory, Sanction,
)
from app.services.workflow.run import complete_task
from processes.objection_review import service as objections
from processes.source_change import service
from tests.support import factories
from tests.support.files import PDF_BYTES
from tests.support.flows import run_timers_at, timer

REVOKE = {"kind": "revoke", "change_doc_no": "随测复决〔2026〕7号", "change_doc_date": "2026-11-20",
          "reason": "原处罚决定经行政复议被撤销"}


def _record() -> CreditRecord:
    return db.session.scalars(select(CreditRecord).order_by(CreditRecord.id)).first()


def _file(user, record: CreditRecord, data: dict, filename: str | None = "复议决定书.pdf") -> Case:
    case = service.file_change(user, record.id, data, filename, io.BytesIO(PDF_BYTES) if filename else None)
    db.session.commit()
    return case


def _correct(**values) -> dict:
    return {**REVOKE, "kind": "correct", "reason": "认定机关作出变更决定", **values}


def _open_task(case: Case, bpmn_id: str) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.bpmn_id == bpmn_id,
                                                     HumanTask.status == "open"))


def _office(users, case: Case, **values) -> None:
    task = _open_task(case, "apply_change")
    complete_task(users["intake1"], task.id, {"check_document": "pass", "conclusion": "apply", **values})
    db.session.commit()
    db.session.expire_all()


def _pushes(record: CreditRecord) -> list[str]:
    return [m.payload["action"] for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "push")
                                                            .order_by(OutboxMessage.id))
            if m.payload["record_id"] == record.id]


def _letter(case: Case) -> Letter:
    return db.session.scalar(select(Letter).where(Letter.case_id == case.id))


# --- revoke and correct, end to end ----------------------------------------------------------------------------

def test_revoke_end_to_end(recorded_staff):
    users = recorded_staff
    record = _record()
    other = factories.record(record.subject_unit, record.recording_unit)
    alone = factories.sanction(record.subject_unit, records=[record])
    shared = factories.sanction(record.subject_unit, kind="award_restriction", records=[record, other])
    db.session.commit()

    case = _file(users["verifier1"], record, REVOKE)
    assert case.number.startswith("BG-") and case.status == "in_progress" and case.applicant_unit_id == record.subject_unit_id
    task = _open_task(case, "apply_change")
    assert task.lane == "intake" and timer(case.id, "apply_overdue") is not None
    assert record.status == "published"  # nothing changes before the office applies it

    _office(users, case, opinion="文书齐全")
    record, case = db.session.get(CreditRecord, record.id), db.session.get(Case, case.id)
    assert record.status == "revoked"
    assert (case.status, case.outcome) == ("closed", "source_revoked")
    row = db.session.scalar(select(RecordHistory).where(RecordHistory.record_id == record.id,
                                                        RecordHistory.to_status == "revoked"))
    assert row.from_status == "published" and row.case_id == case.id
    assert row.changes == {"source_change_doc": [None, "随测复决〔2026〕7号"]} and "原处罚决定经行政复议被撤销" in row.reason
    assert _pushes(record) == ["withdraw"]
    # Lifted: the measure that rested on this record alone; the one that also rests on a live record stays.
    assert db.session.get(Sanction, alone.id).status == "lifted"
    assert db.session.get(Sanction, alone.id).lifted_by_case_id == case.id
    assert db.session.get(Sanction, shared.id).status == "active"
    letter = _letter(case)
    assert letter.type == "source_revocation_notice" and letter.title == "政务失信记录认定撤销告知书"
    assert letter.addressee == record.subject_unit.name and letter.data["cc"] == [record.recording_unit.name]
    text = "".join(letter.data["paragraphs"])
    assert "随测复决〔2026〕7号" in text and record.basis_doc_no in text and "撤回共享" in text
    assert "（取消荣誉评选资格）同步解除" in text
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.unit_id == record.recording_unit_id, Notification.kind == "decision")) == 1


def test_revoke_without_sanctions_says_so(recorded_staff):
    record = _record()
    case = _file(recorded_staff["verifier1"], record, REVOKE)
    _office(recorded_staff, case)
    assert "未单独作为其他失信惩戒措施的依据" in "".join(_letter(case).data["paragraphs"])


def test_correct_end_to_end_with_history_and_update_message(recorded_staff):
    users = recorded_staff
    record = _record()
    before = (record.earliest_repair_date, record.auto_end_date)
    case = _file(users["verifier1"], record, _correct(severity="serious", facts="更正后的失信事实"))
    assert case.form["changes"] == {"severity": "serious", "facts": "更正后的失信事实"}
    _office(users, case)
    record, case = db.session.get(CreditRecord, record.id), db.session.get(Case, case.id)
    assert (record.status, record.severity, record.facts) == ("corrected", "serious", "更正后的失信事实")
    assert (case.status, case.outcome) == ("closed", "source_corrected")
    row = db.session.scalar(select(RecordHistory).where(RecordHistory.record_id == record.id,
                                                        RecordHistory.to_status == "corrected"))
    assert row.changes["severity"] == ["general", "serious"]
    assert row.changes["facts"] == ["测试事实", "更正后的失信事实"]
    # A serious record runs longer: the dates follow the new severity, and the history says so.
    assert row.changes["auto_end_date"][0] == before[1].isoformat()
    assert record.auto_end_date > before[1] and record.earliest_repair_date > before[0]
    assert "category" not in row.changes and "judicial" not in row.changes
    assert _pushes(record) == ["update"]
    letter = _letter(case)
    assert letter.type == "source_change_notice" and letter.addressee == record.subject_unit.name
    assert "失信程度由“一般”更正为“严重”" in "".join(letter.data["paragraphs"])


def test_a_corrected_record_is_corrected_again_with_history(recorded_staff):
    users = recorded_staff
    record = _record()
    _office(users, _file(users["verifier1"], record, _correct(facts="第一次更正")))
    _office(users, _file(users["verifier1"], _record(), _correct(change_doc_no="随测变〔2026〕9号", facts="第二次更正")))
    rows = db.session.scalars(select(RecordHistory).where(RecordHistory.record_id == record.id,
                                                          RecordHistory.to_status == "corrected")
                              .order_by(RecordHistory.id)).all()
    assert [(r.from_status, r.changes["facts"]) for r in rows] == [
        ("published", ["测试事实", "第一次更正"]), ("corrected", ["第一次更正", "第二次更正"])]
    assert _pushes(record) == ["update", "update"]


def test_category_changed_to_judgment_makes_the_record_judicial(recorded_staff):
    record = _record()
    _office(recorded_staff, _file(recorded_staff["verifier1"], record, _correct(category="judgment")))
    record = db.session.get(CreditRecord, record.id)
    assert record.judicial is True and record.category == "judgment"


def test_letter_names_a_person_subject(recorded_staff):
    record = _record()
    person = Person(name="黄志明", unit_id=record.subject_unit_id, post="副局长", created_at=now())
    db.session.add(person)
    db.session.flush()
    record.subject_type, record.person_id = "person", person.id
    record.person_name, record.person_post = "黄志明", "副局长"
    record.subject_key = CreditRecord.key_for("person", record.subject_unit_id, person.id)
    db.session.commit()
    case = _file(recorded_staff["verifier1"], record, REVOKE)
    _office(recorded_staff, case)
    letter = _letter(case)
    assert letter.addressee == record.subject_unit.name
    assert "你单位副局长黄志明同志政务失信记录" in "".join(letter.data["paragraphs"])


# --- the web: who may report ------------------------------------------------------------------------------------

@pytest.mark.parametrize("username,status", [
    ("verifier1", 200),  # the unit that made the record
    ("verifier2", 404),  # another recording unit: the record is out of its reach
    ("intake1", 404),  # the office applies changes, it does not report them
    ("approver1", 404),
    ("applicant1", 404),  # the subject
    ("admin1", 404),
])
def test_only_the_recording_units_verifier_reaches_the_form(web, recorded_staff, username, status):
    record = _record()
    assert web(username).get(f"/source-change/records/{record.id}").status_code == status


@pytest.mark.parametrize("username,shown", [("verifier1", True), ("intake1", False), ("approver1", False)])
def test_the_record_page_offers_the_action_to_the_recording_unit(web, recorded_staff, username, shown):
    page = web(username).get(f"/records/{_record().id}").get_data(as_text=True)
    assert (f"/source-change/records/{_record().id}" in page) is shown


def test_service_refuses_other_users(recorded_staff):
    record = _record()
    for username in ("verifier2", "intake1", "applicant1"):
        with pytest.raises(NotFound):
            service.file_change(recorded_staff[username], record.id, REVOKE, "a.pdf", io.BytesIO(PDF_BYTES))
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_filing_through_the_page(web, recorded_staff):
    record = _record()
    client = web("verifier1")
    page = client.get(f"/source-change/records/{record.id}").get_data(as_text=True)
    assert record.facts in page  # pre-filled with the current values
    response = client.post(f"/source-change/records/{record.id}", {
        **_correct(severity="serious"), "category": record.category, "basis_doc_no": record.basis_doc_no,
        "basis_date": record.basis_date.isoformat(), "facts": record.facts, "legal_basis": record.legal_basis,
        "document": (io.BytesIO(PDF_BYTES), "变更决定书.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    case = db.session.scalar(select(Case).where(Case.type == "source_change"))
    assert response.headers["Location"].endswith(f"/cases/{case.id}")
    assert case.form["changes"] == {"severity": "serious"}
    assert db.session.scalar(select(Attachment.kind).where(Attachment.case_id == case.id)) == "change_document"
    shown = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "“一般” → “严重”" in shown


def test_the_page_refuses_a_missing_document_and_keeps_nothing(web, recorded_staff):
    record = _record()
    response = web("verifier1").post(f"/source-change/records/{record.id}", REVOKE)
    assert response.status_code == 200
    assert "请上传撤销或变更认定的文书" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


# --- the office returns it, the recording unit corrects or withdraws ---------------------------------------------

def test_office_returns_and_the_recording_unit_corrects(recorded_staff):
    users = recorded_staff
    record = _record()
    case = _file(users["verifier1"], record, REVOKE)
    complete_task(users["intake1"], _open_task(case, "apply_change").id,
                  {"check_document": "fail", "conclusion": "return", "return_reasons": "所附文书未加盖公章"})
    db.session.commit()
    task = _open_task(case, "correct_change")
    assert task.lane == "verifier" and task.candidate_unit_id == record.recording_unit_id
    assert _open_task(case, "apply_change") is None and db.session.get(CreditRecord, record.id).status == "published"
    assert db.session.scalar(select(Notification.id).where(Notification.unit_id == record.recording_unit_id,
                                                           Notification.kind == "returned")) is not None
    with pytest.raises(NotFound):  # another recording unit cannot reach it
        service.open_correction(users["verifier2"], case.id)

    service.amend_change(users["verifier1"], case.id, _correct(facts="按复议决定更正的事实"), "盖章文书.pdf",
                         io.BytesIO(PDF_BYTES), "已补盖公章，并改为变更")
    db.session.commit()
    assert _open_task(case, "apply_change") is not None and case.form["kind"] == "correct"
    assert db.session.scalar(select(func.count()).select_from(Attachment).where(Attachment.case_id == case.id)) == 2
    _office(users, case)
    record, case = db.session.get(CreditRecord, record.id), db.session.get(Case, case.id)
    assert (record.status, record.facts, case.outcome) == ("corrected", "按复议决定更正的事实", "source_corrected")
    assert _letter(case).type == "source_change_notice"


def test_the_recording_unit_withdraws_a_returned_report(recorded_staff):
    users = recorded_staff
    record = _record()
    case = _file(users["verifier1"], record, REVOKE)
    complete_task(users["intake1"], _open_task(case, "apply_change").id,
                  {"check_document": "fail", "conclusion": "return", "return_reasons": "文书与记录不符"})
    complete_task(users["verifier1"], _open_task(case, "correct_change").id,
                  {"correction": "withdraw", "statement": "报错记录，撤回"})
    db.session.commit()
    case = db.session.get(Case, case.id)
    assert (case.status, case.outcome) == ("withdrawn", "source_change_withdrawn")
    assert db.session.get(CreditRecord, record.id).status == "published" and _pushes(record) == []
    assert _letter(case) is None


def test_the_office_cannot_apply_without_a_passed_document_check(recorded_staff):
    users = recorded_staff
    case = _file(users["verifier1"], _record(), REVOKE)
    task = _open_task(case, "apply_change")
    with pytest.raises(Invalid) as refused:
        complete_task(users["intake1"], task.id, {"check_document": "fail", "conclusion": "apply"})
    assert refused.value.fields == {"check_document": "未通过"}
    db.session.rollback()
    assert _open_task(case, "apply_change") is not None and _record().status == "published"


def test_the_office_step_escalates_when_overdue(recorded_staff):
    case = _file(recorded_staff["verifier1"], _record(), REVOKE)
    job = timer(case.id, "apply_overdue")
    assert job.fire_at - now() >= timedelta(days=3)  # three working days from a Friday: the next Wednesday
    assert run_timers_at(job.fire_at + timedelta(seconds=1)) == 1
    assert db.session.scalar(select(Notification.id).where(Notification.kind == "escalation")) is not None
    assert _open_task(case, "apply_change") is not None  # the step stays open: the timer only escalates


# --- when a change waits ---------------------------------------------------------------------------------------

def test_a_disputed_record_is_not_changed_this_way(recorded_staff):
    record = _record()
    objection = factories.case(record, type="objection", status="in_progress")
    record.status = "disputed"
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        service.file_change(recorded_staff["verifier1"], record.id, REVOKE, "a.pdf", io.BytesIO(PDF_BYTES))
    assert "正在异议处理中" in refused.value.message and objection.number in refused.value.message
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Case).where(Case.type == "source_change")) == 0


@pytest.mark.parametrize("case_type", ["repair", "rectification", "source_change"])
def test_an_open_case_on_the_record_makes_the_change_wait(recorded_staff, case_type):
    record = _record()
    factories.case(record, type=case_type, status="in_progress")
    db.session.commit()
    with pytest.raises(Conflict, match="请待其办结后再报送"):
        service.file_change(recorded_staff["verifier1"], record.id, REVOKE, "a.pdf", io.BytesIO(PDF_BYTES))


@pytest.mark.parametrize("status", ["draft", "reviewing", "returned", "withdrawn", "revoked", "repaired", "expired"])
def test_only_a_registered_live_record_can_change(recorded_staff, status):
    record = _record()
    record.status = status
    db.session.commit()
    with pytest.raises(Conflict, match="不能报送认定文书撤销或变更"):
        service.file_change(recorded_staff["verifier1"], record.id, REVOKE, "a.pdf", io.BytesIO(PDF_BYTES))


def test_an_objection_waits_for_an_open_source_change(recorded_staff):
    record = _record()
    _file(recorded_staff["verifier1"], record, REVOKE)
    assert "认定文书的撤销或变更（编号 BG-" in objections.objection_block(record)


# --- bad input: a clear Chinese message on the field, nothing written -------------------------------------------

@pytest.mark.parametrize("data,field", [
    ({"kind": ""}, "kind"),
    ({"kind": "delete"}, "kind"),
    ({"change_doc_no": "  "}, "change_doc_no"),
    ({"change_doc_no": "号" * 81}, "change_doc_no"),
    ({"change_doc_date": ""}, "change_doc_date"),
    ({"change_doc_date": "2026/11/20"}, "change_doc_date"),
    ({"change_doc_date": "2026-11-28"}, "change_doc_date"),  # after today (T0 is 2026-11-27)
    ({"change_doc_date": "2026-04-30"}, "change_doc_date"),  # before the record's own 认定日期 (2026-05-01)
    ({"reason": ""}, "reason"),
    ({"reason": "理" * 2001}, "reason"),
    ({"reason": 7}, "reason"),
    ({"extra": "x"}, "extra"),
    ({"kind": "correct"}, "kind"),  # a change that changes nothing
    ({"kind": "correct", "severity": "huge"}, "severity"),
    ({"kind": "correct", "category": "crime"}, "category"),
    ({"kind": "correct", "facts": ""}, "facts"),
    ({"kind": "correct", "basis_date": "2013-12-31"}, "basis_date"),
    ({"kind": "correct", "basis_doc_no": "事" * 81}, "basis_doc_no"),
])
def test_bad_input_is_refused_by_field(recorded_staff, data, field):
    with pytest.raises(Invalid) as refused:
        service.file_change(recorded_staff["verifier1"], _record().id, {**REVOKE, **data}, "a.pdf",
                            io.BytesIO(PDF_BYTES))
    assert field in refused.value.fields and refused.value.fields[field]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_correction_to_another_records_document_number_is_refused(recorded_staff):
    record = _record()
    other = factories.record(record.subject_unit, record.recording_unit)
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        service.file_change(recorded_staff["verifier1"], record.id, _correct(basis_doc_no=other.basis_doc_no),
                            "a.pdf", io.BytesIO(PDF_BYTES))
    assert "basis_doc_no" in refused.value.fields


@pytest.mark.parametrize("filename,content", [(None, None), ("a.txt", b"plain text, not a document")])
def test_a_missing_or_wrong_document_is_refused(recorded_staff, filename, content):
    with pytest.raises(Invalid) as refused:
        service.file_change(recorded_staff["verifier1"], _record().id, REVOKE, filename,
                            io.BytesIO(content) if content else None)
    assert "file" in refused.value.fields
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_the_correction_task_page_leads_to_the_correction_form(web, recorded_staff):
    users = recorded_staff
    case = _file(users["verifier1"], _record(), REVOKE)
    complete_task(users["intake1"], _open_task(case, "apply_change").id,
                  {"check_document": "fail", "conclusion": "return", "return_reasons": "文书未盖章"})
    db.session.commit()
    client = web("verifier1")
    page = client.get(f"/tasks/{_open_task(case, 'correct_change').id}").get_data(as_text=True)
    assert f"/source-change/cases/{case.id}/correct" in page
    form = client.get(f"/source-change/cases/{case.id}/correct")
    assert form.status_code == 200 and "随测复决〔2026〕7号" in form.get_data(as_text=True)  # pre-filled
    assert web("verifier2").get(f"/source-change/cases/{case.id}/correct").status_code == 404
    response = client.post(f"/source-change/cases/{case.id}/correct", {
        **REVOKE, "change_doc_no": "随测复决〔2026〕8号", "statement": "已盖章",
        "document": (io.BytesIO(PDF_BYTES), "盖章.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).form["change_doc_no"] == "随测复决〔2026〕8号"
    assert _open_task(case, "apply_change") is not None


@pytest.mark.parametrize("day", ["2026-05-01", "2026-11-27"])  # the record's own 认定日期, and today (T0)
def test_the_document_date_bounds_are_inclusive(recorded_staff, day):
    case = _file(recorded_staff["verifier1"], _record(), {**REVOKE, "change_doc_date": day})
    assert case.form["change_doc_date"] == day


@pytest.mark.parametrize("username", ["verifier1", "intake1", "applicant1"])
def test_the_case_reads_through_the_api(api, recorded_staff, username):
    case = _file(recorded_staff["verifier1"], _record(), REVOKE)
    response = api(username).get(f"/api/v1/cases/{case.id}")
    assert response.status_code == 200 and response.get_json()["type"] == "source_change"
    assert api("verifier2").get(f"/api/v1/cases/{case.id}").status_code == 404
