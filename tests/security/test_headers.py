"""Security headers on every response: each route in app.url_map, as each kind of user, with real and bad ids."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from werkzeug.routing.converters import NumberConverter

from app.extensions import db
from app.models import Attachment, HumanTask, Letter, OutboxMessage, Unit, User
from tests.support.clients import fresh_g, WebClient
from tests.support.flows import do_task, file_objection, own_record

# Only the attachment preview may be framed, by the app's own case page (cases.preview sets it).
FRAMEABLE = {"cases.preview"}
SIGNED_IN = ("applicant1", "intake1", "verifier1", "auditor1", "admin1")


@pytest.fixture()
def world(api, seeded):
    """Real objects of every kind a route takes: an objection waiting for approval, a rectification, their
    tasks, attachments and letters."""
    case = file_objection(api, "applicant1")
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_record", {"verify_choice": "no_error", "opinion": "核实无误。"})
    do_task(api, "intake1", case["id"], "draft_decision", {"decision": "maintain", "reasons": "记录无误。"})
    applicant = db.session.scalar(select(User).where(User.username == "applicant1"))
    first = own_record("applicant1")
    other = next(r for r in db.session.scalars(select(type(first)).where(
        type(first).subject_unit_id == applicant.unit_id, type(first).status == "published",
        type(first).subject_type == "unit",  # a rectification is for a unit's record only
        type(first).id != first.id).order_by(type(first).id)))
    rect = api("intake1").post("/api/v1/cases", json={"type": "rectification", "record_id": other.id,
                                                      "deadline_days": 10, "requirements": "限期纠正。"})
    assert rect.status_code == 201, rect.get_json()
    db.session.expire_all()
    letter = db.session.scalar(select(Letter).where(Letter.case_id == case["id"]).order_by(Letter.id))
    return {
        "case_id": case["id"], "rect_case_id": rect.get_json()["id"], "record_id": case["record_id"],
        "other_record_id": other.id, "letter_id": letter.id, "verify_code": letter.verify_code,
        "attachment_id": db.session.scalar(select(Attachment.id).where(Attachment.case_id == case["id"])),
        "approve_task_id": db.session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == case["id"], HumanTask.status == "open")),
        "done_task_id": db.session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == case["id"], HumanTask.status != "open")),
        "rect_task_id": db.session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == rect.get_json()["id"], HumanTask.status == "open")),
        "unit_id": applicant.unit_id,
        "message_id": db.session.scalar(select(OutboxMessage.id).limit(1)) or 1,
        "foreign_unit_id": db.session.scalar(select(Unit.id).where(Unit.id != applicant.unit_id).limit(1)),
    }


def sample_urls(app, world) -> list[tuple[str, str, tuple[str, ...]]]:
    """(endpoint, url, methods) for every rule: once with real object ids, once with bad ones."""
    good = {
        "case_id": world["case_id"], "record_id": world["record_id"], "letter_id": world["letter_id"],
        "attachment_id": world["attachment_id"], "task_id": world["approve_task_id"],
        "message_id": world["message_id"], "unit_id": world["unit_id"], "sanction_id": 1,
        "filename": "app.css",
    }
    bad = {"filename": "../../config.py"}
    out = []
    for rule in app.url_map.iter_rules():
        methods = tuple(sorted(rule.methods - {"HEAD", "OPTIONS"}))
        for values, label in ((good, "good"), (bad, "bad")):
            args = {}
            for name in rule.arguments:
                numeric = isinstance(rule._converters[name], NumberConverter)
                if name == "code":
                    value = {"good": "zh" if rule.endpoint == "auth.set_language" else world["verify_code"],
                             "bad": "xx"}[label]
                elif name in values:
                    value = values[name]
                else:
                    value = 999999 if numeric else "nope"
                if label == "bad" and name not in bad and name != "code":
                    value = 999999 if numeric else "0" * 32
                args[name] = value
            url = rule.build(args, append_unknown=False)[1]
            out.append((rule.endpoint, url, methods))
    return out


def assert_secure_headers(response, endpoint: str, where: str) -> None:
    headers = response.headers
    assert response.status_code != 500 and response.status_code < 500 or endpoint == "health.healthz", \
        f"{where}: {response.status_code}"
    csp = headers.get("Content-Security-Policy", "")
    assert csp, f"{where}: no CSP"
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    script = directives.get("script-src", directives.get("default-src"))
    assert script is not None, f"{where}: CSP without script-src or default-src"
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script and "*" not in script, where
    assert directives.get("object-src") == ["'none'"], f"{where}: {csp}"
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), where
    if endpoint in FRAMEABLE and response.status_code == 200:
        assert directives.get("frame-ancestors") == ["'self'"] and headers.get("X-Frame-Options") == "SAMEORIGIN", where
    else:
        assert directives.get("frame-ancestors") == ["'none'"], f"{where}: {csp}"
        assert headers.get("X-Frame-Options") == "DENY", where


def _get(client, url, **kw):
    fresh_g()
    response = client.get(url, **kw)
    response.get_data()  # buffer the body, then close file-backed responses (static files)
    response.close()
    return response


@pytest.mark.parametrize("who", [None, *SIGNED_IN])
def test_every_get_route_sends_security_headers(seeded, world, who):
    browser = WebClient(seeded, who)
    seen = 0
    for endpoint, url, methods in sample_urls(seeded, world):
        response = _get(browser.client, url)  # a POST-only route answers 405 (or matches a GET route)
        if "GET" not in methods:
            # A POST-only API path shared with a GET route (POST and GET /api/v1/records) answers as the GET
            # route does to a browser without a token: 401.
            matched = (401,) if url.startswith("/api/") else ()
            assert response.status_code in (302, 404, 405, *matched), f"{who} GET {url}: {response.status_code}"
        assert_secure_headers(response, endpoint, f"{who} GET {url} -> {response.status_code}")
        seen += 1
    assert seen >= 2 * 60


@pytest.mark.parametrize("who", [None, "applicant1", "intake1"])
def test_post_routes_without_a_csrf_token_are_refused_with_headers(seeded, world, who):
    """Every web POST route, sent without a CSRF token: 400 (or 404 outside reach), never a change; a form page
    marked to keep a stale form shows itself again (200)."""
    browser = WebClient(seeded, who)
    for endpoint, url, methods in sample_urls(seeded, world):
        if "POST" not in methods or url.startswith("/api/") or endpoint == "static":
            continue
        fresh_g()
        response = browser.client.post(url, data={"x": "1"})
        refills = (200,) if getattr(seeded.view_functions[endpoint], "refills_stale_form", False) else ()
        assert response.status_code in (302, 400, 404, *refills), f"{who} POST {url}: {response.status_code}"
        assert_secure_headers(response, endpoint, f"{who} POST {url}")


@pytest.mark.parametrize("who", [None, "applicant1", "intake1"])
def test_every_api_route_sends_security_headers_and_json_errors(seeded, world, api, who):
    client = api(who).client if who else seeded.test_client()
    headers = api(who).headers if who else {}
    for endpoint, url, methods in sample_urls(seeded, world):
        if not url.startswith("/api/"):
            continue
        for method in methods:
            if method == "POST" and who:
                continue  # writes are fuzzed in test_schemathesis.py
            fresh_g()
            response = client.open(url, method=method, headers=headers)
            assert_secure_headers(response, endpoint, f"{who} {method} {url}")
            if response.status_code >= 400:
                body = response.get_json(silent=True)
                assert body and set(body["error"]) >= {"code", "message"}, f"{method} {url}: not a JSON error"


def test_downloads_and_exports_send_security_headers(seeded, world):
    applicant, staff = WebClient(seeded, "applicant1"), WebClient(seeded, "intake1")
    downloads = [
        (applicant, "cases.download", f"/cases/attachments/{world['attachment_id']}"),
        (applicant, "cases.preview", f"/cases/attachments/{world['attachment_id']}/preview"),
        (applicant, "cases.letter_pdf", f"/cases/letters/{world['letter_id']}.pdf"),
        (WebClient(seeded, "approver1"), "staff.preview", f"/tasks/{world['approve_task_id']}/preview.pdf"),
        (staff, "dashboard.cases_csv", "/dashboard/cases.csv"),
        (staff, "dashboard.cases_xlsx", "/dashboard/cases.xlsx"),
        (staff, "dashboard.figures_csv", "/dashboard/figures.csv"),
        (staff, "dashboard.figures_xlsx", "/dashboard/figures.xlsx"),
        (WebClient(seeded), "static", "/static/app.css"),
    ]
    for browser, endpoint, url in downloads:
        response = _get(browser.client, url)
        assert response.status_code == 200, url
        assert_secure_headers(response, endpoint, url)
        if endpoint not in ("static", "cases.preview", "staff.preview"):
            assert response.headers["Content-Disposition"].startswith("attachment;"), url
    api_pdf = _get(seeded.test_client(), f"/api/v1/letters/{world['letter_id']}.pdf")
    assert api_pdf.status_code == 401


def test_error_pages_send_security_headers(seeded, world, monkeypatch):
    client = seeded.test_client()
    for url, status in (("/no/such/page", 404), ("/api/v1/no/such", 404), ("/static/nope.css", 404)):
        response = _get(client, url)
        assert response.status_code == status, url
        assert_secure_headers(response, "", url)
    assert _get(client, "/api/v1/no/such").get_json()["error"]["code"] == "404"
    fresh_g()
    response = client.post("/logout", data={"x": "1"})  # no CSRF token (a form page would show itself again)
    assert response.status_code == 400
    assert_secure_headers(response, "auth.logout", "POST /logout without token")
    fresh_g()
    response = client.post("/public", data={})
    assert response.status_code == 405
    assert_secure_headers(response, "public.index", "POST /public")
    from tests.support.files import BodyTrap

    for url in ("/logout", "/api/v1/auth/token"):  # no form page to go back to (that gets a 303 to itself)
        fresh_g()
        response = client.post(url, input_stream=BodyTrap(seeded.config["MAX_CONTENT_LENGTH"] + 1),
                               content_type="multipart/form-data; boundary=x")
        assert response.status_code == 413, url
        assert_secure_headers(response, "", f"413 {url}")


@pytest.mark.parametrize("url, endpoint", [("/public", "public.index"), ("/api/v1/openapi.json", "api.openapi")])
def test_a_crash_answers_500_with_headers_and_no_trace(seeded, monkeypatch, url, endpoint):
    """An unexpected exception still gets the headers and a page that leaks nothing."""
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals /work/main/app")

    monkeypatch.setitem(seeded.view_functions, endpoint, boom)
    monkeypatch.setitem(seeded.config, "PROPAGATE_EXCEPTIONS", False)
    response = _get(seeded.test_client(), url)
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body
    headers = response.headers
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"]
    if url.startswith("/api/"):
        assert response.get_json()["error"]["code"] == "500"
    else:
        assert "系统" in body or "错误" in body  # a Chinese error page, not Werkzeug's English one


def test_html_pages_carry_no_inline_script(seeded, world):
    """CSP forbids inline script, so pages must not rely on any: no <script> without src, no on* handlers."""
    pages = ["/public", "/public/records", "/public/progress", f"/v/{world['verify_code']}", "/login"]
    staff = WebClient(seeded, "intake1")
    applicant = WebClient(seeded, "applicant1")
    checks = [(WebClient(seeded), p) for p in pages] + [
        (staff, "/tasks/inbox"), (staff, f"/tasks/{world['done_task_id']}"), (staff, f"/cases/{world['case_id']}"),
        (staff, "/dashboard/"), (staff, f"/records/{world['other_record_id']}"), (applicant, "/portal/records"),
        (applicant, f"/portal/records/{world['record_id']}"), (applicant, f"/cases/{world['case_id']}"),
        (applicant, "/notifications"),
    ]
    for browser, url in checks:
        response = _get(browser.client, url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), url
        assert not re.search(r"\son[a-z]+\s*=", page), url
        assert "javascript:" not in page, url
