"""What the letter renderer keeps between letters (issue 15 point 3), and that nothing kept leaks into another letter.

The stylesheets and their font configuration are built once per thread, page stylesheet and font set; the QR code is
a PNG made once per URL that encodes that URL and no other; the drawn seal is drawn once per issuer. No app, no
database; poppler-utils (pdfimages) must be installed.
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import segno
from PIL import Image

from app.letters import render
from app.letters.integrity_file import render_file_pdf
from app.letters.render import ResourceRefused, render_letter_pdf, safe_url_fetcher

DEJAVU_SANS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian fonts-dejavu-core (scripts/setup.sh)
URL_A = "https://xy.suizhou.gov.cn/v/AAAAbbbbCCCC"
URL_B = "https://xy.suizhou.gov.cn/v/AAAAbbbbCCCD"  # the same length, one character apart


def letter(**overrides) -> dict:
    data = {
        "title": "异议处理决定书", "doc_number": "随信用异决〔2026〕3号", "issuer_name": "随州市社会信用体系建设领导小组办公室",
        "addressee": "随州市曾都区住房和城乡建设局", "paragraphs": ["你单位报送的异议材料收悉。经审查，决定予以更正。"],
        "formula": "特此决定。", "issued_on": dt.date(2026, 11, 27), "cc": [],
        "printed_by": "随州市社会信用体系建设领导小组办公室", "printed_on": dt.date(2026, 11, 27), "verify_url": URL_A,
    }
    return {**data, **overrides}


def in_new_thread(action):
    """Run action in a fresh thread (its own, empty stylesheet cache) and return what it returned."""
    result, errors = [], []

    def target():
        try:
            result.append(action())
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def builds(action) -> int:
    """How many stylesheet sets action built, run in a fresh thread."""
    before = render._Stylesheets.built
    in_new_thread(action)
    return render._Stylesheets.built - before


def modules(png: bytes) -> list[list[int]]:
    """Read a QR image back into its module matrix (1 dark), without the quiet zone."""
    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("L")
    size = image.width // render.QR_SCALE - 2 * render.QR_BORDER
    step = render.QR_SCALE
    offset = render.QR_BORDER * step + step // 2
    return [[1 if image.getpixel((offset + x * step, offset + y * step)) < 128 else 0 for x in range(size)]
            for y in range(size)]


def matrix_of(url: str) -> list[list[int]]:
    return [list(row) for row in segno.make(url, error="m", micro=False).matrix]


def png_of(data_url: str) -> bytes:
    assert data_url.startswith("data:image/png;base64,")
    return base64.b64decode(data_url.split(",", 1)[1])


# --- stylesheets and font configuration ----------------------------------------------------------------------------

def test_a_second_letter_reuses_the_stylesheets():
    def two_letters():
        render_letter_pdf(letter())
        render_letter_pdf(letter(verify_url=URL_B, doc_number="随信用异决〔2026〕4号"))

    assert builds(two_letters) == 1


def test_the_same_thread_gets_the_same_font_configuration():
    subsets = render.ensure_font_subsets()

    def twice():
        return render.stylesheets_for((), subsets), render.stylesheets_for((), subsets)

    first, second = in_new_thread(twice)
    assert first is second and first.font_config is second.font_config


def test_another_font_directory_gets_its_own_stylesheets(tmp_path):
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    shutil.copy(DEJAVU_SANS, fonts / "face.ttf")
    subsets = render.ensure_font_subsets()

    def both():
        plain = render.stylesheets_for((), subsets)
        licensed = render.stylesheets_for(render.find_font_files(str(fonts)), subsets)
        return plain, licensed

    plain, licensed = in_new_thread(both)
    assert plain is not licensed and plain.font_config is not licensed.font_config
    assert (fonts / "face.ttf").resolve().as_uri() in render.font_css(render.find_font_files(str(fonts)), subsets)

    def letters_in_both():
        render_letter_pdf(letter())
        render_letter_pdf(letter(), font_dir=str(fonts))
        render_letter_pdf(letter(), font_dir=str(fonts))

    assert builds(letters_in_both) == 2


def test_the_integrity_file_has_its_own_page_stylesheet_kept_too():
    data = {"title": "诚信档案", "issuer_name": "随州市社会信用体系建设领导小组办公室", "printed_on": dt.date(2026, 11, 27),
            "header": [("单位", "随州市市场监督管理局")], "summary": [("记录", 1)],
            "rows": [{"day": dt.date(2026, 1, 2), "event": "登记", "doc": "随财〔2026〕12号", "status": "公示中"}]}

    def files_and_a_letter():
        render_file_pdf(data)
        render_file_pdf(data)
        render_letter_pdf(letter())
        subsets = render.ensure_font_subsets()
        return (render.stylesheets_for((), subsets, render.STYLESHEET_PATH),
                render.stylesheets_for((), subsets, render.PACKAGE_DIR / "integrity_file.css"))

    before = render._Stylesheets.built
    letter_sheets, file_sheets = in_new_thread(files_and_a_letter)
    assert render._Stylesheets.built - before == 2  # one for the files, one for the letter
    assert letter_sheets is not file_sheets


# --- the QR code ---------------------------------------------------------------------------------------------------

def test_the_qr_image_encodes_its_url():
    assert modules(png_of(render.qr_png(URL_A))) == matrix_of(URL_A)


def test_a_cached_qr_is_never_served_for_another_url():
    render.qr_png.cache_clear()
    first_a, first_b = render.qr_png(URL_A), render.qr_png(URL_B)
    assert first_a != first_b
    assert render.qr_png(URL_A) is first_a  # made once per URL…
    assert modules(png_of(render.qr_png(URL_B))) == matrix_of(URL_B)  # …and each URL gets its own
    assert modules(png_of(render.qr_png(URL_A))) == matrix_of(URL_A)
    assert matrix_of(URL_A) != matrix_of(URL_B)


def test_the_letter_carries_the_qr_of_its_own_url(tmp_path):
    render_letter_pdf(letter(verify_url=URL_A))  # URL_A's image is cached now
    pdf = tmp_path / "b.pdf"
    pdf.write_bytes(render_letter_pdf(letter(verify_url=URL_B)))
    subprocess.run(["pdfimages", "-png", str(pdf), str(tmp_path / "img")], check=True)
    images = sorted(tmp_path.glob("img-*.png"))
    assert len(images) == 1
    assert modules(images[0].read_bytes()) == matrix_of(URL_B)


def test_the_qr_data_url_is_served_only_inside_its_render():
    mine = render.qr_png(URL_A)
    with render.allowing([], data_urls=[mine]):
        assert safe_url_fetcher(mine)["string"] == png_of(mine)
        with pytest.raises(ResourceRefused):
            safe_url_fetcher(render.qr_png(URL_B))
    with pytest.raises(ResourceRefused):
        safe_url_fetcher(mine)


# --- the drawn seal ------------------------------------------------------------------------------------------------

def test_the_drawn_seal_is_drawn_once_per_issuer():
    render.placeholder_seal_svg.cache_clear()
    first = render.placeholder_seal_svg("随州市甲办公室")
    other = render.placeholder_seal_svg("随州市乙办公室")
    assert render.placeholder_seal_svg("随州市甲办公室") is first
    assert "甲" in first and "乙" not in first
    assert "乙" in other and "甲" not in other


@pytest.mark.parametrize("draft, demo, drawn", [(True, False, True), (False, True, True), (False, False, False)])
def test_only_drafts_and_demo_letters_carry_the_drawn_seal(draft, demo, drawn):
    context = render.build_context(letter(), draft=draft, seal_path=None, demo_seal=demo)
    assert (context["seal_svg"] is not None) == drawn
    html = render._template_env.get_template("letter.html").render(context)
    assert ("<circle" in html) == drawn


# --- the configured seal image -------------------------------------------------------------------------------------

def seal_png(path: Path, colour: tuple) -> Path:
    """Write a transparent PNG seal: a ring and a square in `colour`."""
    from PIL import ImageDraw

    image = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((6, 6, 234, 234), outline=(*colour, 255), width=12)
    draw.rectangle((90, 90, 150, 150), fill=(*colour, 255))
    image.save(path)
    return path


def seal_colours(pdf: bytes, tmp_path: Path, name: str) -> set:
    """The colours of the opaque-enough seal pixels embedded in pdf (pdfimages: the RGB image beside its mask)."""
    target = tmp_path / f"{name}.pdf"
    target.write_bytes(pdf)
    subprocess.run(["pdfimages", "-png", str(target), str(tmp_path / name)], check=True)
    colours = set()
    for image_path in sorted(tmp_path.glob(f"{name}-*.png")):
        with Image.open(image_path) as image:
            if image.mode == "RGB":
                colours |= {colour for _, colour in image.getcolors(maxcolors=1 << 16) if colour != (0, 0, 0)}
    return colours


def test_the_seal_image_is_made_once_and_carried_by_every_letter(tmp_path, monkeypatch):
    seal = seal_png(tmp_path / "seal.png", (220, 0, 0))
    made = []
    original = render.RasterImage.get_x_object

    def counting(self, *args):
        made.append(self)
        return original(self, *args)

    monkeypatch.setattr(render.RasterImage, "get_x_object", counting)
    pdfs = in_new_thread(lambda: [render_letter_pdf(letter(verify_url=url), seal_image=str(seal))
                                  for url in (URL_A, URL_B, URL_A)])
    seals = [image for image in made if image.width == 240]
    assert len(seals) == 1  # the seal's PDF image made once; the QR codes each time
    for n, pdf in enumerate(pdfs):
        assert (220, 0, 0) in seal_colours(pdf, tmp_path, f"letter{n}")


def test_a_replaced_seal_file_is_seen_at_once(tmp_path):
    seal = tmp_path / "seal.png"

    def before_and_after():
        seal_png(seal, (220, 0, 0))
        first = render_letter_pdf(letter(), seal_image=str(seal))
        render_letter_pdf(letter(), seal_image=str(seal))
        seal_png(seal, (0, 0, 200))  # the office's new seal, written over the old file
        return first, render_letter_pdf(letter(), seal_image=str(seal))

    first, second = in_new_thread(before_and_after)
    assert (220, 0, 0) in seal_colours(first, tmp_path, "first")
    colours = seal_colours(second, tmp_path, "second")
    assert (0, 0, 200) in colours and (220, 0, 0) not in colours


def test_two_seal_files_each_keep_their_own(tmp_path):
    red = seal_png(tmp_path / "red.png", (220, 0, 0))
    blue = seal_png(tmp_path / "blue.png", (0, 0, 200))
    pdfs = in_new_thread(lambda: [render_letter_pdf(letter(), seal_image=str(path)) for path in (red, blue, red)])
    assert [(220, 0, 0) in seal_colours(pdf, tmp_path, f"l{n}") for n, pdf in enumerate(pdfs)] == [True, False, True]
    assert (0, 0, 200) in seal_colours(pdfs[1], tmp_path, "blue-again")


def test_a_missing_seal_file_leaves_the_letter_without_a_seal(tmp_path):
    pdf = render_letter_pdf(letter(), seal_image=str(tmp_path / "nope.png"))
    assert pdf.startswith(b"%PDF") and not seal_colours(pdf, tmp_path, "missing")
