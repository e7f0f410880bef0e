"""Lay out every letter type with its free text at many lengths and check where the closing lands.

Used by tests/letters/test_letter_layout.py (a CI-sized sweep) and scripts/sweep_letters.py (every length).

Why a sample of lengths covers every length: a length only changes the text of one paragraph, and
the vertical layout depends on that paragraph only through its number of lines (every line is one
10.22 mm grid step; where the last line ends across the page does not move anything). So two lengths
giving the same number of body lines lay out alike. ``sweep`` samples lengths ``step`` apart and
checks that the body grows by at most one line from sample to sample: then every line count, so
every layout, that any length in the range can produce has been laid out and checked. Where the
pagination changes between two samples it can also bisect to the exact length (``bisect``), and it
lays out the draft preview on both sides of each change of the closing's page (``drafts``).

The checks read WeasyPrint's box tree (``Page._page_box``, WeasyPrint is pinned in requirements.txt).
"""
from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass, field
from types import SimpleNamespace

from app.letters.render import layout_letter
from app.services import letters

PX_TO_MM = 25.4 / 96
TYPE_AREA_MM = 225.0  # letter.css: 297 mm less the 37 mm top and 35 mm bottom margins
LINE_MM = 10.22
SLACK_MM = 0.05

# Real sentences, punctuation included, so line breaking meets 、，。 as in real reasons.
FILLER = ("经核查，该单位已按要求纠正失信行为，履行相关义务，并提交了信用承诺书；"
          "认定单位随州市财政局出具了书面意见，同意对该条记录予以处理、")


