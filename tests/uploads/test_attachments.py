"""Evidence uploads: type by content, size limit, Chinese names as display text only."""
from __future__ import annotations

import io
import struct
import time
import zipfile

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Attachment, AuditEvent, Case
from app.services.attachments import TooManyEntries, display_name, sniff_type, zip_entry_names
from tests.support.files import PDF_BYTES, PNG_BYTES, ofd_bytes
from tests.support.flows import own_record

MB = 1024 * 1024


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
    response = client.post(f"/api/v1/cases/{case_id}/attachments", data={"kind": kind, "file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
    return finished(response)


def finished(response):
    """Read and close a response and the test client's request body (spooled to a temporary file when large)."""
    response.get_data()
    response.close()
    response.request.input_stream.close()
    return response


def test_html_renamed_pdf_is_refused(draft):
    client, case_id = draft
    response = upload(client, case_id, b"<html><script>alert(1)</script></html>", "证据.pdf")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "bad_type"
    assert db.session.scalar(select(Attachment).where(Attachment.kind != "basis_document")) is None


def assert_upload_refused(response, code: str, message: str) -> None:
    """The API refused the upload as unprocessable, with this error code and the message the applicant reads."""
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"] == message


def refusals(action: str = "upload.refused") -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_a_file_over_the_per_file_limit_is_refused_naming_it(draft, app, monkeypatch):
    client, case_id = draft
    monkeypatch.setitem(app.config, "MAX_FILE_BYTES", 1024)
    assert_upload_refused(upload(client, case_id, PDF_BYTES + b"0" * 4096, "大文件.pdf"), "too_large",
                          "文件“大文件.pdf”大小为 4.1 KB，超过单个文件 1 KB 的上限，未接收。")
    assert db.session.scalar(select(Attachment).where(Attachment.kind != "basis_document")) is None
    (event,) = refusals()
    assert event.outcome == "denied" and event.object_type == "case" and event.object_id == str(case_id)
    assert event.details["code"] == "too_large" and event.details["filename"] == "大文件.pdf"
    assert event.details["size"] == len(PDF_BYTES) + 4096 and event.details["status"] == 422
    assert refusals("state.refused") == []  # one refusal, one event


def test_a_file_just_over_20_mb_reads_as_over_the_limit(draft):
    client, case_id = draft
    response = upload(client, case_id, PDF_BYTES + b"0" * (20 * MB + 1 - len(PDF_BYTES)), "扫描件.pdf")
    assert response.status_code == 422
    assert response.get_json()["error"]["message"] == \
        "文件“扫描件.pdf”大小为 20.1 MB，超过单个文件 20 MB 的上限，未接收。"


def big_pdf(megabytes: int) -> bytes:
    return PDF_BYTES + b"0" * (megabytes * MB - len(PDF_BYTES))


def test_two_11_mb_scans_in_one_objection_are_accepted(web, seeded):
    """20 MB is per file: the request that carries two 11 MB scans and a commitment is not a bare 413."""
    record = own_record("applicant1")
    response = web("applicant1").post(f"/portal/records/{record.id}", {
        "action": "objection", "objection-reason": "duplicate", "objection-statement": "重复公示。",
        "objection-evidence": [(io.BytesIO(big_pdf(11)), "扫描件一.pdf"), (io.BytesIO(big_pdf(11)), "扫描件二.pdf")],
        "objection-commitment": (io.BytesIO(PDF_BYTES), "承诺书.pdf"),
    }, content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200 and "异议申请已提交" in finished(response).get_data(as_text=True)
    db.session.expire_all()
    sizes = sorted(db.session.scalars(select(Attachment.size).where(Attachment.kind != "basis_document")))
    assert sizes == [len(PDF_BYTES), 11 * MB, 11 * MB]


def test_a_21_mb_scan_in_an_objection_is_refused_by_name_and_nothing_is_kept(web, seeded, app):
    record = own_record("applicant1")
    response = web("applicant1").post(f"/portal/records/{record.id}", {
        "action": "objection", "objection-reason": "duplicate", "objection-statement": "重复公示。",
        "objection-evidence": [(io.BytesIO(PDF_BYTES), "小文件.pdf"), (io.BytesIO(big_pdf(21)), "超大扫描件.pdf")],
        "objection-commitment": (io.BytesIO(PDF_BYTES), "承诺书.pdf"),
    }, content_type="multipart/form-data")
    page = finished(response).get_data(as_text=True)
    assert response.status_code == 200
    assert "文件“超大扫描件.pdf”大小为 21 MB，超过单个文件 20 MB 的上限，未接收。" in page
    # Shown again as typed, the message under the evidence field (not under the commitment's).
    assert '<option selected value="duplicate">' in page and "重复公示。</textarea>" in page
    evidence = page[page.index('id="objection-evidence"'):page.index('for="objection-commitment"')]
    assert '<p class="field-error">文件“超大扫描件.pdf”大小为 21 MB' in evidence
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Case).where(Case.type != "registration")) == 0
    assert db.session.scalar(select(Attachment).where(Attachment.kind != "basis_document")) is None
    (event,) = refusals()
    assert event.details["filename"] == "超大扫描件.pdf" and event.details["size"] == 21 * MB
    assert event.username == "applicant1"
    # The refused application's case was rolled back: the event names the page, not an id a later case may get.
    assert event.object_type == "route" and event.object_id == f"/portal/records/{record.id}"
    assert event.details["case_id"] is None


def test_the_forms_state_the_limits_they_enforce(web, seeded, draft):
    _, case_id = draft
    browser = web("applicant1")
    form = browser.get(f"/portal/records/{own_record('applicant1').id}").get_data(as_text=True)
    assert "单个文件不超过 20 MB，一次提交的文件合计不超过 100 MB；每个办件最多 30 个文件、合计不超过 200 MB" in form
    # The browser checks the same per-file limit before sending (js/upload-size.js), naming the file.
    assert form.count(f'data-max-bytes="{20 * MB}"') == 4 and "js/upload-size.js" in form
    assert 'data-too-large="文件“{name}”超过单个文件 20 MB 的上限' in form
    case_page = browser.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "单个文件不超过 20 MB；每个办件最多 30 个文件、合计不超过 200 MB" in case_page
    assert "草稿在 30 天内既未提交也未添加材料的" in case_page


def test_the_request_limit_fits_the_files_a_form_may_carry(app):
    config = app.config
    assert config["MAX_FILE_BYTES"] == 20 * MB
    assert config["MAX_CONTENT_LENGTH"] >= config["MAX_FILE_BYTES"] * config["MAX_FILES_PER_REQUEST"] + 64 * 1024
    assert config["MAX_FILES_PER_REQUEST"] >= 2


def test_files_per_case_are_capped_counting_stored_files(draft, app, monkeypatch):
    client, case_id = draft
    monkeypatch.setitem(app.config, "MAX_FILES_PER_CASE", 2)
    assert upload(client, case_id, PDF_BYTES, "一.pdf").status_code == 201
    assert upload(client, case_id, PNG_BYTES, "二.png").status_code == 201
    assert_upload_refused(upload(client, case_id, PDF_BYTES, "三.pdf"), "too_many_files",
                          "本办件已有 2 个材料，达到每个办件 2 个的上限，文件“三.pdf”未接收。")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Attachment).where(Attachment.kind != "basis_document")) == 2
    (event,) = refusals()
    assert event.details["case_files"] == 2 and event.details["filename"] == "三.pdf"


