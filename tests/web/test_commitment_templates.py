"""The blank 信用承诺书 of each application, downloadable beside its upload field."""
from __future__ import annotations

import subprocess

import pytest

from tests.support.flows import own_record


def _text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-raw", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


@pytest.mark.parametrize("case_type, title, promise", [
    ("objection", "异议申诉信用承诺书", "不恶意、重复提出异议申诉"),
    ("repair", "信用修复承诺书", "不再发生同类失信行为"),
])
def test_each_application_offers_its_own_commitment_form(web, recorded_staff, case_type, title, promise):
    applicant = web("applicant1")
    page = applicant.get(f"/portal/records/{own_record('applicant1').id}").get_data(as_text=True)
    link = f'href="/portal/templates/{case_type}-commitment.pdf"'
    assert link in page
    assert page.index(link) > page.index(f'id="{case_type}-commitment"')  # beside its own upload field
    response = applicant.get(f"/portal/templates/{case_type}-commitment.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = _text(response.data).replace("\n", "")
    for words in (title, promise, "统一社会信用代码", "承诺事项", "法定代表人（负责人）签字", "单位（盖章）", "年＿＿月"):
        assert words in text, words


def test_no_form_for_other_types_and_none_for_staff(web, recorded_staff):
    assert web("applicant1").get("/portal/templates/restoration-commitment.pdf").status_code == 404
    assert web("applicant1").get("/portal/templates/nonsense-commitment.pdf").status_code == 404
    assert web("intake1").get("/portal/templates/objection-commitment.pdf").status_code in (403, 404)
