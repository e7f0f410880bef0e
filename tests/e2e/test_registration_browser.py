"""A record comes in, in a real browser: the recording unit enters it (a refusal keeps what was typed), the office
reviews it beside the checks and registers it, the subject unit sees the record and the letter pair."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

SIZES = [(1366, 768), (390, 844)]
DOC_NO = "随财函〔2026〕4321号"


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_the_recording_unit_enters_the_office_registers_the_subject_is_told(page_for, shot, pdf_files):
    page = page_for("verifier1")
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/records/new")
        assert _overflow(page) <= 0, width
        shot(page, f"{width}-entry")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/records/")
    page.get_by_role("link", name="登记失信记录").click()
    # Only the chosen subject's fields show: a unit by default, a civil servant's on choosing 个人.
    expect(page.locator(".subject-person")).to_be_hidden()
    page.get_by_label("个人（公职人员）").check()
    expect(page.get_by_label("身份证号")).to_be_visible()
    expect(page.locator(".subject-unit")).to_be_hidden()
    page.get_by_label("单位", exact=True).check()
    page.get_by_label("失信主体单位（主体为单位时必填）").select_option(label="曾都区住房和城乡建设局")
    page.get_by_label("失信类别（必填）").select_option(label="政务违约")
    page.get_by_label("失信程度（必填）").select_option(label="一般")
    page.get_by_label("认定文书号（必填）").fill(DOC_NO)
    page.get_by_label("认定日期（必填）").fill("2030-01-01")
    page.get_by_label("失信事实（必填）").fill("拖欠中小企业工程款86万元，经督办逾期仍未支付。")
    page.get_by_label("法律依据（必填，写明条款）").fill("《保障中小企业款项支付条例》第十五条")
    page.get_by_role("button", name="保存并报送信用办").click()
    expect(page.get_by_text("晚于今天").first).to_be_visible()
    expect(page.get_by_label("失信事实（必填）")).to_have_value("拖欠中小企业工程款86万元，经督办逾期仍未支付。")
    shot(page, "entry-refused")
    page.get_by_label("认定日期（必填）").fill("2026-10-15")
    page.get_by_label("认定文书（PDF、OFD 或图片）（报送前必须上传）").set_input_files(str(pdf_files["证据材料.pdf"]))
    page.get_by_role("button", name="保存并报送信用办").click()
    reported = page.get_by_text("已报送信用办审核")
    expect(reported).to_be_visible()
    number = re.search(r"DJ-\d{4}-\d{6}", reported.inner_text()).group(0)
    expect(page.get_by_text("审核中").first).to_be_visible()
    shot(page, "reported")

    office = page_for("intake1")
    office.goto("/tasks/inbox?scope=group")
    # Other reviews may wait in the queue too (the import's): this record's, by its number.
    office.get_by_role("row").filter(has_text=number).get_by_role("link", name="信用办审核登记").click()
    expect(office.get_by_text("登记审核要点（系统核对）")).to_be_visible()
    for width, height in SIZES:
        office.set_viewport_size({"width": width, "height": height})
        assert _overflow(office) <= 0, ("review", width)
        shot(office, f"{width}-review")
    office.set_viewport_size({"width": 1366, "height": 768})
    for legend in ("材料完整（认定文书已上传，要素齐全）", "主体匹配（单位或人员与认定文书一致）", "无重复登记",
                   "法律依据明确", "失信程度认定适当"):
        office.get_by_role("group", name=legend).get_by_label("符合", exact=True).check()
    office.get_by_label("予以登记，告知主体并公示").check()
    office.get_by_role("button", name="提交办理结果").click()
    expect(office.get_by_text("已办理：信用办审核登记")).to_be_visible()

    subject = page_for("applicant1")
    subject.goto("/portal/records")
    expect(subject.get_by_text(DOC_NO)).to_be_visible()
    subject.goto("/portal/cases")
    subject.get_by_role("row").filter(has_text=DOC_NO).get_by_role("link").first.click()
    expect(subject.get_by_text("政务失信记录公示告知书").first).to_be_visible()
    expect(subject.get_by_text("信用修复告知书").first).to_be_visible()
    shot(subject, "letters")
