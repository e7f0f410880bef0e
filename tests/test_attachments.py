"""Evidence uploads: type by content, size limit, Chinese names as display text only."""
from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment
from app.services.attachments import display_name, sniff_type
from tests.conftest import PDF_BYTES, PNG_BYTES
from tests.test_objection_api import own_record


def ofd_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("OFD.xml", "<ofd:OFD/>")
    return buffer.getvalue()


@pytest.mark.parametrize("data, expected", [
    (PDF_BYTES, "application/pdf"),
    (PNG_BYTES, "image/png"),
    (b"\xff\xd8\xff\xe0" + b"\0" * 20, "image/jpeg"),
    (ofd_bytes(), "application/ofd"),
    (b"<html><script>alert(1)</script></html>", None),  # HTML renamed .pdf
    (b"PK\x03\x04not really a zip", None),
    (b"MZ\x90\x00", None),  # a Windows executable
])
def test_sniff_type(data, expected):
    assert sniff_type(data[:16], data) == expected


@pytest.mark.parametrize("raw, shown", [
    ("证据材料.pdf", "证据材料.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\x\\撤销决定.pdf", "撤销决定.pdf"),
    ("bad\x00name\r\n.pdf", "badname.pdf"),
    ("", "未命名文件"),
])
def test_display_name(raw, shown):
    assert display_name(raw) == shown


@pytest.fixture()
def draft(api, seeded):
    client = api("applicant1")
    record = own_record("applicant1")
    case_id = client.post("/api/v1/cases", json={"type": "objection", "record_id": record.id, "reason": "duplicate",
                                                 "statement": "重复公示。"}).get_json()["id"]
    return client, case_id


def upload(client, case_id, data: bytes, name: str, kind="evidence"):
    return client.post(f"/api/v1/cases/{case_id}/attachments", data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_html_renamed_pdf_is_refused(draft):
    client, case_id = draft
    response = upload(client, case_id, b"<html><script>alert(1)</script></html>", "证据.pdf")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "bad_type"
    assert db.session.scalar(select(Attachment)) is None


def test_oversized_upload_is_refused(draft, app):
    client, case_id = draft
    app.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        response = upload(client, case_id, PDF_BYTES + b"0" * 4096, "大文件.pdf")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 20 * 1024 * 1024
    assert response.status_code == 413
    assert db.session.scalar(select(Attachment)) is None


def test_unknown_kind_is_refused(draft):
    client, case_id = draft
    assert upload(client, case_id, PDF_BYTES, "a.pdf", kind="../../x").status_code == 422


def test_stored_under_generated_id(draft, app):
    from pathlib import Path

    client, case_id = draft
    body = upload(client, case_id, PDF_BYTES, "证据材料.pdf").get_json()
    assert body["name"] == "证据材料.pdf" and body["content_type"] == "application/pdf"
    stored = list(Path(app.config["FILE_STORE"]).rglob(body["id"]))
    assert len(stored) == 1 and "证据" not in str(stored[0])
