"""People as subjects (issue 12 §5): the person list and page, who reaches them, a move, the eligibility page, and
public pages that never identify a person."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.demo.seed import PERSON_ID_BODIES, demo_id_number
from app.extensions import db
from app.models import AuditEvent, CreditRecord, Letter, Person, Unit
from tests.support.clients import fresh_g

PEOPLE = ("黄志明", "赵卫东", "钱立新")


def person(name: str) -> Person:
    return db.session.scalar(select(Person).where(Person.name == name))


def number(name: str) -> str:
    return demo_id_number(PERSON_ID_BODIES[name])


def identifying(name: str) -> list[str]:
    """What would identify a seeded person on a public page: name, masked name, post."""
    who = person(name)
    return [who.name, who.name[0] + "**", who.name[0] + "*" * (len(who.name) - 1), who.post, who.id_masked]


def anonymous(app, path: str, **params) -> str:
    fresh_g()
    response = app.test_client().get(path, query_string=params)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- public pages

def test_public_pages_never_identify_a_person(seeded):
    person_records = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_type == "person")).all()
    assert {r.person_name for r in person_records} == set(PEOPLE)
    pages = [anonymous(seeded, "/public"), anonymous(seeded, "/public/records")]
    for category in ("discipline", ""):
        pages.append(anonymous(seeded, "/public/records", category=category))
    for r in person_records:
        pages.append(anonymous(seeded, "/public/records", q=r.subject_unit.name))
        pages.append(anonymous(seeded, "/public/records", q=r.subject_unit.uscc))
        pages.append(anonymous(seeded, "/public/records", q=r.basis_doc_no))
        for letter in db.session.scalars(select(Letter).join(Letter.case).where(Letter.case.has(record_id=r.id))):
            pages.append(anonymous(seeded, f"/v/{letter.verify_code}"))
    listed = pages[1]
    shown = [r for r in person_records if r.basis_doc_no in listed]
    assert shown, "a published person record is still listed, anonymously"
    assert "公职人员（依法不公开个人信息）" in listed
    for name in PEOPLE:
        for text in identifying(name):
            for page in pages:
                assert text not in page, (name, text)
    # The row of a person's record shows neither the unit nor its code.
    for r in shown:
        row = re.search(r"<tr>(?:(?!</tr>).)*" + re.escape(r.basis_doc_no) + r"(?:(?!</tr>).)*</tr>", listed, re.S)
        assert row and r.subject_unit.name not in row.group(0) and r.subject_unit.uscc not in row.group(0)


def test_a_unit_search_finds_the_units_records_not_its_peoples(seeded):
    huang = db.session.scalar(select(CreditRecord).where(CreditRecord.person_name == "黄志明"))
    unit = huang.subject_unit
    own = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == unit.id,
                                                        CreditRecord.subject_type == "unit",
                                                        CreditRecord.published_at.is_not(None))).all()
    assert own and huang.basis_doc_no in anonymous(seeded, "/public/records")
    for q in (unit.name, unit.uscc, unit.name[:4]):
        page = anonymous(seeded, "/public/records", q=q)
        assert huang.basis_doc_no not in page
        assert any(r.basis_doc_no in page for r in own)


# --------------------------------------------------------------------------- the unit's own pages

def test_the_subject_units_pages_list_its_peoples_records_with_the_person(web, seeded):
    huang = db.session.scalar(select(CreditRecord).where(CreditRecord.person_name == "黄志明"))
    page = web("applicant1").get("/portal/records").get_data(as_text=True)
    assert huang.basis_doc_no in page and "副局长 黄志明" in page
    staff_page = web("intake1").get("/records/", query_string={"q": huang.subject_unit.name}).get_data(as_text=True)
    assert huang.basis_doc_no in staff_page and "黄志明" in staff_page


# --------------------------------------------------------------------------- list, search, page

@pytest.mark.parametrize("username, expected", [
    ("intake1", set(PEOPLE)), ("approver1", set(PEOPLE)),
    ("applicant1", {"黄志明"}),  # its own people
    ("applicant2", set()),
    ("verifier3", set(PEOPLE)),  # the discipline commission made all three records
    ("verifier1", set()),  # the finance bureau made none about a person
])
def test_who_sees_which_persons(web, seeded, username, expected):
    page = web(username).get("/persons/").get_data(as_text=True)
    assert {name for name in PEOPLE if name in page} == expected
    for name in PEOPLE:
        assert number(name) not in page  # never a clear ID number
        status = web(username).get(f"/persons/{person(name).id}").status_code
        assert status == (200 if name in expected else 404), (username, name)


@pytest.mark.parametrize("username", ["personnel1", "auditor1", "admin1"])
def test_roles_without_case_work_reach_no_person(web, seeded, username):
    client = web(username)
    assert client.get("/persons/").status_code == 404
    assert client.get(f"/persons/{person('黄志明').id}").status_code == 404


def search(client, q: str):
    return client.post("/persons/", {"q": q}, form_page="/persons/")


def test_search_by_name_or_full_id_number(web, seeded):
    client = web("intake1")
    assert "赵卫东" in search(client, "卫东").get_data(as_text=True)
    assert "黄志明" not in search(client, "卫东").get_data(as_text=True)
    by_number = search(client, number("钱立新").lower()).get_data(as_text=True)
    assert "钱立新" in by_number and "黄志明" not in by_number and number("钱立新") not in by_number
    partial = search(client, number("钱立新")[:12]).get_data(as_text=True)
    assert "钱立新" not in partial  # a number is matched whole (by its digest), never by a prefix
    wrong = number("钱立新")[:17] + ("1" if number("钱立新")[17] != "1" else "2")
    refused = search(client, wrong)
    assert refused.status_code == 200 and "校验位" in refused.get_data(as_text=True)


def test_person_page_shows_masked_number_posts_records_and_sanctions(web, seeded):
    who = person("黄志明")
    record = db.session.scalar(select(CreditRecord).where(CreditRecord.person_id == who.id))
    page = web("intake1").get(f"/persons/{who.id}").get_data(as_text=True)
    for text in (who.name, who.id_masked, who.unit.name, who.post, record.basis_doc_no, "任职经历", "惩戒措施"):
        assert text in page
    assert number("黄志明") not in page
    assert f"/persons/{who.id}/file" in page and f"/persons/eligibility?person_id={who.id}" in page


def test_the_office_moves_a_person_audited(web, seeded):
    who = person("黄志明")
    before_unit, record = who.unit, db.session.scalar(select(CreditRecord).where(CreditRecord.person_id == who.id))
    target = db.session.scalar(select(Unit).where(Unit.name == "随县教育局"))
    client = web("intake1")
    response = client.post(f"/persons/{who.id}/move", {"unit_id": target.id, "post": "局长", "on": "2026-11-27"},
                           form_page=f"/persons/{who.id}")
    assert response.status_code == 302
    db.session.expire_all()
    who = person("黄志明")
    assert (who.unit_id, who.post) == (target.id, "局长")
    assert [(p.unit_id, p.post, p.end_date is None) for p in who.posts] == [
        (before_unit.id, "副局长", False), (target.id, "局长", True)]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.move"))
    assert event.username == "intake1" and event.object_id == str(who.id)
    assert event.details["to"] == {"unit_id": target.id, "post": "局长"}
    # The record keeps the unit and post it states; the person's new unit now sees the person, the old one not.
    db.session.refresh(record)
    assert (record.subject_unit_id, record.person_post) == (before_unit.id, "副局长")
    assert web("applicant2").get(f"/persons/{who.id}").status_code == 200
    assert web("applicant1").get(f"/persons/{who.id}").status_code == 404
    # The same move again, an empty post, and another role are refused and change nothing.
    again = client.post(f"/persons/{who.id}/move", {"unit_id": target.id, "post": "局长"}, form_page=f"/persons/{who.id}")
    assert again.status_code == 200
    empty = client.post(f"/persons/{who.id}/move", {"unit_id": before_unit.id, "post": ""},
                        form_page=f"/persons/{who.id}")
    assert empty.status_code == 200
    assert web("approver1").post(f"/persons/{who.id}/move", {"unit_id": before_unit.id, "post": "科员"},
                                 form_page=f"/persons/{who.id}").status_code == 404
    db.session.expire_all()
    assert len(person("黄志明").posts) == 2


# --------------------------------------------------------------------------- the eligibility page

def eligibility(client, id_number: str, day: str = ""):
    return client.post("/persons/eligibility", {"id_number": id_number, "day": day}, form_page="/persons/eligibility")


def test_eligibility_page_by_id_number_in_chinese(web, seeded):
    client = web("personnel1")
    assert client.get("/").headers["Location"].endswith("/persons/eligibility")
    restricted = eligibility(client, number("黄志明"), "2026-11-27").get_data(as_text=True)
    record = db.session.scalar(select(CreditRecord).where(CreditRecord.person_name == "黄志明"))
    assert "受限制评优评先" in restricted and record.basis_doc_no in restricted
    assert "2026年11月27日" in restricted and "黄志明" in restricted and number("黄志明") not in restricted
    before = eligibility(client, number("黄志明"), "2026-11-26").get_data(as_text=True)  # before registration (T0)
    assert "✔" in before and "不受限制评优评先" in before and record.basis_doc_no not in before
    wrong_number = number("黄志明")[:17] + ("0" if number("黄志明")[17] != "0" else "1")
    wrong = eligibility(client, wrong_number)
    assert wrong.status_code == 200 and "校验位" in wrong.get_data(as_text=True)
    assert wrong_number not in wrong.get_data(as_text=True)
    by_person = client.get(f"/persons/eligibility?person_id={person('赵卫东').id}&date=2026-11-27")
    assert "赵卫东" in by_person.get_data(as_text=True) and "受限制评优评先" in by_person.get_data(as_text=True)
    assert client.get("/persons/eligibility?person_id=x").status_code == 200
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.query")).all()
    assert len(events) == 3 and {e.username for e in events} == {"personnel1"}


@pytest.mark.parametrize("username, status", [
    ("personnel1", 200), ("intake1", 200), ("approver1", 200),
    ("applicant1", 404), ("verifier3", 404), ("auditor1", 404), ("admin1", 404),
])
def test_who_may_use_the_eligibility_page(web, seeded, username, status):
    assert web(username).get("/persons/eligibility").status_code == status


@pytest.mark.parametrize("path", ["/records/", "/staff/tasks", "/sanctions", "/portal/records", "/dashboard/"])
def test_personnel_sees_no_case_content(web, seeded, path):
    assert web("personnel1").get(path).status_code == 404


# --------------------------------------------------------------------------- flask check

GOOD_KEY = "5b0f2c9d8e7a61f34c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e"


@pytest.mark.parametrize("key, production, level, words", [
    ("", True, "error", "未配置"),
    ("", False, "warn", "未配置"),
    ("dev-only-person-data-key-not-secret-000000", True, "error", "开发/测试值"),
    ("test-only-person-data-key-not-secret-0000000", True, "error", "开发/测试值"),
    ("changeme", True, "error", "开发/测试值"),
    ("0123456789abcdef", True, "error", "过短"),
    ("a" * 40, True, "error", "不像随机值"),
    ("SAME-AS-SECRET", True, "error", "SECRET_KEY"),
    (GOOD_KEY, True, "ok", "加密存储"),
])
def test_flask_check_reports_the_person_data_key(key, production, level, words):
    from app.services.ops import checks

    secret = "3f9a0c6d1e7b42a8b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0"
    config = {"PERSON_DATA_KEY": secret if key == "SAME-AS-SECRET" else key, "SECRET_KEY": secret}
    findings = checks.check_person_key(config, production=production)
    assert findings[0].level == level and findings[0].topic == "PERSON_DATA_KEY"
    assert any(words in f.message for f in findings)
    assert key not in findings[0].message or not key  # the key itself is never printed


# --------------------------------------------------------------------------- letters name the person

from tests.support.letter_sweep import MEASURES, RECTIFICATION  # noqa: E402  (the letters' sample values)

LETTER_CASES = [  # (letter type, case type, context): each letter about a person's record names them
    ("rectification_notice", "rectification", RECTIFICATION),
    ("measures_notice", "rectification", MEASURES),
    ("public_criticism_decision", "rectification", MEASURES),
    ("repair_decision", "repair", {"reasons": "符合", "opinion_label": "同意修复", "opinion": "同意", "lifted": [],
                                   "left": [], "restoration": False}),
    ("repair_refusal", "repair", {"reasons": "不符合", "opinion_label": "不同意修复", "opinion": "尚未履行"}),
    ("acceptance_notice", "objection", {"verify_days": 5, "decide_days": 4}),
    ("objection_decision", "objection", {"decision": "maintain", "reasons": "依据充分", "effect": "维持。", "push": "",
                                         "court": "", "verifier": "随州市财政局", "answer": "核实无误",
                                         "opinion": "记录无误", "corrections": []}),
]


@pytest.mark.parametrize("letter_type, case_type, context", LETTER_CASES)
def test_letters_about_a_person_name_the_person(staff, letter_type, case_type, context):
    from datetime import datetime, timezone

    from app.services import letters
    from tests.support import factories

    who = factories.person(staff["applicant1"].unit)
    record = factories.person_record(who, staff["verifier1"].unit, registered_at=datetime(2026, 5, 2, tzinfo=timezone.utc))
    case = factories.case(record, type=case_type, status="in_progress")
    case.submitted_at = datetime(2026, 11, 20, 2, tzinfo=timezone.utc)
    text = "".join(letters.render_body(case, letter_type, context))
    assert "副局长黄志明同志" in text
    unit_record = factories.record(staff["applicant1"].unit, staff["verifier1"].unit)
    unit_case = factories.case(unit_record, type=case_type, status="in_progress")
    unit_case.submitted_at = case.submitted_at
    assert "同志" not in "".join(letters.render_body(unit_case, letter_type, context))


def test_the_restoration_decision_names_whose_behaviour(staff):
    from datetime import datetime, timezone

    from app.services import letters
    from app.services.workflow import registry
    from tests.support import factories

    unit = staff["applicant1"].unit
    who = factories.person(unit)
    record = factories.person_record(who, staff["verifier1"].unit, registered_at=datetime(2026, 5, 2, tzinfo=timezone.utc))
    sanction = factories.sanction(unit, records=[record])
    case = factories.case(record, type="restoration", status="in_progress")
    case.form = {"sanction_id": sanction.id, "trigger": "repair"}
    kind = registry.letter_type("restoration_decision")
    text = "".join(letters.render_body(case, "restoration_decision", kind.context(case)))
    assert f"{unit.name}因副局长黄志明同志的政务失信行为（{record.basis_doc_no}）被取消荣誉评选资格" in text
