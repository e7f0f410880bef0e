"""Every public and applicant page fits a 390 px phone without sideways scrolling, and no date breaks inside.

One walk per user over both screen sizes: the pages are screenshotted at 1366×768 and 390×844 (var/e2e-screens/).
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from tests.support.live import draft_objection

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SIZES = [(1366, 768), (390, 844)]
# Each date shown in a table or a key-value list: the lines its text covers (1 unless it broke inside).
DATE_LINES = """() => [...document.querySelectorAll('.date')].map(el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
  return [el.textContent.trim(), tops.size];
})"""


def objection(api, intake: dict) -> dict:
    """applicant2 files an objection over the JSON API and intake1 completes its intake review with these values."""
    applicant2 = api("applicant2")
    case = draft_objection(applicant2, "手机版式测试。", [("证据材料.pdf", PDF, "evidence"),
                                                        ("异议申诉信用承诺书.pdf", PDF, "commitment")])
    status, case = applicant2.post(f"/api/v1/cases/{case['id']}/submit")
    assert status == 200, case
    intake1 = api("intake1")
    (task,) = [t for t in intake1.get(f"/api/v1/cases/{case['id']}")[1]["open_tasks"]
               if t["form_key"] == "objection_intake_review"]
    assert intake1.post(f"/api/v1/tasks/{task['id']}/claim")[0] == 200
    status, body = intake1.post(f"/api/v1/tasks/{task['id']}/complete", intake)
    assert status == 200, body
    status, case = applicant2.get(f"/api/v1/cases/{case['id']}")
    assert status == 200 and case["letters"], case
    return case


def accepted_objection(api) -> dict:
    """Accepted, so a 受理通知书 exists and the verifier has a step (去办理 on the case page)."""
    return objection(api, {"intake_choice": "accept"})


def supplement_objection(api) -> dict:
    """Sent back for 补正: the case page opens with the request box and 去补正."""
    return objection(api, {"intake_choice": "request_supplement", "supplement_items": "撤销决定书原件扫描件（加盖公章）",
                           "reason": "所附撤销决定书缺少盖章页，无法核对。"})


def verify_path(page: Page, case: dict) -> str:
    """The /v/<code> of the case's first letter, as the public progress query links it."""
    page.goto("/public/progress")
    page.get_by_label("受理编号").fill(case["number"])
    page.get_by_label("查询码").fill(case["query_code"])
    page.get_by_role("button", name="查询").click()
    return urlsplit(page.locator("a[href^='/v/']").first.get_attribute("href")).path


def walk(page: Page, shot, paths: list[str], problems: list[str], sizes=SIZES) -> int:
    """Open each path at both sizes; note every page wider than the window and every date that broke.

    Returns how many dates it measured, so a walk that found none (a renamed class) cannot pass unseen.
    """
    dates = 0
    for width, height in sizes:
        page.set_viewport_size({"width": width, "height": height})
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if scroll > inner:
                problems.append(f"{path} at {width} px is {scroll} px wide")
            measured = page.evaluate(DATE_LINES)
            dates += len(measured)
            problems.extend(f"{path} at {width} px: the date {text!r} spans {lines} lines"
                            for text, lines in measured if lines > 1)
            shot(page, f"{width}-{re.sub(r'[^a-z0-9]+', '-', path.strip('/')) or 'home'}")
    return dates


def test_public_and_applicant_pages_fit_a_phone(page_for, api, shot):
    case = accepted_objection(api)
    supplement = supplement_objection(api)
    problems: list[str] = []

    anonymous = page_for.anonymous()
    code = verify_path(anonymous, case)
    public_dates = walk(anonymous, shot, ["/", "/login", "/public/records", "/public/records?q=随县教育局",
                                          "/public/progress", "/public/notices", "/public/measures", code], problems)
    verify_path(anonymous, case)  # the answer to a query, at 390 px as the walk left it
    if anonymous.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
        problems.append("/public/progress with its answer overflows at 390 px")
    shot(anonymous, "390-public-progress-answer")

    applicant = page_for("applicant2")
    applicant_dates = walk(applicant, shot, ["/", "/tasks/inbox", "/portal/records",
                                             f"/portal/records/{case['record_id']}", "/portal/cases",
                                             f"/cases/{case['id']}", f"/cases/{supplement['id']}", "/notifications",
                                             "/sanctions",
                                             f"/units/{case['applicant_unit_id']}/file"], problems)

    # On paper the case and the record are the document alone: no navigation, no buttons, no forms.
    applicant.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    applicant.emulate_media(media="print")
    for path in (f"/cases/{case['id']}", f"/portal/records/{case['record_id']}"):
        applicant.goto(path)
        shown = applicant.locator("header.topbar, nav, form, button").evaluate_all(
            "els => els.filter(el => el.getClientRects().length).map(el => el.outerHTML.slice(0, 60))")
        if shown:
            problems.append(f"{path} prints {shown}")
        shot(applicant, f"print-{re.sub(r'[^a-z0-9]+', '-', path.strip('/'))}")
    applicant.emulate_media(media="screen")

    # Staff pages need not be phone-first, but they must not overflow either: the verifier's queue, the case with
    # its 去办理 and the task; at a desk only, the office's queue, the dashboard and the administration.
    (task,) = case["open_tasks"]
    verifier = page_for("verifier1")
    walk(verifier, shot, ["/tasks/inbox?scope=group", f"/cases/{case['id']}", f"/tasks/{task['id']}"], problems)
    desk = SIZES[:1]
    walk(page_for("intake1"), shot, ["/tasks/inbox?scope=done", "/dashboard/"], problems, desk)
    walk(page_for("admin1"), shot, ["/admin/letters", "/admin/outbox", "/admin/rule-sets"], problems, desk)
    assert not problems, "\n".join(problems)
    assert public_dates and applicant_dates, "no .date element measured: the date check looked at nothing"