def test_files_per_case_count_the_files_of_the_same_request(web, seeded, app, monkeypatch):
    """Three evidence files and a commitment in one objection, with a cap of three: refused, nothing kept."""
    monkeypatch.setitem(app.config, "MAX_FILES_PER_CASE", 3)
    record = own_record("applicant1")
    response = web("applicant1").post(f"/portal/records/{record.id}", {
        "action": "objection", "objection-reason": "duplicate", "objection-statement": "重复公示。",
        "objection-evidence": [(io.BytesIO(PDF_BYTES), f"证据{n}.pdf") for n in range(3)],
        "objection-commitment": (io.BytesIO(PDF_BYTES), "承诺书.pdf"),
    }, content_type="multipart/form-data")
    assert "达到每个办件 3 个的上限，文件“承诺书.pdf”未接收" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Case).where(Case.type != "registration")) == 0
    assert db.session.scalar(select(Attachment).where(Attachment.kind != "basis_document")) is None


def test_bytes_per_case_are_capped(draft, app, monkeypatch):
    client, case_id = draft
    monkeypatch.setitem(app.config, "MAX_BYTES_PER_CASE", 3 * MB)
    assert upload(client, case_id, big_pdf(2), "二兆.pdf").status_code == 201
    assert_upload_refused(upload(client, case_id, big_pdf(2), "又二兆.pdf"), "case_too_large",
                          "本办件材料合计将达 4 MB，超过每个办件 3 MB 的上限，文件“又二兆.pdf”未接收。")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Attachment).where(Attachment.kind != "basis_document")) == 1
    assert refusals()[0].details["case_bytes"] == 2 * MB


