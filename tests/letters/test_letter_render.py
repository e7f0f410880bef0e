"""Decision-letter PDF renderer: content, layout markers and URL-fetch safety.

No database or Flask app is needed; poppler-utils (pdftotext, pdfinfo,
pdffonts) must be installed. The first run on a machine builds the font
subsets (about 15 s); later runs reuse them.
"""

import datetime as dt
import socket
import subprocess
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from app.letters import render
from app.letters.render import ResourceRefused, render_letter_pdf, safe_url_fetcher

PAYLOAD = '<img src="file:///etc/passwd"> <img src="http://127.0.0.1:9/x.png">'
DEJAVU_SANS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian fonts-dejavu-core (scripts/setup.sh)


def letter(**overrides) -> dict:
    """Return a one-page letter dict, with ``overrides`` applied."""
    data = {
        "title": "异议处理决定书",
        "doc_number": "随信用异决〔2026〕3号",
        "issuer_name": "随州市社会信用体系建设领导小组办公室",
        "addressee": "随州市曾都区住房和城乡建设局",
        "paragraphs": ["你单位报送的信用修复异议材料收悉。经审查，现将处理结果告知如下。",
                       f"申请人提交的材料载有：{PAYLOAD}"],
        "issued_on": dt.date(2026, 11, 27),
        "cc": ["随州市发展和改革委员会", "随州市市场监督管理局"],
        "printed_by": "随州市社会信用体系建设领导小组办公室",
        "printed_on": dt.date(2026, 11, 27),
        "verify_url": "https://xy.suizhou.gov.cn/v/8F3K2Q",
        "sha_note": "SHA-256 3f9a…c21b",
    }
    return {**data, **overrides}


def pdf_text(pdf: bytes, page: int | None = None) -> str:
    """Extract text in content-stream order, optionally from one page."""
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", "-raw", *pages, "-", "-"], input=pdf,
                          capture_output=True, check=True).stdout.decode()


def page_count(pdf: bytes) -> int:
    """Return the number of pages poppler sees in ``pdf``."""
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def squeeze(text: str) -> str:
    """Drop all whitespace so line wrapping cannot split a needle."""
    return "".join(text.split())


class FetchRecorder:
    """Wrap the safe fetcher, remembering every URL and whether it was served."""

    def __init__(self):
        self.calls = []

    def __call__(self, url, *args, **kwargs):
        try:
            result = safe_url_fetcher(url, *args, **kwargs)
        except ResourceRefused:
            self.calls.append((url, "refused"))
            raise
        self.calls.append((url, "served"))
        return result


@pytest.fixture(scope="module")
def rendered():
    """Render the standard letter once while recording fetches."""
    recorder = FetchRecorder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "safe_url_fetcher", recorder)
        pdf = render_letter_pdf(letter())
    return pdf, pdf_text(pdf), recorder.calls


@pytest.fixture(scope="module")
def long_draft(tmp_path_factory):
    """Render a two-page draft given a seal image, recording fetches."""
    seal = tmp_path_factory.mktemp("seal") / "seal.svg"
    seal.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>')
    body = ["经核查，该公司已按要求履行行政处罚决定并提交信用承诺书。" * 4] * 5
    recorder = FetchRecorder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "safe_url_fetcher", recorder)
        pdf = render_letter_pdf(letter(paragraphs=body), draft=True, seal_image=str(seal))
    return pdf, recorder.calls


def test_output_is_a_pdf(rendered):
    pdf, _, _ = rendered
    assert pdf.startswith(b"%PDF")


def test_text_has_heading_fields(rendered):
    _, text, _ = rendered
    assert "异议处理决定书" in text
    assert "随信用异决〔2026〕3号" in text
    assert "随州市曾都区住房和城乡建设局：" in text


def test_dates_use_unpadded_arabic_numerals(rendered):
    _, text, _ = rendered
    assert "2026年11月27日" in text
    assert "2026年11月27日印发" in text


def test_page_number_uses_dashes(rendered):
    _, text, _ = rendered
    assert "— 1 —" in text


def test_colophon_lists_cc_units(rendered):
    _, text, _ = rendered
    assert "抄送：随州市发展和改革委员会，随州市市场监督管理局。" in squeeze(text)


def test_verify_url_is_printed(rendered):
    _, text, _ = rendered
    assert "xy.suizhou.gov.cn/v/8F3K2Q" in squeeze(text)


def test_case_text_is_escaped_and_shown_literally(rendered):
    _, text, _ = rendered
    assert squeeze(PAYLOAD) in squeeze(text)


