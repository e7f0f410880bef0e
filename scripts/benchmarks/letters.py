"""Letters (issue 15 point 3): issuing one letter end to end, the render alone, WeasyPrint's floor, the step around a
letter, and the first letter in a fresh process.

    .venv/bin/python scripts/bench.py --only letters [--db sqlite|postgresql] [--quick]

The database matters only for storing and committing the letter (and for the step); the render is the same on both.
`BENCH_LETTERS_PROFILE=1` also prints where the time of issuing goes (a cProfile summary grouped by phase).
"""
from __future__ import annotations

import cProfile
import os
import pstats
import subprocess
import sys
import time
from contextlib import contextmanager

from scripts.benchmarks.common import ROOT, Bench, Figure, Timing, analyze, make_app, migrate_and_seed, timed

SECONDS = 1000.0  # the figures are in ms; the issue's letter targets are in seconds

# The first letter in a fresh process: imports, font subsets found (built at deploy time by ensure_font_subsets),
# stylesheets and Pango's caches built, then one letter laid out and written.
COLD_START = """
import time, datetime as dt
begin = time.perf_counter()
from app.letters.render import render_letter_pdf
imported = time.perf_counter()
render_letter_pdf({"title": "异议处理决定书", "doc_number": "随信用异决〔2026〕1号", "issuer_name": "随州市社会信用体系建设领导小组办公室",
                   "addressee": "随州市市场监督管理局", "paragraphs": ["你单位报送的异议材料收悉。经审查，决定予以更正。"],
                   "formula": "特此决定。", "issued_on": dt.date(2026, 11, 27), "cc": [], "printed_by": "随州市社会信用体系建设领导小组办公室",
                   "printed_on": dt.date(2026, 11, 27), "verify_url": "https://xy.suizhou.gov.cn/v/AbCdEfGhIjKl"})
print(imported - begin, time.perf_counter() - imported)
"""


def run(bench: Bench) -> list[Figure]:
    url = bench.database("letters")
    build = bench.fresh(url)
    app = make_app(url)
    with app.app_context():
        if build:
            migrate_and_seed()
        else:
            from flask_migrate import upgrade

            upgrade()
        analyze()
        return _figures(bench)


def _figures(bench: Bench) -> list[Figure]:
    from app.extensions import db
    from app.models import Case
    from app.services import letters

    repeat = bench.size(60, 8)
    steps = bench.size(30, 4)
    case_id = _accepted_objection()
    case = db.session.get(Case, case_id)
    context = _context(case, "objection_decision")

    def issue() -> None:
        letters.issue_letter(db.session.get(Case, case_id), "objection_decision", user_id=None, context=context)
        db.session.commit()

    issued = timed(issue, repeat)

    # The render alone: a letter's data (its own number and verification URL each time, as issuing makes them).
    datas = [letters.letter_data(case, "objection_decision", f"随信用异决〔2026〕{n}号", f"bench{n:07d}", context)
             for n in range(repeat + 3)]
    rendered = _timed_each(lambda data: letters._render(data, draft=False), datas)
    layout, written = _weasyprint_floor(datas)
    figures = [
        Figure("issue one letter (render, SHA-256, store, commit), median", issued.median / SECONDS, "s",
               "median ≤ 0.15 s", met=issued.median <= 150, floor=layout.median / SECONDS,
               floor_note="WeasyPrint render()", note=f"CPU {issued.cpu_median:.0f} ms, n={repeat}"),
        Figure("issue one letter, p95", issued.p95 / SECONDS, "s", "p95 ≤ 0.25 s", met=issued.p95 <= 250,
               floor=(layout.median + written.median) / SECONDS, floor_note="WeasyPrint render() + write_pdf()"),
        Figure("render one letter (context, QR, template, layout, PDF), median", rendered.median, "ms",
               floor=layout.median + written.median, floor_note="render() + write_pdf()",
               note=f"CPU {rendered.cpu_median:.0f} ms, p95 {rendered.p95:.0f} ms"),
        Figure("WeasyPrint render() alone (same HTML, prebuilt stylesheets), median", layout.median, "ms",
               note=f"CPU {layout.cpu_median:.0f} ms"),
        Figure("WeasyPrint write_pdf() of it, median", written.median, "ms", note=f"CPU {written.cpu_median:.0f} ms"),
    ]
    figures += _step_figures(steps)
    figures.append(_cold_start())
    if os.environ.get("BENCH_LETTERS_PROFILE"):
        _profile(issue, repeat)
    return figures


def _accepted_objection() -> int:
    """An objection of applicant1's unit, accepted (its 受理通知书 issued): a case decision letters can be issued on."""
    from app.demo import bulk
    from app.extensions import db

    record = bulk.free_records(bulk.user_named("applicant1").unit_id, 1)[0]
    case = bulk.file_objection(record, [("intake1", {"intake_choice": "accept"})])
    db.session.commit()
    return case.id


def _context(case, letter_type: str) -> dict:
    from app.services.workflow import registry

    kind = registry.letter_type(letter_type)
    try:
        return kind.context(case)
    except (KeyError, TypeError, AttributeError):  # a decision's context reads the decided values; a plain one will do
        return {}


def _timed_each(action, items) -> Timing:
    """Time action(item) for each item after the first three (the warm-up)."""
    for item in items[:3]:
        action(item)
    timing = Timing()
    for item in items[3:]:
        begin, begin_cpu = time.perf_counter(), time.thread_time()
        action(item)
        timing.wall.append((time.perf_counter() - begin) * 1000)
        timing.cpu.append((time.thread_time() - begin_cpu) * 1000)
    return timing