def filler(length: int) -> str:
    """Return ``length`` characters of Chinese text."""
    return (FILLER * (length // len(FILLER) + 1))[:length]


def fake_case(*, facts: str = "逾期未履行合同约定的付款义务", basis_doc_no: str = "随财〔2026〕12号"):
    """A stand-in for a Case with the attributes the letter texts read (no database)."""
    from tests.support.constants import T0

    return SimpleNamespace(
        number="XY2026-000123", submitted_at=T0, query_code="A1B2C3D4", form={},
        applicant_unit=SimpleNamespace(name="随州市曾都区住房和城乡建设局", kind="department"),
        record=SimpleNamespace(recording_unit=SimpleNamespace(name="随州市财政局"), basis_doc_no=basis_doc_no,
                               basis_date=dt.date(2026, 3, 5), facts=facts, subject_type="unit", person_name=None,
                               person_post=None, category_label="政务违约", severity_label="一般"))


REGISTRATION = {"published": True, "start_text": "2026年11月27日", "end_text": "2027年3月5日", "repair_text": "2026年6月5日"}


SOURCE_CHANGE = {"who": "你单位", "change_doc_no": "随财复决〔2026〕3号", "change_doc_date": "2026年11月20日",
                 "original_doc": "随财〔2026〕12号", "original_date": "2026年3月5日", "lifted": ["取消荣誉评选资格"],
                 "changes": []}

# A deadline sentence as letters.from_delivery words it (it reads the working-day calendar, which the sweep has not).
DEADLINE = ("自本通知送达之日起20个工作日内（工作日不含法定节假日和休息日；送达当日不计入，自次日起算；电子送达的，以你单位在本系统首次"
            "打开本通知之时为送达；按2026年11月27日送达计，最后一日为2026年12月25日（含））")
RECTIFICATION = {"due": dt.date(2026, 12, 11), "days": 20, "requirements": "纠正失信行为。", "opinion": "整改不到位。",
                 "overdue_measures": "取消荣誉评选资格、公开通报批评", "deadline": DEADLINE}
MEASURES = {"ordered": "2026年11月27日", "due": dt.date(2026, 12, 11), "window": 3, "existing": "",
            "proposed": [{"name": "取消荣誉评选资格", "basis": "随信用办〔2017〕9号三（二）4"},
                         {"name": "公开通报批评", "basis": "随信用办〔2017〕9号三（二）4"}],
            "lenient_basis": "三（二）6", "noticed": "2026年12月14日", "statement": "", "outcome": "confirm",
            "reasons": "未按期整改。", "not_imposed": "",
            "imposed": [{"name": "取消荣誉评选资格", "basis": "随信用办〔2017〕9号三（二）4", "start": "2026年12月18日",
                         "term_end": "2027年3月5日"}]}
REPAIR_OPINION = {"opinion_label": "同意修复", "opinion": "已履行相关义务"}
RESTORATION = {"unit": "随州市某局", "why": "所依据的失信记录已经信用修复。", "asked": "你单位申请恢复荣誉评选资格",
               "today": dt.date(2026, 11, 27), "whose": ""}
OBJECTION_DECISION = {
    "decision": "correct", "effect": "对该条政务失信记录予以更正，撤销“异议中”标注。",
    "push": "更正后的信息将在“信用随州”网站同步更新，本办将同步推送至信用中国（湖北）平台。", "court": "",
    "verifier": "随州市财政局", "answer": "确认有误", "opinion": "经核查，失信程度认定有误",
    "corrections": ["失信程度由“一般”更正为“严重”", "公示截止日期相应调整为2029年3月5日"],
}
SUPPLEMENT = {"reason": "证据材料不清晰", "due": dt.date(2026, 12, 4), "days": 5, "what": "异议申请",
              "deadline": "自本通知送达之日起5个工作日内（工作日不含法定节假日和休息日；送达当日不计入，自次日起算；电子送达的，"
                          "以你单位在本系统首次打开本通知之时为送达；按2026年11月27日送达计，最后一日为2026年12月4日（含））"}

# For each letter type: where a free text of a given length goes (case fields, task context).
# The acceptance notice has no free text of its own; the record's 认定文书 number is what varies there.
FREE_TEXT = {
    "acceptance_notice": lambda text: (fake_case(basis_doc_no=text), {"verify_days": 5, "decide_days": 4}),
    "rejection_notice": lambda text: (fake_case(), {"reason": text}),
    "objection_decision": lambda text: (fake_case(), dict(OBJECTION_DECISION, reasons=text)),
    # The 补正 letters (shared by objection and repair): what to supply is the free text.
    # (what to supply is never empty: the 补正 form requires it, and an empty list would drop its paragraph)
    "supplement_notice": lambda text: (fake_case(), dict(SUPPLEMENT, items="撤销决定书原件；" + text)),
    "withdrawn_notice": lambda text: (fake_case(), dict(SUPPLEMENT, items=text)),
    "rectification_notice": lambda text: (fake_case(), {**RECTIFICATION, "requirements": text}),
    "rework_notice": lambda text: (fake_case(), {**RECTIFICATION, "opinion": text}),
    # The measures still standing (names from the catalogue) are the text that grows; one always stands here.
    "rectification_accepted_notice": lambda text: (fake_case(), {
        "today": dt.date(2026, 12, 11), "standing": "取消荣誉评选资格、" + text}),
    "measures_notice": lambda text: (fake_case(facts=text), dict(MEASURES)),
    "measures_decision": lambda text: (fake_case(), {**MEASURES, "reasons": text}),
    "public_criticism_decision": lambda text: (fake_case(facts=text), dict(MEASURES)),
    "repair_rejection_notice": lambda text: (fake_case(), {"reason": text}),
    "repair_acceptance_notice": lambda text: (fake_case(basis_doc_no=text), {
        "verify_days": 5, "approve_days": 2, "total_days": 10, "due_total": dt.date(2026, 12, 11)}),
    "repair_ineligible_notice": lambda text: (fake_case(), {"reason": text, "earliest": dt.date(2027, 1, 5),
                                                            "rule_note": ""}),
    "repair_more_materials_notice": lambda text: (fake_case(), {"items": text, "days": 5, "deadline": (
        "自本通知送达之日起5个工作日内（工作日不含法定节假日和休息日；送达当日不计入，自次日起算；电子送达的，以你单位在本系统首次"
        "打开本通知之时为送达；按2026年11月27日送达计，最后一日为2026年12月4日（含））")}),
    "repair_withdrawn_notice": lambda text: (fake_case(basis_doc_no=text), {}),
    "repair_decision": lambda text: (fake_case(), {**REPAIR_OPINION, "reasons": text, "restoration": True,
                                                   "lifted": ["限期整改（自2026年5月6日起实施）"],
                                                   "left": ["取消荣誉评选资格（自2026年5月6日起实施）"]}),
    "repair_refusal": lambda text: (fake_case(), {**REPAIR_OPINION, "reasons": text}),
    "disclosure_notice": lambda text: (fake_case(facts=text), dict(REGISTRATION)),
    "repair_notice": lambda text: (fake_case(facts=text), dict(REGISTRATION)),
    "restoration_decision": lambda text: (fake_case(), {**RESTORATION, "basis": text}),
    "restoration_refusal": lambda text: (fake_case(), {**RESTORATION, "basis": "随财〔2026〕12号", "reason": text}),
    # The source change's notices: the recording unit's reason is the free text.
    "source_revocation_notice": lambda text: (fake_case(), {**SOURCE_CHANGE, "reason": text}),
    "source_change_notice": lambda text: (fake_case(), {**SOURCE_CHANGE, "reason": text,
                                                        "changes": [("失信程度", "一般", "严重")]}),
}


def letter_for(letter_type: str, length: int) -> dict:
    """The data dict the service would render for this type with a free text of ``length`` characters."""
    case, context = FREE_TEXT[letter_type](filler(length))
    # The built-in text (version 0): the sweep needs no database, and saved versions are checked when saved.
    return letters.letter_data(case, letter_type, "随信用修决〔2026〕1号", "Xq3k9Vb2", context,
                               letters.builtin_wording(letter_type))


@dataclass
class PageFacts:
    flow: list = field(default_factory=list)  # (kind, height mm) of each in-flow block, top to bottom
    used_mm: float = 0.0  # from the top of the type area to the bottom of the last line or block
    colophon_mm: float = 0.0  # height of the footnote area holding the 版记, 0 if none


@dataclass
class Outcome:
    letter_type: str
    length: int
    draft: bool
    pages: list
    pdf_pages: int | None = None  # pages of the written PDF, when it was written
    problems: list = field(default_factory=list)

    @property
    def closing_pages(self) -> list[int]:
        return [i for i, page in enumerate(self.pages) if any(kind == "closing" for kind, _ in page.flow)]

    @property
    def body_lines(self) -> int:
        """Lines of body paragraphs over all pages (the layout depends on the length only through this)."""
        height = sum(h for page in self.pages for kind, h in page.flow if kind == "body")
        return round(height / LINE_MM)

    @property
    def signature(self) -> tuple:
        """What the pagination looks like: page count and the page the closing is on."""
        return len(self.pages), tuple(self.closing_pages)

    def describe(self) -> str:
        pages = " | ".join(" ".join(f"{kind}:{h:.0f}" for kind, h in page.flow) + (
            f" +colophon:{page.colophon_mm:.0f}" if page.colophon_mm else "") for page in self.pages)
        return f"{self.letter_type} length {self.length}{' draft' if self.draft else ''}: [{pages}]"


def block_kind(box) -> str:
    classes = (box.element.get("class") or "").split() if box.element is not None else []
    if "closing" in classes:
        return "closing"
    if "body-text" in classes:
        # A 结束语 set as a body paragraph is no body text for the signature page (GB/T 9704 7.3.5).
        return "formula" if (box.element.text or "").startswith("特此") else "body"
    if {"masthead", "title", "addressee"} & set(classes):
        return "head"
    return "other"  # e.g. the anonymous line holding the 版记's footnote call


def page_facts(page) -> PageFacts:
    """Measure one laid-out page.

    A paragraph broken across pages is stretched to the page bottom by WeasyPrint, so paragraphs are
    measured by their lines, not by their box.
    """
    facts = PageFacts()
    page_box = page._page_box
    html = page_box.children[0]
    top = html.content_box_y()
    # Pages after the first repeat the draft watermark (position: fixed) beside <body>, the first inside it.
    for body in (box for box in html.children if box.element_tag == "body"):
        for box in body.children:
            if not box.is_in_normal_flow():
                continue
            kind = block_kind(box)
            if kind == "body":
                lines = [line for line in box.children if type(line).__name__ == "LineBox"]
                bottom = lines[-1].position_y + lines[-1].height if lines else box.position_y
                height = len(lines) * LINE_MM
            else:
                bottom = box.position_y + box.margin_height()
                height = box.margin_height() * PX_TO_MM
            if height > SLACK_MM:
                facts.flow.append((kind, height))
                facts.used_mm = max(facts.used_mm, (bottom - top) * PX_TO_MM)
    for box in page_box.children:
        if type(box).__name__ == "FootnoteAreaBox" and box.children:
            facts.colophon_mm = box.margin_height() * PX_TO_MM
    return facts


def check(outcome: Outcome) -> list[str]:
    """Return what is wrong with where the closing and the 版记 landed (empty when all is well)."""
    pages, problems = outcome.pages, []
    closing = outcome.closing_pages
    if len(closing) != 1:
        return [f"the closing is on pages {[i + 1 for i in closing]}, not on exactly one"]
    at = closing[0]
    total = sum(page.used_mm for page in pages)
    colophon = max(page.colophon_mm for page in pages)
    before_closing = [kind for kind, _ in pages[at].flow[:[k for k, _ in pages[at].flow].index("closing")]]
    if "body" not in before_closing:
        problems.append(f"the closing is alone on page {at + 1}: no body text above it")
    if total <= TYPE_AREA_MM + SLACK_MM and at != 0:
        problems.append(f"body and closing fit on page 1 ({total:.1f} mm) but the closing is on page {at + 1}")
    if at > 0 and pages[at].used_mm <= TYPE_AREA_MM - pages[at - 1].used_mm - SLACK_MM:
        problems.append(f"everything on page {at + 1} would have fitted on page {at}")
    if total + colophon <= TYPE_AREA_MM + SLACK_MM and len(pages) != 1:
        problems.append(f"the whole letter fits on one page ({total + colophon:.1f} mm) but has {len(pages)}")
    colophon_pages = [i for i, page in enumerate(pages) if page.colophon_mm]
    if colophon_pages != [len(pages) - 1]:
        problems.append(f"the 版记 is on pages {[i + 1 for i in colophon_pages]}, not on the last page only")
    elif colophon_pages[0] != at:
        # A 版记页 of its own (GB/T 9704 allows one) only when the 版记 did not fit under the closing.
        if colophon_pages[0] != at + 1 or pages[-1].flow:
            problems.append("the page after the closing holds more than the 版记")
        elif pages[at].used_mm + colophon <= TYPE_AREA_MM + SLACK_MM:
            problems.append(f"the 版记 fits under the closing on page {at + 1} but went to page {at + 2}")
    if outcome.pdf_pages is not None and outcome.pdf_pages != len(pages):
        problems.append(f"the PDF has {outcome.pdf_pages} pages, the layout {len(pages)}")
    return problems


def pdf_page_count(pdf: bytes) -> int:
    """Read the PDF back with poppler's pdfinfo (it fails on a broken file) and return its page count."""
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True, timeout=30).stdout
    return int(next(line.split()[-1] for line in info.decode().splitlines() if line.startswith("Pages:")))


def lay_out(letter_type: str, length: int, *, draft: bool = False, write_pdf: bool = True) -> Outcome:
    """Lay out (and write) one letter; a crash is reported as a problem, not raised."""
    try:
        document = layout_letter(letter_for(letter_type, length), draft=draft)
        outcome = Outcome(letter_type, length, draft, [page_facts(page) for page in document.pages])
        if write_pdf:
            outcome.pdf_pages = pdf_page_count(document.write_pdf())
    except Exception as error:  # noqa: BLE001 - every failure to render is a finding
        return Outcome(letter_type, length, draft, [], problems=[f"render failed: {type(error).__name__}: {error}"])
    outcome.problems = check(outcome)
    return outcome


@dataclass
class SweepResult:
    letter_type: str
    outcomes: dict = field(default_factory=dict)  # length -> Outcome of the letter as issued (seal, no watermark)
    breaks: list = field(default_factory=list)  # (last length before, first length after) each pagination change
    drafts: list = field(default_factory=list)  # draft previews on both sides of each move of the closing
    coverage_gaps: list = field(default_factory=list)  # consecutive samples more than one body line apart

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in [*self.outcomes.values(), *self.drafts] if o.problems]

    @property
    def layouts(self) -> int:
        return len(self.outcomes) + len(self.drafts)