def test_a_request_over_the_limit_gets_a_clear_page_and_one_audit_event(app, web, draft):
    from tests.support.files import BodyTrap

    _, case_id = draft
    browser = web("applicant1")
    trap = BodyTrap(app.config["MAX_CONTENT_LENGTH"] + 1)
    response = browser.client.post(f"/cases/{case_id}/attachments", input_stream=trap,
                                   content_type="multipart/form-data; boundary=----trap")
    assert response.status_code == 413 and trap.read_bytes == 0
    page = response.get_data(as_text=True)
    assert "本次提交的内容合计超过 100 MB，未被接收，也未保存任何内容" in page and "请分几次上传" in page
    (event,) = refusals()
    assert event.details["code"] == "request_too_large" and event.details["size"] == app.config["MAX_CONTENT_LENGTH"] + 1
    assert event.username == "applicant1"


def test_a_form_page_over_the_request_limit_is_shown_again_with_the_reason(app, web, seeded):
    from tests.support.files import BodyTrap

    browser = web("applicant1")
    page = f"/portal/records/{own_record('applicant1').id}"
    trap = BodyTrap(app.config["MAX_CONTENT_LENGTH"] + 1)
    response = browser.client.post(page, input_stream=trap, content_type="multipart/form-data; boundary=----trap")
    assert response.status_code == 303 and response.headers["Location"] == page and trap.read_bytes == 0
    assert "本次提交的内容合计超过 100 MB，未被接收" in browser.get(page).get_data(as_text=True)
    (event,) = refusals()
    assert event.details["code"] == "request_too_large" and event.object_id == page


def zip_with_entries(count: int, *, names=None) -> bytes:
    """A ZIP whose root holds OFD.xml and `count` more empty entries, built record by record (fast for 150,000).

    Every directory record points at the one local header; more than 65,535 entries get the ZIP64 end records.
    """
    names = names or [b"OFD.xml"] + [f"Doc_0/Res/{n}.xml".encode() for n in range(count)]
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(names[0]), 0) + names[0] + b""
    directory = b"".join(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0)
                         + name for name in names)
    start, size, total = len(local), len(directory), len(names)
    tail = b""
    if total > 0xFFFF:
        zip64_at = start + size
        tail = (struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, total, total, size, start)
                + struct.pack("<4sIQI", b"PK\x06\x07", 0, zip64_at, 1))
        total = 0xFFFF
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, total, total, size, start, 0)
    return local + directory + tail + end


def test_the_zip_builder_makes_zips_python_reads():
    for count in (2, 70_000):
        with zipfile.ZipFile(io.BytesIO(zip_with_entries(count))) as zf:
            assert len(zf.namelist()) == count + 1 and zf.namelist()[0] == "OFD.xml"


def test_ofd_check_reads_at_most_the_cap_of_zip_entries():
    """150,000 entries held a worker 2.3–2.7 s in zipfile's directory parse; the walk stops at 10,000."""
    data = zip_with_entries(150_000)
    started = time.perf_counter()
    with pytest.raises(TooManyEntries):
        sniff_type(data[:16], data)
    assert time.perf_counter() - started < 0.5
    small = zip_with_entries(9_999)  # OFD.xml + 9,999 = the cap exactly
    assert sniff_type(small[:16], small) == "application/ofd"


def test_a_zip_with_150000_entries_is_refused_quickly_through_the_api(draft):
    client, case_id = draft
    data = zip_with_entries(150_000)
    assert len(data) < 20 * MB  # under the size limit: only the entry cap refuses it
    started = time.perf_counter()
    response = upload(client, case_id, data, "公文.ofd")
    elapsed = time.perf_counter() - started
    assert_upload_refused(response, "too_many_entries",
                          "文件“公文.ofd”是内含超过 10000 个条目的压缩包，不是有效的 OFD 文件，未接收。")
    assert db.session.scalar(select(Attachment).where(Attachment.kind != "basis_document")) is None
    assert elapsed < 2.0, elapsed  # the upload itself (10 MB through the test client) dominates
    assert refusals()[0].details["code"] == "too_many_entries"


@pytest.mark.parametrize("comment", [b"", b"\xe5\x85\xac\xe6\x96\x87", b"fake end PK\x05\x06 inside the comment"])
def test_ofd_with_an_archive_comment_is_still_recognised(comment):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("OFD.xml", "<ofd:OFD/>")
        zf.writestr("Doc_0/Document.xml", "<ofd:Document/>")
        zf.comment = comment
    data = buffer.getvalue()
    assert zip_entry_names(data, 10) == [b"OFD.xml", b"Doc_0/Document.xml"]
    assert sniff_type(data[:16], data) == "application/ofd"


@pytest.mark.parametrize("data", [
    b"PK\x03\x04" + b"\0" * 30,  # no end record
    zip_with_entries(3)[:-30] + zip_with_entries(3)[-22:],  # directory cut short
    b"PK\x03\x04" + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, 10**6, 0, 0),  # directory larger than the file
])
def test_broken_zips_are_not_ofd(data):
    assert zip_entry_names(data, 10) is None and sniff_type(data[:16], data) is None


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
