"""An objection from filing to the downloaded 异议处理决定书, clicked through in a real browser by five users."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

FINANCE = "随州市财政局"  # verifier1's unit


def nav(page: Page, name: str) -> None:
    """Follow a link of the main navigation and wait for the page it opens."""
    link = page.get_by_role("navigation", name="主导航").get_by_role("link", name=name, exact=True)
    href = link.get_attribute("href")
    with page.expect_navigation(url=f"**{href}"):
        link.click()


def open_tab(page: Page, label: str) -> None:
    """Open one tab of 待办任务 (我的待办 / 本组待领 / 全部可见)."""
    tab = page.get_by_role("navigation", name="任务范围").get_by_role("link", name=re.compile(f"^{label}"))
    tab.click()
    expect(tab).to_have_attribute("aria-current", "page")


def task_row(page: Page, number: str, title: str):
    return page.get_by_role("row").filter(has_text=number).filter(has=page.get_by_role("link", name=title, exact=True))


def take_task(page: Page, shot, who: str, number: str, title: str) -> None:
    """Find the case's task in 本组待领 and claim it (or in 我的待办 if already assigned to this user)."""
    nav(page, "待办任务")
    open_tab(page, "本组待领")
    row = task_row(page, number, title)
    shot(page, f"{who}-group-queue")
    if row.count():
        row.get_by_role("button", name="领取").click()
        expect(page.get_by_role("status").filter(has_text="已领取任务。")).to_be_visible()
    else:
        open_tab(page, "我的待办")
        row = task_row(page, number, title)
        expect(row).to_have_count(1)
        row.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{title} — {number}")
    expect(page.get_by_role("button", name="提交办理结果")).to_be_visible()


def submit_task(page: Page, shot, who: str, title: str) -> None:
    shot(page, f"{who}-filled")
    page.get_by_role("button", name="提交办理结果").click()
    expect(page.get_by_role("status").filter(has_text=f"已办理：{title}")).to_be_visible()
    shot(page, f"{who}-done")


def test_objection_from_filing_to_decision_letter(page_for, pdf_files, shot):
    # (a) applicant1 files an objection against a record of 随州市财政局 that accepts one.
    applicant = page_for("applicant1")
    nav(applicant, "本单位失信记录")
    expect(applicant.get_by_role("heading", name="本单位政务失信记录")).to_be_visible()
    shot(applicant, "applicant1-records")
    rows = applicant.get_by_role("row").filter(has_text=FINANCE)
    assert rows.count() >= 1
    objection = applicant.locator("section").filter(has=applicant.get_by_role("heading", name="提出异议"))
    doc_no = None
    for i in range(rows.count()):
        row = applicant.get_by_role("row").filter(has_text=FINANCE).nth(i)
        candidate = row.get_by_role("cell").first.inner_text().splitlines()[0]
        row.get_by_role("link", name="查看 / 提出异议").click()
        expect(applicant.get_by_role("heading", name="政务失信记录详情")).to_be_visible()
        if objection.get_by_role("button", name="提交异议申请").count():
            doc_no = candidate
            break
        applicant.go_back()
        expect(applicant.get_by_role("heading", name="本单位政务失信记录")).to_be_visible()
    assert doc_no, f"no record of {FINANCE} accepts an objection"
    expect(applicant.locator("dl.facts")).to_contain_text(FINANCE)
    shot(applicant, "applicant1-record")

    objection.get_by_label("异议理由").select_option(label="信息错误")
    statement = f"认定文书{doc_no}所列欠款已于认定前结清，附银行回单为证，请求更正。"
    objection.get_by_label("异议陈述").fill(statement)
    objection.get_by_label("证据材料").set_input_files(pdf_files["证据材料.pdf"])
    objection.get_by_label("异议申诉信用承诺书").set_input_files(pdf_files["异议申诉信用承诺书.pdf"])
    shot(applicant, "applicant1-objection-filled")
    objection.get_by_role("button", name="提交异议申请").click()

    applicant.wait_for_url(re.compile(r"/cases/\d+$"))
    flash = applicant.get_by_role("status").filter(has_text="异议申请已提交")
    expect(flash).to_be_visible()
    match = re.search(r"受理编号 (\S+)，查询码 (\S+)。", flash.inner_text())
    assert match, flash.inner_text()
    number = match.group(1)
    case_url = applicant.url
    expect(applicant.get_by_role("heading", level=1)).to_contain_text(number)
    materials = applicant.get_by_role("heading", name="材料").locator("xpath=following-sibling::ul[1]")
    expect(materials).to_contain_text("证据材料.pdf")
    expect(materials).to_contain_text("异议申诉信用承诺书.pdf")
    shot(applicant, "applicant1-submitted")

    # (b) intake1 claims 受理审查 from the group queue and accepts.
    intake = page_for("intake1")
    take_task(intake, shot, "intake1-review", number, "受理审查")
    expect(intake.locator("dl.facts").last).to_contain_text(statement)
    intake.get_by_role("group", name=re.compile("^审查结论")).get_by_role("radio", name="受理", exact=True).check()
    submit_task(intake, shot, "intake1-review", "受理审查")

    # (c) verifier1 (the recording unit) claims 认定单位核查 and confirms the record.
    verifier = page_for("verifier1")
    take_task(verifier, shot, "verifier1", number, "认定单位核查")
    verifier.get_by_role("group", name=re.compile("^核查结论")).get_by_role("radio", name="核实无误").check()
    verifier.get_by_label("核查意见").fill("经核对财政国库支付记录，认定时该笔款项尚未支付，认定事实无误。")
    submit_task(verifier, shot, "verifier1", "认定单位核查")

    # (d) intake1 drafts the decision: keep the record.
    take_task(intake, shot, "intake1-draft", number, "拟定处理意见")
    intake.get_by_role("group", name=re.compile("^处理意见")).get_by_role("radio", name="维持，不予更正").check()
    intake.get_by_label("理由").fill("认定单位核查确认认定事实清楚、证据确凿，申请人所附回单晚于认定日期。")
    submit_task(intake, shot, "intake1-draft", "拟定处理意见")

    # (e) approver1 approves the decision.
    approver = page_for("approver1")
    take_task(approver, shot, "approver1", number, "审批处理决定")
    approver.get_by_role("group", name=re.compile("^审批结论")).get_by_role("radio", name="批准", exact=True).check()
    submit_task(approver, shot, "approver1", "审批处理决定")

    # (f) applicant1 finds the closed case and downloads the decision letter.
    nav(applicant, "我的办件")
    applicant.get_by_role("link", name=number, exact=True).click()
    applicant.wait_for_url(case_url)
    expect(applicant.locator(".status").first).to_have_text("已办结")
    letter = applicant.get_by_role("link", name=re.compile("^异议处理决定书"))
    expect(letter).to_be_visible()
    shot(applicant, "applicant1-closed")
    with applicant.expect_download() as download_info:
        letter.click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename.startswith("异议处理决定书") and download.suggested_filename.endswith(".pdf")
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
