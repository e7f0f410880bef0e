"""Bulk import in a real browser: the upload goes by XHR (record-import.js), lands on the preview page, the
confirmation imports; no console error on the way (page_for watches)."""
from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from app.demo.seed import UNITS, _org_body
from app.services import uscc
from app.services.record_import import HEADERS

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def demo_uscc(name: str) -> str:
    """The demo seed's code for one of its units (the seed numbers its units in UNITS order)."""
    n, unit = next((n, u) for n, u in enumerate(UNITS, start=1) if u[0] == name)
    return uscc.make_uscc(*unit[5], unit[4], _org_body(n))


def test_upload_preview_and_import(page_for, shot, tmp_path):
    code = demo_uscc("随州市中心医院")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for n in (1, 2):
        writer.writerow(["单位", code, "", "", "", "行政处罚", "一般", f"随浏览器罚〔2026〕{n}号", "2026-05-01",
                         "未按规定用途使用专项资金。", "《财政违法行为处罚处分条例》第十四条"])
    sheet, document = tmp_path / "导入.csv", tmp_path / "认定文书.pdf"
    sheet.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    document.write_bytes(PDF)
    page = page_for("verifier1")
    uploads = []
    page.on("request", lambda req: uploads.append(req.headers.get("x-requested-with"))
            if req.url.endswith("/records/import/upload") else None)
    page.goto("/records/")
    page.get_by_role("link", name="批量导入失信记录").click()
    page.set_input_files("#file", str(sheet))
    page.set_input_files("#document", str(document))
    shot(page, "upload-form")
    page.get_by_role("button", name="上传并检查").click()
    expect(page.locator("#import-summary")).to_have_text("2 条可导入，0 条已存在。")
    assert uploads == ["XMLHttpRequest"]  # sent by the script, with its progress display
    shot(page, "preview")
    page.get_by_role("button", name="确认导入").click()
    expect(page.locator("h1")).to_contain_text("批量导入 #")
    expect(page.locator("table tbody tr")).to_have_count(2)
    shot(page, "imported")
