"""Fuzz quadpred's audio readers with thousands of seeded hostile files (tests/hostile_files.py)
and print the counts by outcome: ok, refused (quadpred's AudioError), and the unwanted ones
(foreign exception, NaN array, hang, crash), each listed.

    python bench/fuzz.py [--count 2000] [--seed 0] [--seconds 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile_files import fuzz  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="hostile files (each read by both readers)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per read")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        counts, bad = fuzz(Path(folder), args.count, seed=args.seed, seconds=args.seconds)
    reads = sum(counts.values())
    print(f"fuzz: {args.count} files, {reads} reads (load_audio and stream_log_mel) in "
          f"{time.perf_counter() - started:.0f} s, seed {args.seed}")
    for outcome in ("ok", "refused", "foreign", "nan", "hang", "crash"):
        print(f"  {outcome}: {counts.get(outcome, 0)}")
    for name, outcome in sorted(bad.items()):
        print(f"  UNWANTED {name}: {outcome}")


if __name__ == "__main__":
    main()
