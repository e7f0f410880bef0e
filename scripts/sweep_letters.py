"""Lay out and write every letter type at every free-text length, and check each page layout.

The CI test (tests/letters/test_letter_layout.py) samples one length per body line, which covers every
layout; this script renders every single length, to confirm it on a machine with time to spare.
Run from the repository root:
    .venv/bin/python scripts/sweep_letters.py [--max-length 1500] [--step 1] [--workers 2] [--drafts]
It prints, per letter type, the layouts written, the lengths where the pagination changes and every
length whose letter failed to render or broke a layout rule, and exits 1 if any did.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import letter_sweep  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-length", type=int, default=1500)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--drafts", action="store_true", help="also lay out the draft preview at every length")
    parser.add_argument("--types", nargs="*", default=list(letter_sweep.FREE_TEXT))
    args = parser.parse_args()

    lengths = range(0, args.max_length + 1, args.step)
    start = time.perf_counter()
    with letter_sweep.Pool(args.workers) as pool:
        results = letter_sweep.sweep(args.types, lengths, run=pool.run, bisect=args.step > 1, drafts=False)
        drafts = pool.run([(t, n, True, True) for t in args.types for n in lengths]) if args.drafts else []
    seconds = time.perf_counter() - start

    failed = [o for o in drafts if o.problems]
    for letter_type, result in results.items():
        pages = sorted({o.signature for o in result.outcomes.values() if o.pages})
        print(f"{letter_type}: {len(result.outcomes)} letters; pagination changes after lengths "
              f"{[low for low, _ in result.breaks]}; (pages, closing page) seen: "
              f"{[(count, [p + 1 for p in closing]) for count, closing in pages]}")
        failed += result.failures
    for outcome in sorted(failed, key=lambda o: (o.letter_type, o.draft, o.length)):
        print(f"  FAILED {outcome.describe()}: {'; '.join(outcome.problems)}")
    total = sum(len(r.outcomes) for r in results.values()) + len(drafts)
    print(f"{total} letters laid out and written in {seconds:.0f} s with {args.workers} workers; "
          f"{len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
