"""The administrator's desk in a real browser: every page fits a phone and a laptop, the version diagram draws,
a refused unit form keeps what was typed, and a new account's one-time password signs in to be changed."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.services import uscc

pytestmark = pytest.mark.e2e

PAGES = ["/admin/units", "/admin/units/new", "/admin/users", "/admin/users/new", "/admin/calendar",
         "/admin/calendar?year=2030", "/admin/processes"]
SIZES = [(1366, 768), (390, 844)]


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_every_page_of_the_desk_fits_and_the_diagram_draws(page_for, shot):
    page = page_for("admin1")
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for path in PAGES:
            page.goto(path)
            assert _overflow(page) <= 0, (path, width)
            shot(page, f"{width}-{re.sub(r'[^a-z0-9]+', '-', path.strip('/'))}")
        page.goto("/admin/processes")
        page.get_by_role("link", name="查看").first.click()
        expect(page.locator("#case-diagram svg").first).to_be_visible()
        expect(page.locator("#case-diagram .djs-element.done, #case-diagram .djs-element.current")).to_have_count(0)
        assert _overflow(page) <= 0, ("diagram", width)
        shot(page, f"{width}-diagram")


def test_a_refused_unit_keeps_what_was_typed_and_a_new_account_changes_its_password(page_for, shot):
    page = page_for("admin1")
    code = uscc.make_uscc(*uscc.GOVERNMENT_ORGAN, "421300", "E2E00001")
    page.goto("/admin/units/new")
    page.get_by_label("单位名称").fill("随州市浏览器测试局")
    page.get_by_label("统一社会信用代码").fill(code[:17] + ("0" if code[17] != "0" else "1"))
    page.get_by_role("button", name="创建单位").click()
    expect(page.get_by_text("校验码错误")).to_be_visible()
    expect(page.get_by_label("单位名称")).to_have_value("随州市浏览器测试局")
    shot(page, "unit-refused")
    page.get_by_label("统一社会信用代码").fill(code)
    page.get_by_role("button", name="创建单位").click()
    expect(page.get_by_text("单位「随州市浏览器测试局」已创建。")).to_be_visible()

    page.goto("/admin/users/new")
    page.get_by_label("用户名（登录名）").fill("e2e_newcomer")
    page.get_by_label("姓名").fill("浏览器新人")
    page.get_by_label("所属单位").select_option(label="随州市浏览器测试局")
    page.get_by_label("申请单位经办人").check()
    page.get_by_role("button", name="创建账户并生成一次性密码").click()
    password = page.locator("#issued-password").inner_text()
    shot(page, "issued-password")

    newcomer = page_for.anonymous("e2e_newcomer")
    newcomer.goto("/login")
    newcomer.get_by_label("用户名", exact=True).fill("e2e_newcomer")
    newcomer.get_by_label("密码", exact=True).fill(password)
    newcomer.get_by_role("button", name="登录", exact=True).click()
    expect(newcomer.get_by_text("您的密码由管理员签发")).to_be_visible()
    newcomer.get_by_label("当前密码").fill(password)
    newcomer.get_by_label("新密码", exact=True).fill("Newcomer-2026!")
    newcomer.get_by_label("再次输入新密码").fill("Newcomer-2026!")
    newcomer.get_by_role("button", name="保存新密码").click()
    expect(newcomer.get_by_role("button", name="退出")).to_be_visible()
