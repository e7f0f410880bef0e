"""The integrity file (诚信档案, issue 12 §6): one page and one PDF per unit and per person, every record, case,
sanction and letter in date order; the office and the unit itself (its own file and its people's) may open it."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Case, CreditRecord, Letter, Person, Unit
from app.services import integrity_file
from tests.support import factories

APPLICANT1_UNIT = "曾都区住房和城乡建设局"


def unit_named(name: str) -> Unit:
    return db.session.scalar(select(Unit).where(Unit.name == name))


def person(name: str) -> Person:
    return db.session.scalar(select(Person).where(Person.name == name))


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "file.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def pdf_pages(pdf: bytes, tmp_path) -> int:
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True, timeout=60).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))




def test_unit_file_page_lists_everything_in_date_order(web, seeded):
    unit = unit_named(APPLICANT1_UNIT)
    records = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == unit.id)).all()
    page = web("intake1").get(f"/units/{unit.id}/file").get_data(as_text=True)
    assert unit.name in page and unit.uscc in page and f"/units/{unit.id}/file.pdf" in page
    for r in records:
        assert r.basis_doc_no in page
    assert "副局长 黄志明" in page  # the unit's person record, labelled with the person
    letters = db.session.scalars(select(Letter).join(Case).where(Case.record_id.in_([r.id for r in records]))).all()
    assert letters and all(letter.doc_number in page for letter in letters)
    cases = db.session.scalars(select(Case).where(Case.record_id.in_([r.id for r in records]))).all()
    assert all(c.number in page for c in cases if c.number)


def test_rows_are_in_date_order_and_counted(seeded, users):
    unit = unit_named(APPLICANT1_UNIT)
    data = integrity_file.unit_file(users["intake1"], unit.id)
    days = [row["day"] for row in data["rows"]]
    assert days == sorted(days)
    summary = dict(data["summary"])
    records = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == unit.id)).all()
    assert summary["失信记录"] == len(records) == sum(row["kind"] == "record" for row in data["rows"])
    assert summary["文书"] == sum(row["kind"] == "letter" for row in data["rows"]) > 0
    # On one day each case is followed by its own letters (the registration's letter pair).
    kinds_of_day = [row["kind"] for row in data["rows"] if row["day"] == days[-1]]
    assert kinds_of_day[:3] == ["case", "letter", "letter"]
    cases = [row for row in data["rows"] if row["kind"] == "case"]
    following = data["rows"][data["rows"].index(cases[0]) + 1]
    assert following["kind"] == "letter" and cases[0]["doc"] in following["event"]


def test_person_file_page_and_header(web, seeded):
    who = person("黄志明")
    record = db.session.scalar(select(CreditRecord).where(CreditRecord.person_id == who.id))
    page = web("applicant1").get(f"/persons/{who.id}/file").get_data(as_text=True)
    for text in (who.name, who.id_masked, who.unit.name, who.post, record.basis_doc_no, "任职经历"):
        assert text in page
    others = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == who.unit_id,
                                                           CreditRecord.subject_type == "unit")).all()
    assert others and not any(r.basis_doc_no in page for r in others)  # only the person's own records


@pytest.mark.parametrize("username, own_unit, person_file", [
    ("intake1", 200, 200), ("approver1", 200, 200),
    ("applicant1", 200, 200),  # its own file and its people's
    ("applicant2", 404, 404),  # another unit's
    ("verifier3", 404, 404), ("auditor1", 404, 404), ("admin1", 404, 404), ("personnel1", 404, 404),
])
def test_who_may_open_a_file(web, seeded, username, own_unit, person_file):
    client = web(username)
    unit, who = unit_named(APPLICANT1_UNIT), person("黄志明")
    assert client.get(f"/units/{unit.id}/file").status_code == own_unit
    assert client.get(f"/persons/{who.id}/file").status_code == person_file
    assert client.get(f"/persons/{who.id}/file.pdf").status_code == person_file
    assert client.get(f"/units/{unit.id}/file.pdf").status_code == own_unit
    assert client.get("/units/999999/file").status_code == 404


def test_applicant_of_another_unit_and_other_people(web, seeded):
    client = web("applicant1")
    other_unit = unit_named("随县教育局")
    assert client.get(f"/units/{other_unit.id}/file").status_code == 404
    assert client.get(f"/persons/{person('赵卫东').id}/file").status_code == 404
    assert web("applicant2").get(f"/units/{other_unit.id}/file").status_code == 200


def test_the_pdf_export_is_a_pdf_with_the_document_numbers(web, seeded, tmp_path):
    who = person("黄志明")
    record = db.session.scalar(select(CreditRecord).where(CreditRecord.person_id == who.id))
    response = web("intake1").get(f"/persons/{who.id}/file.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pdf = response.data
    assert pdf.startswith(b"%PDF-") and pdf_pages(pdf, tmp_path) >= 1
    text = pdf_text(pdf, tmp_path)
    assert record.basis_doc_no in text and who.name in text and who.id_masked in text and "个人政务诚信档案" in text
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "integrity_file.export"))
    assert event.username == "intake1" and event.object_type == "person" and event.object_id == str(who.id)
    unit = unit_named(APPLICANT1_UNIT)
    unit_pdf = web("applicant1").get(f"/units/{unit.id}/file.pdf").data
    unit_text = pdf_text(unit_pdf, tmp_path)
    assert unit.uscc in unit_text and record.basis_doc_no in unit_text
    if os.environ.get("KEEP_FILE_PDF"):  # look at it: pdftoppm -r 60 -png
        (tmp_path / "unit.pdf").write_bytes(unit_pdf)
        shutil.copy(tmp_path / "unit.pdf", os.environ["KEEP_FILE_PDF"])


def test_a_records_end_and_its_sanctions_are_in_the_file(staff):
    from datetime import date, datetime, timezone

    from app.models import RecordHistory

    unit, recorder = staff["applicant1"].unit, staff["verifier1"].unit
    who = factories.person(unit)
    record = factories.person_record(who, recorder, registered_at=datetime(2026, 5, 2, 2, tzinfo=timezone.utc))
    db.session.add(RecordHistory(record_id=record.id, at=datetime(2026, 9, 1, 2, tzinfo=timezone.utc),
                                 action="status", from_status="published", to_status="repaired", changes={},
                                 reason="测试"))
    record.status = "repaired"
    factories.sanction(unit, kind="award_restriction", start_date=date(2026, 6, 1), term_end=date(2026, 12, 31),
                       records=[record])
    unrelated = factories.record(unit, recorder)
    db.session.flush()
    data = integrity_file.person_file(staff["intake1"], who.id)
    assert [(row["kind"], row["day"]) for row in data["rows"]] == [
        ("record", record.basis_date), ("sanction", date(2026, 6, 1)), ("record_end", date(2026, 9, 1))]
    assert data["rows"][1]["doc"] == record.basis_doc_no and "限制评优评先" in data["rows"][1]["event"]
    assert dict(data["summary"]) == {"失信记录": 1, "其中当前有效": 0, "办件": 0, "惩戒措施": 1, "其中实施中": 1,
                                     "文书": 0}
    unit_data = integrity_file.unit_file(staff["applicant1"], unit.id)
    assert {row["doc"] for row in unit_data["rows"] if row["kind"] == "record"} == {record.basis_doc_no,
                                                                                   unrelated.basis_doc_no}
    drafted = factories.record(unit, recorder, status="reviewing")
    assert drafted.basis_doc_no not in {row["doc"] for row in integrity_file.unit_file(staff["intake1"], unit.id)["rows"]}


def test_the_record_page_links_the_files(web, seeded):
    who = person("黄志明")
    record = db.session.scalar(select(CreditRecord).where(CreditRecord.person_id == who.id))
    page = web("intake1").get(f"/records/{record.id}").get_data(as_text=True)
    assert f"/persons/{who.id}/file" in page and f"/units/{record.subject_unit_id}/file" in page
    assert f"/persons/{who.id}\"" in page
    portal = web("applicant1").get("/portal/records").get_data(as_text=True)
    assert f"/units/{record.subject_unit_id}/file" in portal  # 本单位诚信档案 in the menu