def sweep(letter_types, lengths, *, run=None, bisect: bool = True, drafts: bool = True,
          write_pdf: bool = True) -> dict[str, SweepResult]:
    """Lay out every type at ``lengths``; bisect each pagination change to one character.

    ``run`` maps a list of (letter_type, length, draft, write_pdf) jobs to Outcomes, in order
    (``run_serial``, or ``Pool.run`` to use several processes).
    """
    run = run or run_serial
    results = {letter_type: SweepResult(letter_type) for letter_type in letter_types}

    def lay_out_all(jobs):
        for outcome in run([(t, n, False, write_pdf) for t, n in jobs]):
            results[outcome.letter_type].outcomes[outcome.length] = outcome

    lay_out_all([(t, n) for t in results for n in lengths])
    pending = []  # (result, low, high): the signature changes somewhere in (low, high]
    for result in results.values():
        samples = [result.outcomes[n] for n in lengths]
        for before, after in zip(samples, samples[1:]):
            if not (before.pages and after.pages):
                continue  # a crash, reported as such
            if not 0 <= after.body_lines - before.body_lines <= 1:
                result.coverage_gaps.append((before.length, before.body_lines, after.length, after.body_lines))
            if before.signature != after.signature:
                pending.append((result, before.length, after.length))
    while bisect and any(high - low > 1 for _, low, high in pending):
        lay_out_all([(r.letter_type, (low + high) // 2) for r, low, high in pending if high - low > 1])
        narrowed = []
        for result, low, high in pending:
            if high - low > 1:
                middle = result.outcomes[(low + high) // 2]
                before = result.outcomes[low]
                if middle.pages and middle.signature == before.signature:
                    low = middle.length
                else:
                    high = middle.length
            narrowed.append((result, low, high))
        pending = narrowed
    for result, low, high in pending:
        result.breaks.append((low, high))
    if drafts:  # where the closing moves to another page: the case the draft's watermark might upset
        moves = [(r, low, high) for r, low, high in pending
                 if r.outcomes[low].closing_pages != r.outcomes[high].closing_pages]
        for outcome in run([(r.letter_type, n, True, write_pdf) for r, low, high in moves for n in (low, high)]):
            results[outcome.letter_type].drafts.append(outcome)
    return results


def run_serial(jobs) -> list[Outcome]:
    return [lay_out(letter_type, length, draft=draft, write_pdf=pdf) for letter_type, length, draft, pdf in jobs]


def _start_worker() -> None:
    """Give a worker process what the letter texts need: an app context and the tests' frozen clock."""
    from app import create_app
    from app.core import clock
    from config import TestConfig
    from tests.support.constants import T0

    create_app(TestConfig).app_context().push()
    clock.set_frozen(T0)


def _run_job(job) -> Outcome:
    letter_type, length, draft, pdf = job
    return lay_out(letter_type, length, draft=draft, write_pdf=pdf)


class Pool:
    """Lay letters out in worker processes (spawned: nothing of the caller's state is shared)."""

    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_worker)
        self.workers = workers

    def run(self, jobs) -> list[Outcome]:
        jobs = list(jobs)
        chunk = max(1, len(jobs) // (self.workers * 8))
        return list(self.executor.map(_run_job, jobs, chunksize=chunk))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.executor.shutdown()
