"""Render official decision letters to PDF in the GB/T 9704-2012 layout.

The renderer is self-contained: it needs no Flask app context and no
database. Callers pass a plain dict (see ``render_letter_pdf``).

Fonts: the Noto Serif CJK collection is large enough that embedding it
dominates render time, so at first use a GB2312 subset is built with
fontTools and cached (``LETTER_FONT_CACHE`` or ``var/fonts``). The full
system font stays in the font stack so characters outside the subset still
render. Call ``ensure_font_subsets()`` at deploy time to avoid paying the
one-off build (about 15 s) inside a request.

Kept between letters (issue 15: a letter costs WeasyPrint's layout and PDF
writing, little else): the parsed stylesheets and their font configuration
(per thread, page stylesheet and font set: ``stylesheets_for``), the QR code
image (per URL: ``qr_png``), the drawn seal (per issuer) and the configured
seal image as a PDF object (per thread and file version: ``kept_images``).
"""

import base64
import hashlib
import io
import logging
import math
import mimetypes
import os
import subprocess
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pydyf
import segno
from PIL import Image
from fontTools.ttLib import TTFont
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape
from weasyprint import CSS, HTML
from weasyprint.document import Document
from weasyprint.images import RasterImage
from weasyprint.text.fonts import FontConfiguration

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]
STYLESHEET_PATH = PACKAGE_DIR / "letter.css"
DEFAULT_FONT_CACHE = REPO_ROOT / "var" / "fonts"

# GB/T 9704 asks for FangSong; these faces are not free, so they are used
# only when installed on the system or supplied through ``font_dir``.
BODY_FONT_STACK = ("FangSong_GB2312", "仿宋_GB2312", "FangSong", "仿宋")
SUBSET_FAMILY = "Letter Serif"
SYSTEM_SERIF = "Noto Serif CJK SC"
FALLBACK_FONT_STACK = (SUBSET_FAMILY, SYSTEM_SERIF, "serif")
GENERIC_FAMILIES = {"serif", "sans-serif", "monospace"}
FONT_FILE_SUFFIXES = {".ttf", ".otf", ".ttc", ".woff", ".woff2"}

# Bump when the subset recipe changes so stale cache files are not reused.
SUBSET_RECIPE_VERSION = "1"
# Only features used by horizontal Simplified Chinese text; "locl" would
# drag in the Japanese/Korean/Traditional variants and double the glyphs.
SUBSET_LAYOUT_FEATURES = ["ccmp", "kern", "liga", "calt", "mark", "mkmk"]
SUBSET_WEIGHTS = {"regular": 400, "bold": 700}

TYPE_AREA_WIDTH_PT = 156 / 25.4 * 72
MAX_MARK_SIZE_PT = 26.0
# Body text sits on a 28-character grid; these mirror letter.css.
GRID_CHAR_MM = 156 / 28
BODY_EM_MM = 16 / 72 * 25.4
# Latin letters and digits in Noto Serif CJK average about 0.55 em.
HALF_WIDTH_ADVANCE = 0.55
SEAL_DIAMETER_MM = 42
SEAL_RED = "#d00"

LOGGER = logging.getLogger(__name__)

