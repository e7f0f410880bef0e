"""The case page's process diagram (bpmn-js, served by the app) and the in-page attachment previews."""
from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent
from tests.support.files import PDF_BYTES, PNG_BYTES, ofd_bytes
from tests.support.flows import do_task, file_objection, own_record

VENDOR_FILES = ("bpmn-navigated-viewer.production.min.js", "diagram-js.css", "bpmn-js.css")


def accepted_objection(api) -> dict:
    case = file_objection(api)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    return case


def draft_case(api) -> int:
    record = own_record("applicant1")
    created = api("applicant1").post("/api/v1/cases", json={"type": "objection", "record_id": record.id,
                                                            "reason": "duplicate", "statement": "重复公示。"})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def upload(api, case_id: int, data: bytes, name: str) -> str:
    response = api("applicant1").post(f"/api/v1/cases/{case_id}/attachments",
                                      data={"kind": "evidence", "file": (io.BytesIO(data), name)},
                                      content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_diagram_json_shows_done_and_open_steps(api, web):
    case = accepted_objection(api)
    response = web("applicant1").get(f"/cases/{case['id']}/diagram.json")
    assert response.status_code == 200
    data = response.get_json()
    assert 'id="objection_review"' in data["xml"] and "BPMNDiagram" in data["xml"]
    assert 'name="认定单位核查员"' in data["xml"]  # lanes shown by their Chinese role names
    assert "intake_review" in data["completed"]
    assert data["active"] == ["verify_record"]
    assert "verify_record" not in data["completed"]


def test_diagram_json_is_hidden_from_other_units(api, web):
    case = accepted_objection(api)
    assert web("applicant2").get(f"/cases/{case['id']}/diagram.json").status_code == 404


def test_diagram_json_needs_login(api, web):
    case = accepted_objection(api)
    response = web().get(f"/cases/{case['id']}/diagram.json")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_case_page_has_the_diagram_section(api, web):
    case = accepted_objection(api)
    page = web("applicant1").get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "<h2>流程图</h2>" in page
    assert f'data-src="/cases/{case["id"]}/diagram.json"' in page
    assert "已完成" in page and "当前环节" in page
    assert '<script src="/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" defer>' in page
    assert '<script src="/static/js/case-diagram.js" defer>' in page
    assert "<script>" not in page and "style=" not in page  # the CSP allows neither


def test_draft_has_no_diagram(api, web):
    case_id = draft_case(api)
    client = web("applicant1")
    assert "流程图" not in client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert client.get(f"/cases/{case_id}/diagram.json").status_code == 404


def test_pdf_preview_is_inline_and_audited(api, web):
    case = accepted_objection(api)
    attachment = case["attachments"][0]
    client = web("applicant1")
    page = client.get(f"/cases/{case['id']}").get_data(as_text=True)
    preview_url = f"/cases/attachments/{attachment['id']}/preview"
    # In the page, loaded only when its <details> is opened (js/attachment-preview.js sets the frame's src).
    assert re.search(rf'<details class="attachment-preview" data-preview-src="{preview_url}"\s+'
                     rf'data-preview-kind="pdf" data-preview-title="[^"]+">', page)
    assert '<script src="/static/js/attachment-preview.js" defer></script>' in page
    assert "<iframe" not in page and f' src="{preview_url}"' not in page  # nothing the browser fetches by itself

    response = client.get(preview_url)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.data == PDF_BYTES
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Only this response may be framed, and only by the app itself; every other page refuses framing.
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in response.headers[
        "Content-Security-Policy"]
    assert client.get(f"/cases/{case['id']}").headers["X-Frame-Options"] == "DENY"
    audited = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "attachment.preview")).all()
    assert [a.object_id for a in audited] == [attachment["id"]]


def test_viewing_a_case_loads_no_preview(api, web):
    """A case with many files: the page itself fetches none of them (each preview loads when it is opened)."""
    case_id = draft_case(api)
    for n in range(12):
        upload(api, case_id, PDF_BYTES if n % 2 else PNG_BYTES, f"材料{n}.{'pdf' if n % 2 else 'png'}")
    client = web("applicant1")
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert page.count("data-preview-src=") == 12
    fetched = re.findall(r'<(?:img|iframe|embed|object)\b[^>]*>', page)
    assert not [tag for tag in fetched if "/preview" in tag], fetched
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "attachment.preview")) == 0


def test_the_preview_script_is_served_and_builds_elements_without_markup(seeded):
    response = seeded.test_client().get("/static/js/attachment-preview.js")
    script = response.get_data(as_text=True)
    response.close()
    assert response.status_code == 200
    assert "innerHTML" not in script and "dataset.previewSrc" in script and "'toggle'" in script


def test_download_stays_an_attachment(api, web):
    case = accepted_objection(api)
    response = web("applicant1").get(f"/cases/attachments/{case['attachments'][0]['id']}")
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_pdf_preview_is_hidden_from_other_units(api, web):
    case = accepted_objection(api)
    response = web("applicant2").get(f"/cases/attachments/{case['attachments'][0]['id']}/preview")
    assert response.status_code == 404


def test_image_preview_is_shown_in_the_page(api, web):
    case_id = draft_case(api)
    attachment_id = upload(api, case_id, PNG_BYTES, "现场照片.png")
    client = web("applicant1")
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert re.search(rf'<details class="attachment-preview" data-preview-src="/cases/attachments/{attachment_id}/preview"'
                     rf'\s+data-preview-kind="image" data-preview-title="现场照片.png">\s*<summary>预览</summary>', page)
    assert "<img" not in page
    response = client.get(f"/cases/attachments/{attachment_id}/preview")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline;")


def test_vendor_assets_are_served(seeded):
    client = seeded.test_client()
    for name in VENDOR_FILES:
        response = client.get(f"/static/vendor/bpmn-js/{name}")
        assert response.status_code == 200, f"{name} missing: run bash scripts/vendor_assets.sh"
        response.close()
    for path in ("/static/js/case-diagram.js", "/static/css/case-diagram.css"):
        response = client.get(path)
        assert response.status_code == 200
        response.close()


def test_ofd_has_no_preview(api, web):
    case_id = draft_case(api)
    attachment_id = upload(api, case_id, ofd_bytes(), "证明.ofd")
    client = web("applicant1")
    assert "预览" not in client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert client.get(f"/cases/attachments/{attachment_id}/preview").status_code == 404
