"""Benchmark the decision-letter renderer on one-page letters.

Run from the repository root:
    .venv/bin/python scripts/bench_letters.py [--count 100] [--seed 20261127]
"""

import argparse
import datetime as dt
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.letters.render import render_letter_pdf  # noqa: E402

SENTENCES = [
    "你单位报送的信用修复异议材料收悉。",
    "经审查，相关失信行为已纠正到位，公示期限已满。",
    "该公司已按要求履行行政处罚决定，并提交了信用承诺书。",
    "根据《随州市公共信用信息管理办法》有关规定，决定对该条信息予以撤下处理。",
    "请你单位在收到本决定书之日起5个工作日内完成系统标注。",
    "处理情况请书面报送我办。",
    "如对本决定有异议，可在收到本决定书之日起15日内向我办申请复核。",
]
ADDRESSEES = [
    "随州市曾都区住房和城乡建设局",
    "随州市市场监督管理局",
    "广水市发展和改革局",
    "随县人力资源和社会保障局",
]


def make_letter(rng: random.Random, number: int) -> dict:
    """Build one letter with body text drawn from ``rng``, sized to fit one page."""
    issued = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))
    paragraphs = ["".join(rng.sample(SENTENCES, 2)) for _ in range(2)]
    return {
        "title": "异议处理决定书",
        "doc_number": f"随信用异决〔2026〕{number}号",
        "issuer_name": "随州市社会信用体系建设领导小组办公室",
        "addressee": rng.choice(ADDRESSEES),
        "paragraphs": paragraphs,
        "issued_on": issued,
        "cc": ["随州市发展和改革委员会"],
        "printed_by": "随州市社会信用体系建设领导小组办公室",
        "printed_on": issued,
        "verify_url": f"https://xy.suizhou.gov.cn/v/{rng.getrandbits(40):010x}",
        "sha_note": f"SHA-256 {rng.getrandbits(64):016x}",
    }


def page_count(pdf: bytes) -> int:
    """Ask poppler's pdfinfo how many pages ``pdf`` has."""
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.decode().splitlines() if line.startswith("Pages:")))


def timed_render(letter: dict) -> tuple[float, bytes]:
    """Render ``letter`` and return (seconds, pdf)."""
    start = time.perf_counter()
    pdf = render_letter_pdf(letter)
    return time.perf_counter() - start, pdf


def main() -> None:
    """Render the letters and print median, p95 and total seconds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    letters = [make_letter(rng, number) for number in range(1, args.count + 1)]
    # The first render builds or loads the font subsets and Pango caches;
    # report it separately so the steady state is what the figures show.
    warmup, _ = timed_render(letters[0])

    durations, pdfs = [], []
    total_start = time.perf_counter()
    for letter in letters:
        seconds, pdf = timed_render(letter)
        durations.append(seconds)
        pdfs.append(pdf)
    total = time.perf_counter() - total_start
    pages = {page_count(pdf) for pdf in pdfs}

    p95 = statistics.quantiles(durations, n=20)[-1] if len(durations) > 1 else durations[0]
    print(f"warm-up (first render): {warmup:.3f} s")
    print(f"letters: {len(durations)}  pages per letter: {sorted(pages)}")
    print(f"median: {statistics.median(durations):.3f} s")
    print(f"p95:    {p95:.3f} s")
    print(f"total:  {total:.2f} s")


if __name__ == "__main__":
    main()
