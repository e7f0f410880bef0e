"""限制评优评先 for a civil servant on a date (issue 12 §5): the rule's day boundaries, the roles that may ask, the
lookup by ID number (posted), and the audit of every query (person.query)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.demo.seed import demo_id_number
from app.extensions import db
from app.models import AuditEvent, RecordHistory
from app.services import persons
from tests.support import factories

CST = timezone(timedelta(hours=8))
HUANG = "42130319780512123"


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) instant."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def end(record, to: str, instant) -> None:
    db.session.add(RecordHistory(record_id=record.id, at=instant, action="status", from_status=record.status,
                                 to_status=to, changes={}, reason="测试"))
    record.status = to
    db.session.flush()


@pytest.fixture()
def world(staff):
    unit = staff["applicant1"].unit
    who = factories.person(unit)
    factories.user("personnel", factories.unit("测试市人社局"), username="personnel1")
    db.session.commit()
    return {"person": who, "unit": unit, "recorder": staff["verifier1"].unit}


def restricted(who, day: str) -> bool:
    db.session.expire_all()
    return persons.award_eligibility(who, date.fromisoformat(day)).restricted


# Registered at 00:30 local on 1 June (still 31 May in UTC): the local date counts.
REGISTERED = at("2026-06-01T00:30:00")


@pytest.mark.parametrize("ended, day, expected", [
    (None, "2026-05-31", False),  # before registration
    (None, "2026-06-01", True),  # the day of registration (UTC still says 31 May)
    (None, "2027-12-31", True),  # in force until it ends, whatever the date
    (("repaired", "2026-09-01T09:00:00"), "2026-08-31", True),  # the last day before the repair
    (("repaired", "2026-09-01T09:00:00"), "2026-09-01", False),  # the day of the repair
    (("repaired", "2026-09-01T23:59:00"), "2026-09-01", False),  # late that day: still that day
    (("repaired", "2026-09-02T00:10:00"), "2026-09-01", True),  # after midnight local: the next day
    (("expired", "2026-10-10T02:00:00"), "2026-10-09", True),
    (("expired", "2026-10-10T02:00:00"), "2026-10-10", False),  # expiry ends it too
    (("revoked", "2026-07-01T10:00:00"), "2026-07-01", False),  # revoked (objection or source change)
    (("revoked", "2026-07-01T10:00:00"), "2026-06-30", True),
])
def test_record_in_force_from_registration_until_it_ends(world, ended, day, expected):
    record = factories.person_record(world["person"], world["recorder"], registered_at=REGISTERED)
    if ended:
        end(record, ended[0], at(ended[1]))
    assert restricted(world["person"], day) is expected


def test_a_dispute_does_not_end_a_record_and_a_draft_never_restricts(world):
    record = factories.person_record(world["person"], world["recorder"], registered_at=REGISTERED)
    end(record, "disputed", at("2026-07-01T10:00:00"))
    end(record, "published", at("2026-07-20T10:00:00"))  # maintained
    assert restricted(world["person"], "2026-07-10") and restricted(world["person"], "2026-08-01")
    end(record, "disputed", at("2026-08-01T10:00:00"))
    end(record, "corrected", at("2026-08-10T10:00:00"))  # corrected, still in force
    assert restricted(world["person"], "2026-08-10")
    other = factories.person(world["unit"], name="赵卫东", post="副镇长", body17="42132119800923345")
    factories.record(world["unit"], world["recorder"], subject_type="person", person_id=other.id,
                     person_name=other.name, person_post=other.post, status="reviewing")
    assert not restricted(other, "2026-11-27")  # still under review: no record yet


@pytest.mark.parametrize("start, term_end, lifted, day, expected", [
    ("2026-07-01", "2026-07-31", None, "2026-06-30", False),
    ("2026-07-01", "2026-07-31", None, "2026-07-01", True),  # from its first day
    ("2026-07-01", "2026-07-31", None, "2026-07-31", True),  # through its last day
    ("2026-07-01", "2026-07-31", None, "2026-08-01", False),
    ("2026-07-01", None, None, "2030-01-01", True),  # no term: until lifted
    ("2026-07-01", None, "2026-07-15T09:00:00", "2026-07-14", True),
    ("2026-07-01", None, "2026-07-15T09:00:00", "2026-07-15", False),  # lifted that day
])
def test_award_restriction_sanction_covers_its_term(world, start, term_end, lifted, day, expected):
    record = factories.person_record(world["person"], world["recorder"], registered_at=REGISTERED)
    end(record, "repaired", at("2026-06-02T09:00:00"))  # the record itself no longer restricts
    factories.sanction(world["unit"], kind="award_restriction", status="lifted" if lifted else "active",
                       start_date=date.fromisoformat(start),
                       term_end=date.fromisoformat(term_end) if term_end else None,
                       lifted_at=at(lifted) if lifted else None, records=[record])
    assert restricted(world["person"], day) is expected


def test_other_kinds_and_other_peoples_sanctions_do_not_restrict(world):
    record = factories.person_record(world["person"], world["recorder"], registered_at=REGISTERED)
    end(record, "repaired", at("2026-06-02T09:00:00"))
    factories.sanction(world["unit"], kind="honor_disqualification", start_date=date(2026, 7, 1), records=[record])
    unit_record = factories.record(world["unit"], world["recorder"])
    factories.sanction(world["unit"], kind="award_restriction", start_date=date(2026, 7, 1), records=[unit_record])
    factories.sanction(world["unit"], kind="award_restriction", status="proposed", start_date=date(2026, 7, 1),
                       records=[record])
    assert not restricted(world["person"], "2026-07-10")


def test_the_answer_names_the_records_and_until_when(world, api):
    record = factories.person_record(world["person"], world["recorder"], registered_at=REGISTERED)
    db.session.commit()
    body = api("personnel1").get(f"/api/v1/persons/{world['person'].id}/award-eligibility?date=2026-06-01").get_json()
    assert body["restricted"] is True and body["date"] == "2026-06-01"
    [reason] = body["reasons"]
    assert reason == {**reason, "kind": "record", "record_id": record.id, "basis_doc_no": record.basis_doc_no,
                      "since": "2026-06-01", "earliest_end": record.earliest_repair_date.isoformat(),
                      "latest_end": record.auto_end_date.isoformat()}
    assert "facts" not in reason and "legal_basis" not in reason  # no case content
    before = api("personnel1").get(f"/api/v1/persons/{world['person'].id}/award-eligibility?date=2026-05-31")
    assert before.get_json()["restricted"] is False and before.get_json()["reasons"] == []


@pytest.mark.parametrize("username, status", [
    ("personnel1", 200), ("intake1", 200), ("approver1", 200),
    ("applicant1", 404), ("verifier1", 404), ("auditor1", 404), ("admin1", 404),
])
def test_who_may_ask(world, api, username, status):
    assert api(username).get(f"/api/v1/persons/{world['person'].id}/award-eligibility").status_code == status
    by_number = api(username).post("/api/v1/persons/award-eligibility", json={"id_number": demo_id_number(HUANG)})
    assert by_number.status_code == status



def test_lookup_by_id_number_checks_it_and_answers_unknown_people(world, api):
    factories.person_record(world["person"], world["recorder"], registered_at=REGISTERED)
    db.session.commit()
    caller = api("personnel1")
    good = demo_id_number(HUANG)
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    refused = caller.post("/api/v1/persons/award-eligibility", json={"id_number": wrong, "date": "2026-06-01"})
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert "校验位" in error["message"] and "校验位" in error["fields"]["id_number"]
    assert good[17] in error["fields"]["id_number"]  # names the expected check character
    short = caller.post("/api/v1/persons/award-eligibility", json={"id_number": good[:17]})
    assert short.status_code == 422 and "18 位" in short.get_json()["error"]["fields"]["id_number"]
    for body in ({}, {"id_number": 42}, []):
        assert caller.post("/api/v1/persons/award-eligibility", json=body).status_code == 422
    assert caller.post("/api/v1/persons/award-eligibility",
                       json={"id_number": good, "date": "2026-13-01"}).status_code == 422
    found = caller.post("/api/v1/persons/award-eligibility", json={"id_number": good.lower(), "date": "2026-06-01"})
    assert found.status_code == 200 and found.get_json()["restricted"] is True
    assert found.get_json()["person"]["id_masked"] == world["person"].id_masked
    assert good not in found.get_data(as_text=True)  # the clear number is never answered
    stranger = demo_id_number("42130319900101001")
    unknown = caller.post("/api/v1/persons/award-eligibility", json={"id_number": stranger}).get_json()
    assert unknown["found"] is False and unknown["restricted"] is False
    assert caller.get("/api/v1/persons/999999/award-eligibility").status_code == 404
    assert caller.get(f"/api/v1/persons/{world['person'].id}/award-eligibility?date=tomorrow").status_code == 422


def test_every_query_is_audited_without_the_number(world, api):
    caller = api("personnel1")
    caller.get(f"/api/v1/persons/{world['person'].id}/award-eligibility?date=2026-06-01")
    caller.post("/api/v1/persons/award-eligibility", json={"id_number": demo_id_number(HUANG)})
    caller.post("/api/v1/persons/award-eligibility", json={"id_number": demo_id_number("42130319900101001")})
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.query")
                                .order_by(AuditEvent.id)).all()
    assert [(e.username, e.object_id, e.details["by"], e.details["found"]) for e in events] == [
        ("personnel1", str(world["person"].id), "person_id", True),
        ("personnel1", str(world["person"].id), "id_number", True),
        ("personnel1", "", "id_number", False)]
    assert events[0].details["date"] == "2026-06-01"
    assert all(demo_id_number(HUANG) not in str(e.details) for e in events)


@pytest.mark.parametrize("path", ["/api/v1/records", "/api/v1/sanctions", "/api/v1/tasks", "/api/v1/cases/1"])
def test_personnel_sees_no_case_content(world, api, path):
    assert api("personnel1").get(path).status_code == 404
