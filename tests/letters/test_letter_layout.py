"""Every letter type renders at every free-text length from 0 to 1,500 characters, and the closing lands right.

The rules checked on every layout (tests/support/letter_sweep.py, ``check``):
- the letter renders and its PDF reads back with as many pages as the layout has;
- the closing (结束语, signer, date, seal, QR code) is on one page, below body text on that page, never
  alone on it (GB/T 9704 7.3.5);
- when body and closing fit on page 1 the closing is there, and when the whole letter fits on one page
  it has one page; more generally, nothing on the closing page would have fitted on the page before;
- the 版记 is on the last page only, under the closing, or on a page of its own right after it when it
  did not fit there (a 版记页, as GB/T 9704 allows).

Lengths are sampled one body line apart (27 characters; a line holds 28), and the sweep asserts that no
two neighbouring samples are more than one body line apart, so every line count, hence every layout
any length can produce, is laid out and written (see tests/support/letter_sweep.py for why that covers every
length; scripts/sweep_letters.py renders each single length). Both sides of every change of the
closing's page are also rendered as draft previews.

Rendering touches no database, so this runs in the SQLite pass only. It uses two worker processes
(the CI machine has two cores): about 570 letters, some two minutes of CPU time.
"""
import os
import subprocess

import pytest

from app.letters.render import render_letter_pdf
from processes import SLICES
from tests.support import letter_sweep

LETTER_TYPES = {name: kind for piece in SLICES for name, kind in piece.letters.items()}

# Letter layout does not depend on the database: swept once, in the SQLite pass (tests/conftest.py).
pytestmark = pytest.mark.database_free

MAX_LENGTH = 1500
STEP = 27
LENGTHS = [*range(0, MAX_LENGTH, STEP), MAX_LENGTH]


@pytest.fixture(scope="module")
def swept():
    with letter_sweep.Pool(min(2, os.cpu_count() or 1)) as pool:
        return letter_sweep.sweep(LETTER_TYPES, LENGTHS, run=pool.run, bisect=False)


@pytest.mark.parametrize("letter_type", LETTER_TYPES)
def test_every_length_renders_with_the_closing_in_place(swept, letter_type):
    result = swept[letter_type]
    assert not result.coverage_gaps, "samples more than one body line apart: lower STEP"
    failures = [f"{o.describe()}: {'; '.join(o.problems)}" for o in result.failures]
    assert not failures, "\n".join(failures)
    assert max(result.outcomes) == MAX_LENGTH


def test_sweep_meets_every_kind_of_page_end(swept):
    """The rules above were exercised: one-page letters, 版记页s, closings on pages 2 and 3."""
    seen = {o.signature for result in swept.values() for o in result.outcomes.values()}
    assert (1, (0,)) in seen  # all on page 1
    assert (2, (0,)) in seen  # closing on page 1, 版记 on a page of its own
    assert {(2, (1,)), (3, (2,))} <= seen  # closing on page 2 and on page 3, below body text
    assert all(result.breaks and result.drafts for result in swept.values())


def test_formula_is_kept_out_of_the_body(app):
    for letter_type, kind in LETTER_TYPES.items():
        data = letter_sweep.letter_for(letter_type, 30)
        assert data["formula"] == kind.formula
        assert not [p for p in data["paragraphs"] if p.startswith("特此")], letter_type


@pytest.mark.parametrize("letter_type", LETTER_TYPES)
def test_pdf_text_shows_body_above_the_closing(app, swept, letter_type):
    """Read back with pdftotext where the closing first moves to page 2: the end of the body moved with it."""
    result = swept[letter_type]
    length = next(high for _, high in result.breaks if result.outcomes[high].closing_pages == [1])
    data = letter_sweep.letter_for(letter_type, length)
    page_two = "".join(pdf_text(render_letter_pdf(data), 2).split())
    ending = "".join(data["paragraphs"][-1].split())[-8:]
    assert ending in page_two
    after_body = page_two[page_two.index(ending):]
    assert (data["formula"] or "") in after_body
    assert "2026年11月27日" in after_body.replace("2026年11月27日印发", "")  # the signed date, not the 版记


def pdf_text(pdf: bytes, page: int) -> str:
    return subprocess.run(["pdftotext", "-raw", "-f", str(page), "-l", str(page), "-", "-"], input=pdf,
                          capture_output=True, check=True).stdout.decode()
