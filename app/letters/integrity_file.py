"""Render an integrity file (诚信档案) to PDF: the office's print of one unit's or one person's records, cases,
sanctions and letters for 督查考核.

Plain data in (see ``render_file_pdf``), PDF out, with the letters' fonts and their locked URL fetcher (nothing but
the font files is fetched). Not a GB/T 9704 letter: an A4 landscape table with a header and summary.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from app.letters.render import (PACKAGE_DIR, allowing, chinese_date, ensure_font_subsets, find_font_files, font_css,
                                safe_url_fetcher)

STYLESHEET_PATH = PACKAGE_DIR / "integrity_file.css"

_env = Environment(loader=FileSystemLoader(PACKAGE_DIR / "templates"), autoescape=True, trim_blocks=True,
                   lstrip_blocks=True)
_env.filters["cndate"] = lambda value: chinese_date(value) if value else "—"


def render_file_pdf(data: dict, *, font_dir: str | None = None) -> bytes:
    """Render one integrity file.

    ``data``: ``title``, ``issuer_name``, ``printed_on`` (date), ``header`` (list of (label, value)), ``summary``
    (list of (label, count)), ``rows`` (list of dicts: ``day``, ``event``, ``doc``, ``status``), and optionally
    ``posts`` (list of dicts: ``unit``, ``post``, ``start``, ``end``)."""
    html = _env.get_template("integrity_file.html").render(**data)
    font_files = find_font_files(font_dir)
    subsets = ensure_font_subsets()
    font_config = FontConfiguration()
    with allowing({*font_files, *subsets.values(), Path(STYLESHEET_PATH)}):
        stylesheets = [CSS(filename=str(STYLESHEET_PATH), url_fetcher=safe_url_fetcher),
                       CSS(string=font_css(font_files, subsets), url_fetcher=safe_url_fetcher,
                           font_config=font_config)]
        document = HTML(string=html, url_fetcher=safe_url_fetcher).render(stylesheets=stylesheets,
                                                                          font_config=font_config)
    return document.write_pdf()
