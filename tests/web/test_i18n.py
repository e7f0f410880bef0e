"""Chinese by default, English selectable through the `lang` cookie (GET /lang/<code>), every template string wrapped."""
from __future__ import annotations

import io
import re

from tests.support.constants import ROOT
from tests.support.files import PDF_BYTES
from tests.support.flows import own_record

TEMPLATES = ROOT / "app" / "templates"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# Translation calls in a template: {{ _('…', …) }}-style calls (any quoting) and {% trans %}…{% endtrans %} blocks.
CALL = re.compile(r"""_\(\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
COMMENT = re.compile(r"\{#.*?#\}", re.S)  # template comments are not shown
TRANS_BLOCK = re.compile(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", re.S)
# The only CJK allowed outside a translation call: the language switch names Chinese in Chinese.
ALLOWED = {"base.html": ["中文"]}


def switch_to_english(client):
    response = client.get("/lang/en", headers={"Referer": "http://localhost/login"})
    assert response.status_code == 302 and response.headers["Location"] in ("/login", "http://localhost/login")
    assert "lang=en" in response.headers.get("Set-Cookie", "")


def test_default_is_chinese(web, staff):
    page = web().get("/login").get_data(as_text=True)
    assert "用户登录" in page and 'lang="zh-CN"' in page and ">English</a>" in page


def test_english_is_selectable_and_back(web, staff):
    client = web()
    switch_to_english(client)
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="en"' in page and "Sign in" in page and "用户登录" not in page and ">中文</a>" in page
    assert "Username" in page and "Password" in page  # WTForms labels
    client.get("/lang/zh")
    page = client.get("/login").get_data(as_text=True)
    assert "用户登录" in page and 'lang="zh-CN"' in page


def test_unknown_language_is_refused(web, staff):
    client = web()
    assert client.get("/lang/fr").status_code == 404
    client.client.set_cookie("lang", "fr")
    assert "用户登录" in client.get("/login").get_data(as_text=True)


def test_redirect_stays_on_site(web, staff):
    response = web().get("/lang/en", headers={"Referer": "https://evil.example/phish"})
    assert response.status_code == 302 and response.headers["Location"] in ("/", "http://localhost/")


def test_applicant_pages_in_english(web, recorded_staff):
    applicant = web("applicant1")
    applicant.get("/lang/en")
    page = applicant.get("/portal/records").get_data(as_text=True)
    assert 'lang="en"' in page and "government credit records" in page and "Decision document" in page
    assert "本单位政务失信记录" not in page and "认定文书" not in page and "退出" not in page and "Sign out" in page
    inbox = applicant.get("/notifications").get_data(as_text=True)
    assert "Mark all as read" in inbox and "全部标为已读" not in inbox


def test_service_error_in_english(web, recorded_staff):
    applicant = web("applicant1")
    applicant.get("/lang/en")
    record = own_record("applicant1")
    response = applicant.post(
        f"/portal/records/{record.id}",
        {"action": "objection", "objection-reason": "wrong_content", "objection-statement": "认定文书已被撤销。",
         "objection-commitment": (io.BytesIO(PDF_BYTES), "承诺书.pdf")},
        content_type="multipart/form-data", follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    assert "Materials incomplete: missing" in text, text
    assert "材料不全" not in text


def test_every_template_string_is_wrapped():
    unwrapped = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        source = TRANS_BLOCK.sub("", COMMENT.sub("", path.read_text(encoding="utf-8")))
        source = CALL.sub("_(", source)
        for allowed in ALLOWED.get(path.name, []):
            source = source.replace(allowed, "")
        for number, line in enumerate(source.splitlines(), 1):
            if CJK.search(line):
                unwrapped.append(f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()}")
    assert not unwrapped, "CJK text outside _() / {% trans %}:\n" + "\n".join(unwrapped)
