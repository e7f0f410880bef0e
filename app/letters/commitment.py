"""Render a blank 信用承诺书 (credit commitment) for an applicant unit to fill in, sign and seal.

Plain data in (see ``render_commitment_pdf``), PDF out, in the letters' page layout, fonts and locked URL fetcher.
Not an issued letter: no number, no seal, no verification code; the blanks are the unit's to fill.
"""
from __future__ import annotations

from jinja2 import Environment, FileSystemLoader

from app.letters.render import PACKAGE_DIR, html_to_pdf

_env = Environment(loader=FileSystemLoader(PACKAGE_DIR / "templates"), autoescape=True, trim_blocks=True,
                   lstrip_blocks=True)


def render_commitment_pdf(data: dict, *, font_dir: str | None = None) -> bytes:
    """Render one commitment form.

    ``data``: ``title``, ``addressee`` (the credit office), ``paragraphs`` (list of str; a run of underscores is a
    blank to fill in) and ``signature`` (list of str: the lines of the signature block, 签字、盖章、日期)."""
    return html_to_pdf(_env.get_template("commitment.html").render(**data), font_dir=font_dir)