_template_env = Environment(
    loader=FileSystemLoader(PACKAGE_DIR / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_allowed_paths: ContextVar[frozenset] = ContextVar("letter_allowed_paths", default=frozenset())
_subset_lock = threading.Lock()
_thread_state = threading.local()


class ResourceRefused(PermissionError):
    """Raised by ``safe_url_fetcher`` for any URL the renderer did not whitelist."""


def render_letter_pdf(data: dict, *, draft: bool = False, font_dir: str | None = None,
                      seal_image: str | None = None, demo_seal: bool = False) -> bytes:
    """Render one decision letter described by ``data`` to PDF bytes."""
    return layout_letter(data, draft=draft, font_dir=font_dir, seal_image=seal_image, demo_seal=demo_seal).write_pdf()


def layout_letter(data: dict, *, draft: bool = False, font_dir: str | None = None,
                  seal_image: str | None = None, demo_seal: bool = False) -> Document:
    """Lay out one letter: its ``pages`` show where everything went, ``write_pdf()`` gives the PDF.

    The seal (issue 13 §9): an issued letter carries the configured seal image (``seal_image``) or none, the signature
    block alone; the drawn red circle marks where the seal goes on a 草稿 draft, and on issued letters only with
    ``demo_seal`` (demo data, LETTER_DEMO_SEAL)."""
    seal_path = Path(seal_image).resolve() if seal_image and not draft else None
    context = build_context(data, draft=draft, seal_path=seal_path, demo_seal=demo_seal)
    html = _template_env.get_template("letter.html").render(context)
    return html_document(html, font_dir=font_dir, extra_files=[seal_path] if seal_path else [],
                         data_urls=[context["qr_src"]] if context["qr_src"] else [])


def html_to_pdf(html: str, *, font_dir: str | None = None, extra_files=(), stylesheet: Path = STYLESHEET_PATH) -> bytes:
    """Lay out HTML with a page stylesheet (the letters' unless told) and the letter fonts; return the PDF."""
    return html_document(html, font_dir=font_dir, extra_files=extra_files, stylesheet=stylesheet).write_pdf()


def html_document(html: str, *, font_dir: str | None = None, extra_files=(), data_urls=(),
                  stylesheet: Path = STYLESHEET_PATH) -> Document:
    """Lay out HTML with a page stylesheet and the letter fonts (parsed once per thread: ``stylesheets_for``),
    fetching only whitelisted files (and the renderer's own ``data_urls``: the QR code)."""
    font_files = find_font_files(font_dir)
    subsets = ensure_font_subsets()
    with allowing({*font_files, *subsets.values(), *extra_files}, data_urls=data_urls):
        stylesheets = stylesheets_for(font_files, subsets, stylesheet)
        # No base_url: relative URLs cannot be resolved, so they are dropped.
        document = HTML(string=html, url_fetcher=safe_url_fetcher)
        images = kept_images(extra_files)
        # Every resource is fetched while laying out, so writing the PDF later needs no whitelist.
        laid_out = document.render(stylesheets=stylesheets.css, font_config=stylesheets.font_config, cache=images)
    keep_images(extra_files, images)
    return laid_out


# ---------------------------------------------------------------- kept images

def _file_version(path: Path) -> tuple | None:
    """Name a file's current content: a replaced seal file is a new version, never the kept one (None: no file)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None  # WeasyPrint reports the missing image; nothing is kept
    return Path(path).resolve(), stat.st_mtime_ns, stat.st_size, stat.st_ino


def kept_images(files) -> dict:
    """Start WeasyPrint's image cache for one render with the raster images of ``files`` already kept (the seal).

    WeasyPrint decodes a PNG with transparency and compresses its colour and alpha anew for every PDF (about 20 ms
    for a 600-pixel seal); a kept image does that once per thread and file version (``keep_images``)."""
    kept = getattr(_thread_state, "images", {})
    cache = {}
    for path in files:
        entry = kept.get(_file_version(path)) if kept else None
        if entry is not None:
            cache[Path(path).resolve().as_uri()] = entry
    return cache


def keep_images(files, cache: dict) -> None:
    """Keep the raster images of ``files`` this render loaded, each making its PDF object once."""
    kept = getattr(_thread_state, "images", None)
    if kept is None:
        kept = _thread_state.images = {}
    for path in files:
        version = _file_version(path)
        image = cache.get(version[0].as_uri()) if version else None
        if version in kept or not isinstance(image, RasterImage):
            continue  # kept already, or no raster (an SVG seal is drawn, not embedded as an image)
        for old in [key for key in kept if key[0] == version[0]]:
            del kept[old]  # the file's earlier version
        image.get_x_object = _made_once(image.get_x_object)
        kept[version] = image


def _made_once(get_x_object):
    """Wrap an image's ``get_x_object``: made once, then a fresh copy for each PDF (writing one numbers it)."""
    made = {}

    def once(interpolate, dpi_ratio):
        key = (interpolate, dpi_ratio)
        if key not in made:
            made[key] = get_x_object(interpolate, dpi_ratio)
        return _copy_stream(made[key])

    return once


def _copy_stream(stream: pydyf.Stream) -> pydyf.Stream:
    """Copy a PDF stream and its mask, sharing the (immutable) data."""
    extra = pydyf.Dictionary(stream.extra)
    if isinstance(extra.get("SMask"), pydyf.Stream):
        extra["SMask"] = _copy_stream(extra["SMask"])
    return pydyf.Stream(list(stream.stream), extra, stream.compress)


def safe_url_fetcher(url: str, *args, **kwargs):
    """Serve only whitelisted local files and data: URLs; refuse every other URL."""
    if url.startswith("data:"):
        if url not in _allowed_paths.get():
            raise ResourceRefused(f"letter renderer refuses to fetch {url[:80]!r}")
        media_type, _, payload = url.removeprefix("data:").partition(",")
        return {"string": base64.b64decode(payload), "mime_type": media_type.removesuffix(";base64"),
                "redirected_url": url}
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise ResourceRefused(f"letter renderer refuses to fetch {url[:80]!r}")
    path = Path(url2pathname(parts.path)).resolve()
    if path not in _allowed_paths.get():
        raise ResourceRefused(f"letter renderer refuses to fetch {url[:80]!r}")
    return {
        "string": path.read_bytes(),
        "mime_type": mimetypes.guess_type(path.name)[0],
        "redirected_url": url,
    }


@contextmanager
def allowing(paths, *, data_urls=()):
    """Whitelist ``paths`` (and ``data_urls``, base64 only) for ``safe_url_fetcher`` within this context only."""
    if not all(url.startswith("data:") and ";base64," in url for url in data_urls):
        raise ValueError("only base64 data: URLs can be whitelisted")
    token = _allowed_paths.set(frozenset({*(Path(p).resolve() for p in paths), *data_urls}))
    try:
        yield
    finally:
        _allowed_paths.reset(token)


# ---------------------------------------------------------------- content

def build_context(data: dict, *, draft: bool, seal_path: Path | None, demo_seal: bool = False) -> dict:
    """Turn the caller's letter dict into template variables."""
    issuer = data["issuer_name"]
    issued_text = chinese_date(data["issued_on"])
    verify_url = data.get("verify_url")
    return {
        "draft": draft,
        "title": data["title"],
        "doc_number": data["doc_number"],
        "issuer_name": issuer,
        "mark_size_pt": issuer_mark_size(issuer),
        "addressee_line": addressee_line(data["addressee"]),
        "paragraphs": data["paragraphs"],
        "formula": data.get("formula"),  # 结束语, kept with the signature
        "issued_text": issued_text,
        "signoff": signoff_offsets(issuer, issued_text),
        "cc_text": cc_text(data.get("cc") or []),
        "printed_by": data["printed_by"],
        "printed_text": chinese_date(data["printed_on"]) + "印发",
        "verify_url": verify_url,
        "qr_src": qr_png(verify_url) if verify_url else None,
        "sha_note": data.get("sha_note"),
        "seal_url": seal_path.as_uri() if seal_path else None,
        # A drawn picture is no seal (LAW.md "Letters"): only drafts and demo letters show one.
        "seal_svg": placeholder_seal_svg(issuer) if draft or (demo_seal and not seal_path) else None,
    }


def chinese_date(value) -> str:
    """Format a date as GB/T 9704 wants: Arabic numerals, no zero padding."""
    return f"{value.year}年{value.month}月{value.day}日"


def addressee_line(addressee: str) -> str:
    """End the addressee with exactly one full-width colon."""
    return addressee.rstrip().rstrip(":：") + "："


def cc_text(units: list[str]) -> str:
    """Join 抄送 units with full-width commas and close with a full stop."""
    return "，".join(units) + "。" if units else ""


def issuer_mark_size(issuer: str) -> float:
    """Pick a mark size that keeps the issuer name on one line of the type area."""
    fitting = TYPE_AREA_WIDTH_PT * 0.95 / max(len(issuer), 1)
    return round(min(MAX_MARK_SIZE_PT, fitting), 1)


def signoff_offsets(signer: str, date_text: str) -> dict:
    """Return right indents (mm) for signer, date and seal around a shared centre.

    GB/T 9704 puts the date four characters from the right and centres the
    signer and the seal on it; a signer too long for that keeps two
    characters of right indent instead and the date is centred under it.
    """
    signer_width, date_width = text_width_mm(signer), text_width_mm(date_text)
    centre = max(4 * GRID_CHAR_MM + date_width / 2, 2 * GRID_CHAR_MM + signer_width / 2)
    return {
        "signer": centre - signer_width / 2,
        "date": centre - date_width / 2,
        "seal": centre - SEAL_DIAMETER_MM / 2,
    }


def text_width_mm(text: str) -> float:
    """Estimate the width of body-size text set on the character grid."""
    squeeze = BODY_EM_MM - GRID_CHAR_MM  # per-character letter-spacing in letter.css
    return sum((HALF_WIDTH_ADVANCE if ord(char) < 0x2E80 else 1) * BODY_EM_MM - squeeze
               for char in text)


QR_SCALE = 4  # image pixels per module: crisp even where a viewer smooths images despite /Interpolate false
QR_BORDER = 2  # quiet-zone modules, as the inline SVG had


@lru_cache(maxsize=256)  # a letter is laid out more than once (preview, issue, layout sweep) with its one URL
def qr_png(url: str) -> str:
    """Encode ``url`` as a small greyscale PNG data URI, the same modules as ``segno.make(url, error="m")``.

    An image, not an SVG: WeasyPrint parsing and stroking the QR code's path of a few hundred segments cost about
    15 ms of CPU a letter (issue 15); a PNG it embeds almost as is (8-bit grey without transparency: not converted
    to RGB). The renderer whitelists the URI for its own render only (``safe_url_fetcher``)."""
    matrix = segno.make(url, error="m", micro=False).matrix
    side = len(matrix) + 2 * QR_BORDER
    quiet = b"\xff" * side
    margin = b"\xff" * QR_BORDER
    rows = [quiet] * QR_BORDER
    rows += [margin + bytes(row).translate(_DARK_TO_BLACK) + margin for row in matrix]
    rows += [quiet] * QR_BORDER
    image = Image.frombytes("L", (side, side), b"".join(rows))
    image = image.resize((side * QR_SCALE, side * QR_SCALE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# segno's matrix holds 0x01 for a dark module and 0x00 for a light one: grey 0 (black) and 255 (white).
_DARK_TO_BLACK = bytes([255] + [0] * 255)


@lru_cache(maxsize=64)  # one issuer per deployment; drafts and demo letters all draw the same seal
def placeholder_seal_svg(issuer: str) -> Markup:
    """Draw a red round seal: ring, issuer name along the top arc, central star."""
    chars = list(issuer) or [" "]
    span = math.radians(min(250.0, 22.0 * len(chars)))
    radius = 33.0
    font_size = min(12.0, radius * span / len(chars) / 0.8)
    glyphs = []
    for i, char in enumerate(chars):
        angle = -span / 2 + span * (i + 0.5) / len(chars)
        x, y = 50 + radius * math.sin(angle), 50 - radius * math.cos(angle)
        glyphs.append(
            f'<text transform="translate({x:.2f} {y:.2f}) rotate({math.degrees(angle):.2f}) '
            f'scale(0.8 1)" font-size="{font_size:.2f}" text-anchor="middle">'
            f"{escape(char)}</text>")
    return Markup(
        f'<svg viewBox="0 0 100 100" xmlns="http://www.w3.org/2000/svg">'
        f'<circle cx="50" cy="50" r="47" fill="none" stroke="{SEAL_RED}" stroke-width="2.6"/>'
        f'<polygon points="{star_points(50, 52, 14)}" fill="{SEAL_RED}"/>'
        f'<g fill="{SEAL_RED}" font-family="{escape(font_family_list(FALLBACK_FONT_STACK))}" '
        f'font-weight="bold">'
        f'{"".join(glyphs)}</g></svg>')


def star_points(cx: float, cy: float, outer: float) -> str:
    """Return SVG polygon points for a five-pointed star pointing up."""
    inner = outer * 0.382
    points = []
    for k in range(10):
        r = outer if k % 2 == 0 else inner
        angle = math.pi * k / 5
        points.append(f"{cx + r * math.sin(angle):.2f},{cy - r * math.cos(angle):.2f}")
    return " ".join(points)


# ---------------------------------------------------------------- stylesheets

class _Stylesheets:
    """Parsed stylesheets bound to the font configuration they registered fonts in."""

    built = 0  # how many were ever built (tests: once per thread, stylesheet and font set, then reused)

    def __init__(self, font_files: tuple, subsets: dict, stylesheet: Path = STYLESHEET_PATH):
        type(self).built += 1
        self.font_config = FontConfiguration()
        self.css = [
            CSS(filename=str(stylesheet), url_fetcher=safe_url_fetcher),
            CSS(string=font_css(font_files, subsets), url_fetcher=safe_url_fetcher,
                font_config=self.font_config),
        ]


def stylesheets_for(font_files: tuple, subsets: dict, stylesheet: Path = STYLESHEET_PATH) -> _Stylesheets:
    """Return this thread's cached stylesheets for the given page stylesheet and fonts."""
    # Reusing the FontConfiguration skips re-registering @font-face files and
    # keeps Pango's font caches warm; Pango objects are not thread-safe, so
    # the cache is per thread. A font directory with other files is another key.
    cache = getattr(_thread_state, "stylesheets", None)
    if cache is None:
        cache = _thread_state.stylesheets = {}
    key = (Path(stylesheet), font_files, tuple(sorted(subsets.items())))
    if key not in cache:
        cache[key] = _Stylesheets(font_files, subsets, Path(stylesheet))
    return cache[key]


def font_css(font_files: tuple, subsets: dict) -> str:
    """Build @font-face rules and the font stacks for body and headings."""
    rules = [font_face(SUBSET_FAMILY, path, SUBSET_WEIGHTS[name])
             for name, path in sorted(subsets.items())]
    rules += [font_dir_face(path) for path in font_files]
    rules.append(f"html {{ font-family: {font_family_list(BODY_FONT_STACK + FALLBACK_FONT_STACK)}; }}")
    rules.append(f".heading {{ font-family: {font_family_list(FALLBACK_FONT_STACK)}; }}")
    return "\n".join(rules)


def font_family_list(names) -> str:
    """Format a CSS font-family value, quoting every name but generic keywords."""
    return ", ".join(name if name in GENERIC_FAMILIES else css_string(name) for name in names)


def font_face(family: str, path: Path, weight: int) -> str:
    """Return one @font-face rule loading ``path`` through the safe fetcher."""
    return (f"@font-face {{ font-family: {css_string(family)}; "
            f"src: url({css_string(path.as_uri())}); font-weight: {weight}; }}")


def font_dir_face(path: Path) -> str:
    """Return an @font-face rule declaring ``path`` under its own family name."""
    family, weight = font_file_family_and_weight(path)
    return font_face(family, path, weight)


def css_string(value: str) -> str:
    """Quote ``value`` as a CSS string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{escaped}"'


def find_font_files(font_dir: str | None) -> tuple:
    """List the font files directly inside ``font_dir``, sorted for stable caching."""
    if not font_dir:
        return ()
    return tuple(sorted(path.resolve() for path in Path(font_dir).iterdir()
                        if path.suffix.lower() in FONT_FILE_SUFFIXES))


def font_file_family_and_weight(path: Path) -> tuple[str, int]:
    """Read the family name and CSS weight a font file declares about itself."""
    with TTFont(path, lazy=True, fontNumber=0) as font:
        family = font["name"].getBestFamilyName() or path.stem
        weight = font["OS/2"].usWeightClass if "OS/2" in font else 400
    return family, min(900, max(100, round(weight / 100) * 100))


# ---------------------------------------------------------------- font subsets

def font_cache_dir() -> Path:
    """Return the directory holding pre-built font subsets."""
    return Path(os.environ.get("LETTER_FONT_CACHE") or DEFAULT_FONT_CACHE)


def ensure_font_subsets() -> dict:
    """Return {weight name: subset path}, building missing subsets on first use."""
    with _subset_lock:
        subsets = {}
        for name in SUBSET_WEIGHTS:
            source = find_system_serif(name)
            if source is None:
                continue
            target = font_cache_dir() / f"letter-serif-{name}-{source_digest(*source)}.otf"
            if target.exists() or try_build_subset(*source, target):
                subsets[name] = target
        return subsets


@lru_cache(maxsize=None)
def find_system_serif(weight_name: str) -> tuple[Path, int] | None:
    """Locate the Noto Serif CJK SC file and collection index for a weight."""
    pattern = f"{SYSTEM_SERIF}:weight={weight_name}"
    try:
        out = subprocess.run(
            ["fc-match", "--format", "%{family}\n%{file}\n%{index}", pattern],
            capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    families, file, index = (out.split("\n") + ["", "", ""])[:3]
    if SYSTEM_SERIF not in families.split(","):
        return None
    return Path(file), int(index or 0)


def source_digest(path: Path, index: int) -> str:
    """Fingerprint a source font so a changed system font invalidates the cache."""
    stat = path.stat()
    key = f"{path}:{index}:{stat.st_size}:{stat.st_mtime_ns}:{SUBSET_RECIPE_VERSION}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def try_build_subset(source: Path, index: int, target: Path) -> bool:
    """Build a subset, or log why not so rendering falls back to the full font."""
    try:
        build_subset(source, index, target)
    except OSError as error:
        LOGGER.warning("letter font subset not built (%s); using the full font", error)
        return False
    return True


def build_subset(source: Path, index: int, target: Path) -> None:
    """Write a GB2312 + ASCII + punctuation subset of ``source`` to ``target``."""
    from fontTools import subset  # heavy import, needed only on a cache miss

    options = subset.Options()
    options.layout_features = SUBSET_LAYOUT_FEATURES
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=subset_codepoints())
    with TTFont(source, fontNumber=index, recalcBBoxes=False, recalcTimestamp=False) as font:
        subsetter.subset(font)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename so a concurrent process never reads a half file.
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        font.save(partial)
    partial.replace(target)


def subset_codepoints() -> set[int]:
    """Return GB2312 characters plus ASCII, Latin-1 and common punctuation blocks."""
    codepoints = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))
    codepoints |= set(range(0x2000, 0x2070))  # general punctuation: — “ ” …
    codepoints |= set(range(0x3000, 0x3040))  # CJK punctuation: 、。〔〕《》
    codepoints |= set(range(0xFF00, 0xFFF0))  # full-width forms: ，：（）
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                codepoints.add(ord(bytes((row, cell)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return codepoints
