"""Render an integrity file (诚信档案) to PDF: the office's print of one unit's or one person's records, cases,
sanctions and letters for 督查考核.

Plain data in (see ``render_file_pdf``), PDF out, with the letters' fonts, their locked URL fetcher (nothing but
the font files is fetched) and their stylesheets parsed once per thread. Not a GB/T 9704 letter: an A4 landscape
table with a header and summary.
"""
from __future__ import annotations

from jinja2 import Environment, FileSystemLoader

from app.letters.render import PACKAGE_DIR, chinese_date, html_to_pdf

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
    return html_to_pdf(html, font_dir=font_dir, stylesheet=STYLESHEET_PATH)