def test_case_text_triggers_no_fetch(rendered):
    _, _, calls = rendered
    assert not [url for url, _ in calls if "passwd" in url or "127.0.0.1" in url]
    assert all(outcome == "served" for _, outcome in calls)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "http://127.0.0.1:9/x.png",
    "https://example.com/seal.png",
    "data:image/png;base64,iVBORw0KGgo=",
    "file://localhost/etc/hostname",
])
def test_fetcher_refuses_unlisted_urls(url):
    with pytest.raises(ResourceRefused):
        safe_url_fetcher(url)


def test_fetcher_refuses_whitelisted_path_outside_render(tmp_path):
    asset = tmp_path / "seal.svg"
    asset.write_text("<svg/>")
    with render.allowing([asset]):
        assert safe_url_fetcher(asset.as_uri())["string"] == b"<svg/>"
    with pytest.raises(ResourceRefused):
        safe_url_fetcher(asset.as_uri())


def test_pipeline_refuses_injected_tags():
    # Raw, unescaped tags through the same HTML-to-PDF pipeline: the fetcher
    # must refuse them and the listening socket must see no connection.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        targets = ["file:///etc/passwd", f"http://127.0.0.1:{port}/x.png"]
        html = "".join(f'<p><img src="{url}"></p>' for url in targets)
        recorder = FetchRecorder()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(render, "safe_url_fetcher", recorder)
            pdf = render.html_to_pdf(html)
        with pytest.raises(BlockingIOError):
            server.accept()
    assert pdf.startswith(b"%PDF")
    assert {(url, "refused") for url in targets} <= set(recorder.calls)


def test_draft_watermarks_every_page(long_draft):
    pdf, _ = long_draft
    assert page_count(pdf) == 2
    for page in (1, 2):
        assert "草稿" in squeeze(pdf_text(pdf, page))


def test_draft_fetches_no_seal_image(long_draft):
    _, calls = long_draft
    assert not [url for url, _ in calls if url.endswith("seal.svg")]


# Issue 13 §9: an issued letter carries the configured seal image or none; the drawn circle only on drafts and demo.
@pytest.mark.parametrize("draft, image, demo, shows", [
    (False, False, False, "nothing"),  # issued, no image: the signature block alone
    (False, True, False, "image"),
    (False, False, True, "drawn"),  # demo data
    (False, True, True, "image"),  # a configured image wins over the demo circle
    (True, False, False, "drawn"),  # a 草稿 marks where the seal goes
    (True, True, False, "drawn"),  # and never carries the real seal
    (True, True, True, "drawn"),
])
def test_seal_on_letters(tmp_path, draft, image, demo, shows):
    seal = tmp_path / "seal.svg"
    seal.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>')
    seal_path = seal if image and not draft else None
    context = render.build_context(letter(), draft=draft, seal_path=seal_path, demo_seal=demo)
    assert (context["seal_url"] is not None) == (shows == "image")
    assert (context["seal_svg"] is not None) == (shows == "drawn")
    html = render._template_env.get_template("letter.html").render(context)
    assert ('class="seal"' in html) == (shows != "nothing")
    assert ("<circle" in html) == (shows == "drawn")


def test_colophon_only_on_last_page(long_draft):
    pdf, _ = long_draft
    assert "抄送" not in pdf_text(pdf, 1)
    assert "抄送" in pdf_text(pdf, 2)
    assert "— 2 —" in pdf_text(pdf, 2)


def test_seal_image_and_font_dir_are_fetched(tmp_path, monkeypatch):
    seal = tmp_path / "印章.svg"
    seal.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
                    '<circle cx="5" cy="5" r="4" fill="none" stroke="red"/></svg>')
    font_dir = tmp_path / "fonts"
    font_dir.mkdir()
    write_renamed_font(DEJAVU_SANS, font_dir / "face.ttf", "Letter Test Face")
    recorder = FetchRecorder()
    monkeypatch.setattr(render, "safe_url_fetcher", recorder)
    monkeypatch.setattr(render, "BODY_FONT_STACK", ("Letter Test Face",))
    pdf = render_letter_pdf(letter(), font_dir=str(font_dir), seal_image=str(seal))
    served = {url for url, outcome in recorder.calls if outcome == "served"}
    assert seal.as_uri() in served
    assert (font_dir / "face.ttf").as_uri() in served
    fonts = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=True).stdout
    assert b"Letter-Test-Face" in fonts


def write_renamed_font(source: Path, target: Path, family: str) -> None:
    """Copy a font under a family name no system font uses."""
    with TTFont(source) as font:
        for record in font["name"].names:
            if record.nameID in (1, 4, 16):
                record.string = family
            elif record.nameID == 6:
                record.string = family.replace(" ", "")
        font.save(target)