def _weasyprint_floor(datas: list[dict]) -> tuple[Timing, Timing]:
    """WeasyPrint alone on the letters' own HTML with the renderer's prebuilt stylesheets: render(), write_pdf()."""
    from weasyprint import HTML

    from app.letters import render

    subsets = render.ensure_font_subsets()
    sheets = render.stylesheets_for((), subsets)
    pages = []
    for data in datas:
        context = render.build_context(data, draft=False, seal_path=None)
        pages.append((render._template_env.get_template("letter.html").render(context), context.get("qr_src")))
    documents = []

    def lay_out(page) -> None:
        html, qr = page
        with render.allowing(subsets.values(), **({"data_urls": [qr]} if qr else {})):  # (an inline SVG QR before)
            documents.append(HTML(string=html, url_fetcher=render.safe_url_fetcher)
                             .render(stylesheets=sheets.css, font_config=sheets.font_config))

    layout = _timed_each(lay_out, pages)
    written = _timed_each(lambda document: document.write_pdf(), documents)
    return layout, written


def _step_figures(count: int) -> list[Figure]:
    """Complete 审批处理决定 (approve_decision): its step issues the 异议处理决定书. Minus the letter's render."""
    from sqlalchemy import select

    from app.demo import bulk
    from app.extensions import db
    from app.models import HumanTask
    from app.services import letters, workflow

    from app.models import CreditRecord

    verifier_unit = bulk.user_named("verifier1").unit_id  # verifier1 answers for the records its unit made
    records = bulk.free_records(bulk.user_named("applicant1").unit_id, count + 2,
                                 where=CreditRecord.recording_unit_id == verifier_unit)
    cases = [bulk.file_objection(record, [
        ("intake1", {"intake_choice": "accept"}),
        ("verifier1", {"verify_choice": "no_error", "opinion": "经核查，记录无误"}),
        ("intake1", {"decision": "maintain", "reasons": "依照认定单位的核查结论办理"})]) for record in records]
    db.session.commit()
    approver = bulk.user_named("approver1")
    tasks = [db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case.id, HumanTask.status == "open"))
             for case in cases]
    spent: list[float] = []
    spent_cpu: list[float] = []

    @contextmanager
    def rendering_measured():
        original = letters.render_letter_pdf

        def measured(*args, **kwargs):
            begin, begin_cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent.append((time.perf_counter() - begin) * 1000)
                spent_cpu.append((time.thread_time() - begin_cpu) * 1000)

        letters.render_letter_pdf = measured
        try:
            yield
        finally:
            letters.render_letter_pdf = original

    step, without, without_cpu = Timing(), [], []
    with rendering_measured():
        for n, task_id in enumerate(tasks):
            spent.clear()
            spent_cpu.clear()
            begin, begin_cpu = time.perf_counter(), time.thread_time()
            workflow.complete_task(approver, task_id, {"approval": "approve"})
            db.session.commit()
            wall, cpu = (time.perf_counter() - begin) * 1000, (time.thread_time() - begin_cpu) * 1000
            assert len(spent) == 1, "the approval step must issue exactly one letter"
            if n < 2:
                continue  # warm-up
            step.wall.append(wall)
            step.cpu.append(cpu)
            without.append(wall - spent[0])
            without_cpu.append(cpu - spent_cpu[0])
    minus = Timing(wall=without, cpu=without_cpu)
    return [
        Figure("step that issues a letter (approve_decision + commit), median", step.median, "ms",
               note=f"CPU {step.cpu_median:.0f} ms, n={len(step.wall)}"),
        Figure("that step minus the letter's render, median", minus.median, "ms", "≤ 30 ms", met=minus.median <= 30,
               note=f"CPU {minus.cpu_median:.1f} ms"),
        Figure("that step minus the letter's render, p95", minus.p95, "ms", "≤ 30 ms", met=minus.p95 <= 30),
    ]


def _cold_start() -> Figure:
    """The first letter in a fresh Python process (informative: a worker pays it once)."""
    out = subprocess.run([sys.executable, "-c", COLD_START], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    imported, first = (float(value) * 1000 for value in out[-2:])
    return Figure("first letter in a fresh process (cold start)", first, "ms",
                  note=f"after {imported:.0f} ms of imports; font subsets already built")


PHASES = (  # (label, file, function): cumulative time in these functions (nested: issue_letter holds the rest)
    ("issue_letter (all but the commit)", "app/services/letters.py", "issue_letter"),
    ("  letter data (wording, body, numbers)", "app/services/letters.py", "letter_data"),
    ("  render_letter_pdf", "app/letters/render.py", "render_letter_pdf"),
    ("    QR code", "app/letters/render.py", "qr_png"),
    ("    HTML template", "jinja2/environment.py", "render"),
    ("    WeasyPrint render() (layout)", "weasyprint/__init__.py", "render"),
    ("    WeasyPrint write_pdf()", "weasyprint/document.py", "write_pdf"),
    ("  audit record", "app/services/audit/chain.py", "record"),
    ("  delivery.open_deadlines", "app/services/delivery.py", "open_deadlines"),
    ("commit", "sqlalchemy/orm/session.py", "commit"),
)


def _profile(issue, repeat: int) -> None:
    """Print the cumulative time of each phase of issuing `repeat` letters (cProfile, so slower than the figures)."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(repeat):
        issue()
    profile.disable()
    stats = pstats.Stats(profile)
    print(f"\nwhere issuing one letter goes (cProfile, {repeat} letters, {stats.total_tt / repeat * 1000:.0f} ms each "
          "under the profiler):")
    for label, file, name in PHASES:
        cumulative = max((row[3] for (path, _, function), row in stats.stats.items()
                          if path.endswith(file) and function == name), default=0.0)
        print(f"  {label:42} {cumulative / repeat * 1000:7.1f} ms")
