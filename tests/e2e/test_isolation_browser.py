"""One unit's objection stays invisible to another unit's user in every corner of the web UI."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
APPLICANT1_UNIT = "曾都区住房和城乡建设局"
FINANCE = "随州市财政局"
MASKED_OFFICIAL = "黄志明"  # a deputy director named in one of applicant1's unit's records; public pages mask him
STATEMENT = "隔离测试：本陈述只应由本单位和办理人员看到。"
EVIDENCE_NAME = "隔离证据材料.pdf"


def file_objection(api) -> dict:
    """applicant1 files an objection over the JSON API and intake1 accepts it (so a 受理通知书 exists)."""
    applicant1 = api("applicant1")
    status, body = applicant1.get("/api/v1/records")
    assert status == 200, body
    # Leave the records of 随州市财政局 to the objection walk-through (test_objection_browser.py).
    # A unit's record: a civil servant's is never found by the unit's name on the public pages (by design).
    records = sorted((r for r in body["items"] if r["subject_type"] == "unit"),
                     key=lambda r: r["recording_unit"] == FINANCE)
    record = None
    for candidate in records:
        status, verdict = applicant1.get(f"/api/v1/records/{candidate['id']}/objection-eligibility")
        if status == 200 and verdict["eligible"]:
            record = candidate
            break
    assert record, "no record of applicant1's unit accepts an objection"

    status, case = applicant1.post("/api/v1/cases", {"type": "objection", "record_id": record["id"],
                                                     "reason": "wrong_content", "statement": STATEMENT})
    assert status == 201, case
    for name, kind in ((EVIDENCE_NAME, "evidence"), ("隔离信用承诺书.pdf", "commitment")):
        status, body = applicant1.upload(f"/api/v1/cases/{case['id']}/attachments", name, PDF, kind)
        assert status == 201, body
    status, case = applicant1.post(f"/api/v1/cases/{case['id']}/submit")
    assert status == 200, case

    intake1 = api("intake1")
    status, seen = intake1.get(f"/api/v1/cases/{case['id']}")
    assert status == 200, seen
    (task,) = [t for t in seen["open_tasks"] if t["form_key"] == "objection_intake_review"]
    status, body = intake1.post(f"/api/v1/tasks/{task['id']}/claim")
    assert status == 200, body
    status, body = intake1.post(f"/api/v1/tasks/{task['id']}/complete", {"intake_choice": "accept"})
    assert status == 200, body

    status, case = applicant1.get(f"/api/v1/cases/{case['id']}")
    assert status == 200, case
    assert case["letters"] and len(case["attachments"]) == 2, case
    return {"case": case, "record": record}


def follow_nav(page: Page, name: str) -> None:
    link = page.get_by_role("navigation", name="主导航").get_by_role("link", name=name, exact=True)
    href = link.get_attribute("href")
    with page.expect_navigation(url=f"**{href}"):
        link.click()


def assert_not_on_page(page: Page, *needles: str) -> None:
    text = page.locator("body").inner_text()
    for needle in needles:
        assert needle not in text, f"{needle!r} is visible on {page.url}"


def test_another_unit_never_sees_the_case(page_for, api, shot, live_server):
    filed = file_objection(api)
    case, record = filed["case"], filed["record"]
    number, code = case["number"], case["query_code"]
    letter, attachment = case["letters"][0], case["attachments"][0]
    secrets = (number, code, STATEMENT, EVIDENCE_NAME)

    # Positive control: the URLs probed below are right, applicant1 reaches all of them.
    owner = page_for("applicant1")
    owner.goto(f"/cases/{case['id']}")
    expect(owner.get_by_role("heading", level=1)).to_contain_text(number)
    shot(owner, "applicant1-own-case")
    for url in (f"/cases/letters/{letter['id']}.pdf", f"/cases/attachments/{attachment['id']}"):
        response = owner.request.get(url)
        assert response.status == 200 and response.body().startswith(b"%PDF"), url

    other = page_for("applicant2")

    # 我的办件
    follow_nav(other, "我的办件")
    expect(other.get_by_role("heading", name="我的办件")).to_be_visible()
    assert_not_on_page(other, *secrets)
    shot(other, "applicant2-my-cases")

    # 待办任务: every tab it shows, and the 全部可见 scope that has no tab
    follow_nav(other, "待办任务")
    tabs = other.get_by_role("navigation", name="任务范围").get_by_role("link")
    labels = [re.sub(r"（\d+）$", "", t) for t in tabs.all_inner_texts()]
    assert "我的待办" in labels and "本组待领" in labels, labels
    for label in labels:
        tab = other.get_by_role("navigation", name="任务范围").get_by_role("link", name=re.compile(f"^{label}"))
        tab.click()
        expect(tab).to_have_attribute("aria-current", "page")
        assert_not_on_page(other, *secrets)
        scope = re.search(r"scope=(\w+)", tab.get_attribute("href"))
        shot(other, f"applicant2-tasks-{scope.group(1) if scope else labels.index(label)}")
    other.goto("/tasks/inbox?scope=all")
    expect(other.get_by_role("heading", name="待办任务")).to_be_visible()
    assert_not_on_page(other, *secrets)

    # 本单位失信记录: only 随县教育局's records, none of applicant1's unit
    follow_nav(other, "本单位失信记录")
    expect(other.get_by_role("heading", name="本单位政务失信记录")).to_be_visible()
    assert_not_on_page(other, APPLICANT1_UNIT, record["basis_doc_no"], *secrets)
    shot(other, "applicant2-records")

    # Direct URLs: the case, its letter, its attachment and its record answer 404, exactly like ids that do not exist.
    probe = other.context.new_page()
    page_for.allow_console_error(probe, r"status of 404")
    probes = {
        "case": (f"/cases/{case['id']}", "/cases/999999"),
        "letter": (f"/cases/letters/{letter['id']}.pdf", "/cases/letters/999999.pdf"),
        "attachment": (f"/cases/attachments/{attachment['id']}", "/cases/attachments/" + "0" * len(attachment["id"])),
        "record": (f"/portal/records/{record['id']}", "/portal/records/999999"),
    }
    for what, (url, missing_url) in probes.items():
        texts = []
        for target in (missing_url, url):
            response = probe.goto(target)
            assert response.status == 404, target
            expect(probe.get_by_role("heading", level=1)).to_have_text("无法完成请求（404）")
            assert_not_on_page(probe, *secrets)
            texts.append(probe.locator("main").inner_text())
        assert texts[0] == texts[1], f"the {what} answers differently from one that does not exist: {texts}"
        shot(probe, f"applicant2-{what}-404")
    probe.close()

    # The public search shows published facts only: no case, query code, statement or material, masked names.
    other.goto("/public/records")
    search = other.get_by_role("search")
    search.get_by_label("单位名称或统一社会信用代码").fill(APPLICANT1_UNIT)
    with other.expect_navigation(url=re.compile(r"/public/records\?q=")):
        search.get_by_role("button", name="查询").click()
    expect(other.get_by_role("heading", name="政务失信记录公示")).to_be_visible()
    expect(other.get_by_role("row").filter(has_text=record["basis_doc_no"])).to_have_count(1)
    assert_not_on_page(other, MASKED_OFFICIAL, *secrets)
    shot(other, "public-search-applicant1-unit")
    for query in (number, code, MASKED_OFFICIAL):
        search.get_by_label("单位名称或统一社会信用代码").fill(query)
        with other.expect_navigation(url=re.compile(r"/public/records\?q=")):
            search.get_by_role("button", name="查询").click()
        expect(other.get_by_text("共 0 条。", exact=False)).to_be_visible()
        expect(other.get_by_role("row").filter(has_text="没有符合条件的公示记录。")).to_have_count(1)
