"""An over-size file is named under its field before anything is sent, and what was typed stays (js/upload-size.js)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_an_over_size_file_is_named_before_sending_and_the_text_stays(page_for, tmp_path, shot):
    big = tmp_path / "超大扫描件.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * (20 * 1024 * 1024 + 1))
    applicant = page_for("applicant1")
    applicant.goto("/portal/records")
    applicant.get_by_role("link", name="查看 / 提出异议").first.click()
    form = applicant.locator("form[data-too-large]").first
    statement = form.locator("textarea").first
    statement.fill("已履行全部义务，附缴款凭证。")
    evidence = form.locator("input[type=file][multiple]")
    evidence.set_input_files(big)
    expect(form.locator("p.field-error")).to_have_text("文件“超大扫描件.pdf”超过单个文件 20 MB 的上限，请压缩或拆分后重新选择。")
    url = applicant.url
    form.get_by_role("button").last.click()
    shot(applicant, "over-size-file-named")
    assert applicant.url == url
    expect(statement).to_have_value("已履行全部义务，附缴款凭证。")
