"""The case page fetches an attachment's preview only when its 预览 is opened (not one per file on every view)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.live import draft_objection

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
FILES = 8


def draft_with_files(api) -> tuple[int, list[dict]]:
    """applicant1's draft objection holding FILES previewable files (PDFs and PNGs), set up over the API."""
    files = [(f"证据{n}.pdf", PDF, "evidence") if n % 2 else (f"照片{n}.png", PNG, "evidence") for n in range(FILES)]
    case = draft_objection(api("applicant1"), "预览测试。", files)
    return case["id"], case["attachments"]


def test_previews_load_only_when_opened(page_for, api, shot):
    case_id, files = draft_with_files(api)
    page = page_for("applicant1")
    previews: list[str] = []
    page.on("request", lambda req: previews.append(urlsplit(req.url).path) if req.url.endswith("/preview") else None)

    page.goto(f"/cases/{case_id}")
    page.wait_for_load_state("networkidle")
    expect(page.locator("details.attachment-preview")).to_have_count(FILES)
    assert previews == [], previews  # viewing the case fetched none of the files
    timing = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                           " return [n.responseStart, n.domContentLoadedEventEnd, n.loadEventEnd]; }")
    # Printed, never asserted: the target is the load event within 300 ms on the demo data.
    print("case page with %d files: first byte %.0f ms, DOM ready %.0f ms, load event %.0f ms" % (FILES, *timing))
    shot(page, "case-closed-previews")

    pdf = next(f for f in files if f["content_type"] == "application/pdf")
    image = next(f for f in files if f["content_type"] == "image/png")
    for attachment, element in ((pdf, "iframe.pdf-preview"), (image, "img")):
        details = page.locator(f'details[data-preview-src$="/{attachment["id"]}/preview"]')
        details.locator("summary").click()
        expect(details.locator(element)).to_have_count(1)
        expect(details.locator(element)).to_have_attribute("src", f"/cases/attachments/{attachment['id']}/preview")
    page.wait_for_load_state("networkidle")
    assert sorted(set(previews)) == sorted(f"/cases/attachments/{a['id']}/preview" for a in (pdf, image)), previews
    shot(page, "case-two-previews-open")

    # Closing and reopening keeps the loaded element: no second fetch.
    details = page.locator(f'details[data-preview-src$="/{image["id"]}/preview"]')
    details.locator("summary").click()
    details.locator("summary").click()
    expect(details.locator("img")).to_have_count(1)
