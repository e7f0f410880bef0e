"""Each refusal is in the audit log exactly once: refused uploads, refused state changes (409/422), CSRF failures,
access denials; saved filters and read notifications are audited; the icon and static files never count as denials."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AuditEvent, HumanTask, Notification
from tests.support.constants import T0
from app.services import notifications
from tests.support.clients import fresh_g, WebClient
from tests.support.files import PDF_BYTES
from tests.support.flows import file_objection, own_record


def events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def count(action: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


REFUSAL_ACTIONS = ("upload.refused", "state.refused", "access.denied", "security.csrf_failed")


def refusal_counts() -> dict[str, int]:
    return {action: count(action) for action in REFUSAL_ACTIONS}


def more(before: dict[str, int], **expected: int) -> None:
    """Assert the refusal events grew by exactly `expected` (upload_refused=1 …) and nothing else."""
    after = refusal_counts()
    grown = {action: after[action] - before[action] for action in REFUSAL_ACTIONS}
    want = {action: expected.get(action.replace(".", "_"), 0) for action in REFUSAL_ACTIONS}
    assert grown == want


@pytest.fixture()
def draft(api, seeded):
    client = api("applicant1")
    response = client.post("/api/v1/cases", json={"type": "objection", "record_id": own_record("applicant1").id,
                                                  "reason": "duplicate", "statement": "重复公示。"})
    assert response.status_code == 201, response.get_json()
    return client, response.get_json()["id"]


def test_a_refused_upload_is_one_upload_refused_event_through_the_api(draft):
    client, case_id = draft
    before = refusal_counts()
    response = client.post(f"/api/v1/cases/{case_id}/attachments", content_type="multipart/form-data",
                           data={"kind": "evidence", "file": (io.BytesIO(b"<html><script>x</script>"), "证据.pdf")})
    assert response.status_code == 422
    more(before, upload_refused=1)
    (event,) = events("upload.refused")
    assert event.username == "applicant1" and event.outcome == "denied"
    assert event.object_type == "case" and event.object_id == str(case_id)
    assert event.details["code"] == "bad_type" and event.details["type"] == "unknown"
    assert event.details["filename"] == "证据.pdf" and event.details["size"] == 24 and event.details["status"] == 422


def test_a_refused_upload_is_one_upload_refused_event_on_the_case_page(web, draft):
    _, case_id = draft
    before = refusal_counts()
    response = web("applicant1").post(f"/cases/{case_id}/attachments", form_page=f"/cases/{case_id}",
                                      data={"kind": "evidence", "file": (io.BytesIO(b"MZ\x90\x00"), "承诺书.pdf")},
                                      content_type="multipart/form-data", follow_redirects=True)
    assert "文件类型不允许：“承诺书.pdf”" in response.get_data(as_text=True)
    more(before, upload_refused=1)
    assert events("upload.refused")[0].details["method"] == "POST"


def test_a_duplicate_submission_is_one_state_refused_event(api, seeded):
    case = file_objection(api)
    before = refusal_counts()
    response = api("applicant1").post(f"/api/v1/cases/{case['id']}/submit")
    assert response.status_code == 409
    more(before, state_refused=1)
    (event,) = events("state.refused")
    assert event.details["status"] == 409 and event.details["code"] == "duplicate_submission"
    assert event.object_type == "route" and event.object_id == f"/api/v1/cases/{case['id']}/submit"
    assert event.username == "applicant1" and "请勿重复提交" in event.details["message"]


def test_a_submission_missing_materials_is_one_state_refused_event(draft):
    client, case_id = draft
    before = refusal_counts()
    response = client.post(f"/api/v1/cases/{case_id}/submit")
    assert response.status_code == 422
    more(before, state_refused=1)
    (event,) = events("state.refused")
    assert event.details["status"] == 422 and event.details["code"] == "missing_materials"
    assert event.details["fields"] == ["commitment", "evidence"]  # each missing kind by its own upload field


def test_a_conflict_flashed_by_a_page_is_one_state_refused_event(api, web, seeded):
    """A view that catches the refusal and flashes it is audited the same as one the error handler answers."""
    case = file_objection(api)
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case["id"],
                                                           HumanTask.status == "open"))
    before = refusal_counts()
    response = web("intake1").post(f"/tasks/{task_id}/release", form_page=f"/tasks/{task_id}", follow_redirects=True)
    assert "只能退回自己领取且未办结的任务" in response.get_data(as_text=True)
    more(before, state_refused=1)
    (event,) = events("state.refused")
    assert event.details["code"] == "not_holder" and event.username == "intake1"


def test_a_post_outside_reach_is_one_access_denial_not_also_a_state_refusal(web, seeded):
    before = refusal_counts()
    response = web("intake1").post(f"/tasks/{'0' * 32}/claim", form_page="/tasks/inbox")
    assert response.status_code == 404
    more(before, access_denied=1)


def test_an_api_post_outside_reach_is_one_access_denial(api, seeded):
    client = api("applicant2")
    case = file_objection(api)  # applicant1's case
    before = refusal_counts()
    response = client.post(f"/api/v1/cases/{case['id']}/submit")
    assert response.status_code == 404
    more(before, access_denied=1)


def test_a_refused_read_is_no_state_refusal(api, seeded):
    """Only changes are refused changes: a GET answered 422 is not audited as one."""
    before = refusal_counts()
    response = api("intake1").get("/api/v1/calendar/deadline?start=bad&working_days=3")
    assert response.status_code == 422
    more(before)


def test_a_wrong_current_password_is_audited_by_its_service_only(web, seeded):
    before = count("auth.password_change")
    refused = refusal_counts()
    response = web("applicant1").post("/password", {"current": "wrong-password", "new": "Neues@Passwort2026",
                                                    "repeat": "Neues@Passwort2026"})
    assert "当前密码不正确" in response.get_data(as_text=True)
    assert count("auth.password_change") == before + 1
    assert events("auth.password_change")[-1].outcome == "failure"
    more(refused)  # not recorded a second time as state.refused


def test_a_new_password_refused_by_policy_is_one_state_refused_event(web, seeded):
    before = refusal_counts()
    response = web("applicant1").post("/password", {"current": "Xinyong@2026", "new": "short", "repeat": "short"})
    assert response.status_code == 200
    more(before, state_refused=1)


def test_a_csrf_failure_is_one_security_event_with_the_user(web, seeded):
    browser = web("applicant1")
    before = refusal_counts()
    fresh_g()
    response = browser.client.post("/notifications", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert "表单已过期或缺少安全令牌，本次提交未生效" in response.get_data(as_text=True)
    more(before, security_csrf_failed=1)
    (event,) = events("security.csrf_failed")
    assert event.username == "applicant1" and event.object_id == "/notifications" and event.outcome == "denied"
    assert event.details["status"] == 400 and event.details["reason"]


def test_an_anonymous_csrf_failure_is_audited_without_a_user(seeded):
    before = refusal_counts()
    fresh_g()
    response = seeded.test_client().post("/login", data={"username": "applicant1", "password": "x"})
    assert response.status_code == 200 and "页面已过期，请重新提交。" in response.get_data(as_text=True)
    more(before, security_csrf_failed=1)
    (event,) = events("security.csrf_failed")
    assert event.user_id is None and event.username == "" and event.ip == "127.0.0.1"


def test_a_request_over_the_limit_is_one_upload_refused_event_through_the_api(app, draft):
    from tests.support.files import BodyTrap

    client, case_id = draft
    before = refusal_counts()
    fresh_g()
    response = client.client.post(f"/api/v1/cases/{case_id}/attachments", headers=client.headers,
                                  input_stream=BodyTrap(app.config["MAX_CONTENT_LENGTH"] + 1),
                                  content_type="multipart/form-data; boundary=----trap")
    assert response.status_code == 413
    assert "本次提交的内容合计超过 100 MB" in response.get_json()["error"]["message"]
    more(before, upload_refused=1)
    assert events("upload.refused")[0].details["code"] == "request_too_large"


def test_reading_notifications_is_audited(web, users):
    # What the demo's registrations told the unit was read before this test.
    db.session.execute(update(Notification).values(read_at=T0))
    notifications.notify_user(users["applicant1"], kind="new_task", title="新待办一")
    notifications.notify_user(users["applicant1"], kind="reminder", title="期限提醒")
    db.session.commit()
    response = web("applicant1").post("/notifications", {}, follow_redirects=True)
    assert "已将 2 条消息标为已读" in response.get_data(as_text=True)
    (event,) = events("notification.read")
    assert event.username == "applicant1" and event.details == {"count": 2}
    assert db.session.scalar(select(func.count()).select_from(Notification).where(Notification.read_at.is_(None))) == 0


def test_saving_a_filter_is_audited(web, seeded):
    web("intake1").post("/tasks/filters", {"name": "修复件", "process": "repair", "shared": "1"}, form_page="/tasks/inbox")
    (event,) = events("filter.save")
    assert event.username == "intake1" and event.object_type == "saved_filter"
    assert event.details == {"name": "修复件", "shared": True, "params": {"process": "repair"}}


def test_a_refused_filter_is_one_state_refused_event(web, seeded):
    before = refusal_counts()
    web("intake1").post("/tasks/filters", {"name": "", "process": "repair"}, form_page="/tasks/inbox")
    assert count("filter.save") == 0
    more(before, state_refused=1)


# --- the icon and static files ------------------------------------------------------------------------------------

def test_the_favicon_is_served_to_everyone(seeded):
    for who in (None, "applicant1"):
        browser = WebClient(seeded, who)
        fresh_g()
        response = browser.client.get("/favicon.ico")
        data = response.get_data()
        response.close()
        assert response.status_code == 200 and response.mimetype == "image/vnd.microsoft.icon"
        assert data[:4] == b"\0\0\1\0" and 0 < len(data) < 10_000  # an ICO directory header
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_link_the_icon(web):
    page = web("intake1").get("/tasks/inbox").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico"' in page


def test_a_signed_in_browsing_session_records_no_access_denial(web, api, seeded):
    """What a browser fetches by itself around each page (icon, stylesheets, a missing file) is never a denial."""
    case = file_objection(api)
    browser = web("applicant1")
    before = count("access.denied")
    for url in ("/portal/records", "/favicon.ico", "/static/app.css", f"/cases/{case['id']}", "/favicon.ico",
                "/static/js/attachment-preview.js", "/static/nope.css", "/static/../config.py", "/static/js/missing.js"):
        response = browser.get(url)
        response.get_data()
        response.close()
        assert response.status_code in (200, 404), url
    assert count("access.denied") == before


def test_a_missing_page_is_still_an_access_denial(web, seeded):
    browser = web("applicant1")
    before = count("access.denied")
    assert browser.get("/no/such/page").status_code == 404
    assert count("access.denied") == before + 1
