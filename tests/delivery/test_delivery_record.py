"""Who and what delivers a letter (送达): its addressee's first opening in the app, or the office's entry."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.core import clock
from app.core.clock import local_date, local_today
from app.core.errors import Invalid
from app.extensions import db
from app.models import AuditEvent, CaseEvent, Letter
from app.services import delivery
from tests.support.constants import T0
from tests.support.delivery import start_probe

WEB_PDF, API_PDF = "/cases/letters/{id}.pdf", "/api/v1/letters/{id}.pdf"


def _letter(case) -> Letter:
    return db.session.scalar(select(Letter).where(Letter.case_id == case.id))


def _delivered_events(case) -> list[CaseEvent]:
    return list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.action == "letter_delivered")))


@pytest.mark.parametrize("username, status, delivers", [
    ("applicant1", 200, True),    # an applicant of the unit it is addressed to
    ("intake1", 200, False),      # staff reading it
    ("approver1", 200, False),
    ("verifier1", 200, False),    # the recording unit's copy
    ("applicant2", 404, False),   # another unit: not even there
])
@pytest.mark.parametrize("through", ["web", "api"])
def test_who_opening_it_delivers_it(probe, web, api, username, status, delivers, through):
    case = start_probe(probe)
    db.session.commit()
    letter = _letter(case)
    clock.set_frozen(T0 + timedelta(days=4, hours=1))  # Tuesday 2026-12-01, 11:00 local
    client = web(username) if through == "web" else api(username)
    response = client.get((WEB_PDF if through == "web" else API_PDF).format(id=letter.id))
    assert response.status_code == status
    db.session.expire_all()
    letter = _letter(case)
    assert (letter.delivered_at is not None) is delivers
    if delivers:
        assert (letter.delivery_method, letter.delivered_by_id) == ("electronic", probe[username].id)
        assert local_date(letter.delivered_at) == date(2026, 12, 1)
        [event] = _delivered_events(case)
        assert event.comment.startswith("已送达（电子送达）：送达测试通知书") and "2026年12月1日" in event.comment
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "letter.deliver")) is not None
    else:
        assert _delivered_events(case) == []


def test_only_the_first_opening_delivers(probe, api):
    case = start_probe(probe)
    db.session.commit()
    letter_id = _letter(case).id
    assert api("applicant1").get(API_PDF.format(id=letter_id)).status_code == 200
    first = _letter(case).delivered_at
    assert first is not None
    clock.set_frozen(T0 + timedelta(days=5))
    assert api("applicant1").get(API_PDF.format(id=letter_id)).status_code == 200
    db.session.expire_all()
    assert _letter(case).delivered_at == first
    assert len(_delivered_events(case)) == 1


def test_an_office_delivery_is_not_overwritten_by_the_addressee_opening_it(probe, api):
    case = start_probe(probe)
    db.session.commit()
    letter_id = _letter(case).id
    assert api("intake1").post(f"/api/v1/letters/{letter_id}/delivery",
                               json={"delivered_on": local_today().isoformat(), "method": "direct"}).status_code == 200
    clock.set_frozen(T0 + timedelta(days=3))
    api("applicant1").get(API_PDF.format(id=letter_id))
    db.session.expire_all()
    assert _letter(case).delivery_method == "direct"


# T0 is Friday 2026-11-27 (local), the issue day.
@pytest.mark.parametrize("username, body, status, field", [
    ("intake1", {"delivered_on": "2026-11-27", "method": "post"}, 200, None),            # the issue day itself
    ("approver1", {"delivered_on": "2026-11-30", "method": "direct", "note": "当面签收"}, 200, None),  # today
    ("intake1", {"delivered_on": "2026-11-26", "method": "post"}, 422, "delivered_on"),  # before the issue
    ("intake1", {"delivered_on": "2026-12-01", "method": "post"}, 422, "delivered_on"),  # tomorrow
    ("intake1", {"delivered_on": "2026-11-31", "method": "post"}, 422, "delivered_on"),  # no such day
    ("intake1", {"delivered_on": "", "method": "post"}, 422, "delivered_on"),
    ("intake1", {"delivered_on": "2026-11-28", "method": "electronic"}, 422, "delivery_method"),  # not the office's
    ("intake1", {"delivered_on": "2026-11-28", "method": "other"}, 422, "delivery_note"),  # other: say how
    ("intake1", {"delivered_on": "2026-11-28", "method": "post", "note": "字" * 501}, 422, "delivery_note"),
    ("verifier1", {"delivered_on": "2026-11-28", "method": "post"}, 404, None),          # wrong role: no such route
    ("applicant1", {"delivered_on": "2026-11-28", "method": "post"}, 404, None),
])
def test_the_office_enters_a_delivery(probe, api, username, body, status, field):
    case = start_probe(probe)
    db.session.commit()
    letter_id = _letter(case).id
    clock.set_frozen(T0 + timedelta(days=3, hours=1))  # Monday 2026-11-30, 11:00 local
    response = api(username).post(f"/api/v1/letters/{letter_id}/delivery", json=body)
    assert response.status_code == status, response.get_json()
    db.session.expire_all()
    letter = _letter(case)
    if status == 200:
        assert local_date(letter.delivered_at).isoformat() == body["delivered_on"]
        assert (letter.delivery_method, letter.delivery_note) == (body["method"], body.get("note"))
        assert response.get_json()["delivery"]["delivered_on"] == body["delivered_on"]
        [event] = _delivered_events(case)
        assert body["delivered_on"][-2:].lstrip("0") + "日" in event.comment
        assert letter.delivered_at <= clock.now()
    else:
        assert letter.delivered_at is None and _delivered_events(case) == []
        if field:
            assert field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("username", ["verifier1", "applicant1", "admin1", "auditor1"])
def test_the_service_refuses_other_roles_too(probe, username):
    case = start_probe(probe)
    with pytest.raises(Invalid) as refused:
        delivery.record_office_delivery(probe[username], _letter(case), day=local_today(), method="post")
    assert refused.value.code == "delivery_role" and _letter(case).delivered_at is None


def test_a_delivery_is_entered_once(probe, api):
    case = start_probe(probe)
    db.session.commit()
    letter_id = _letter(case).id
    url = f"/api/v1/letters/{letter_id}/delivery"
    assert api("intake1").post(url, json={"delivered_on": "2026-11-27", "method": "post"}).status_code == 200
    second = api("approver1").post(url, json={"delivered_on": "2026-11-27", "method": "direct"})
    assert second.status_code == 409 and "不能重复登记" in second.get_json()["error"]["message"]
    db.session.expire_all()
    assert _letter(case).delivery_method == "post" and len(_delivered_events(case)) == 1


def test_the_case_page_shows_the_delivery_and_the_office_form(probe, web):
    case = start_probe(probe)
    db.session.commit()
    letter = _letter(case)
    page = web("intake1").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "未送达" in page and f"/cases/letters/{letter.id}/delivery" in page
    assert "期限：自送达起10个工作日；尚未送达" in page
    applicant = web("applicant1")
    assert f"/cases/letters/{letter.id}/delivery" not in applicant.get(f"/cases/{case.id}").get_data(as_text=True)
    applicant.get(WEB_PDF.format(id=letter.id))
    page = applicant.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "送达：2026年11月27日 电子送达" in page and "截止：2026年12月11日（含）" in page


def test_the_web_form_records_a_delivery_and_refuses_a_bad_one(probe, web):
    case = start_probe(probe)
    db.session.commit()
    letter = _letter(case)
    client = web("intake1")
    url, page = f"/cases/letters/{letter.id}/delivery", f"/cases/{case.id}"
    refused = client.post(url, {"delivered_on": "2026-11-26", "delivery_method": "post"}, form_page=page,
                          follow_redirects=True)
    assert "送达日期不能早于文书出具日期（2026年11月27日）" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert _letter(case).delivered_at is None
    done = client.post(url, {"delivered_on": "2026-11-27", "delivery_method": "post", "delivery_note": "EMS1234"},
                       form_page=page, follow_redirects=True)
    assert "送达：2026年11月27日 邮寄送达" in done.get_data(as_text=True)
