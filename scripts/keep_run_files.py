"""Copy the small files of an experiment into the repository, so that `quadpred report` rebuilds
its tables, intervals, tests and figures without training (and without audio or feature stores).

    python scripts/keep_run_files.py RUNS_DIR docs/results/real

Kept per run folder: config.json, summary.json, history.json/.csv, metrics.json and the test
predictions with their probabilities stored as float16 (half the size; scores are unchanged
unless two classes tie within 0.001). Kept for the grid: experiment.json, status.json and
variants/variants.json. Runs of repeats beyond the grid's ``repeats`` are left out. Weights,
checkpoints and feature stores stay behind.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import numpy as np

from quadpred.files import atomic_path

RUN_FILES = ("config.json", "summary.json", "history.json", "history.csv", "metrics.json")


def keep_predictions(source: Path, target: Path) -> None:
    with np.load(source) as data:
        arrays = {name: data[name].astype(np.float16) if name.startswith("p_") else data[name] for name in data.files}
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    if args.target.exists():
        shutil.rmtree(args.target)
    for name in ("experiment.json", "status.json", "variants/variants.json"):
        if (args.runs / name).is_file():
            (args.target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(args.runs / name, args.target / name)
    repeats = json.loads((args.runs / "experiment.json").read_text())["repeats"]
    for part in ("pretrain", "transfer"):
        for config in sorted((args.runs / part).rglob("config.json")):
            relative = config.parent.relative_to(args.runs)
            repeat = next(int(m.group(1)) for name in relative.parts if (m := re.fullmatch(r"r(\d+)", name)))
            if repeat >= repeats:  # a later repeat begun but outside the grid's repeats
                continue
            folder = args.target / relative
            folder.mkdir(parents=True, exist_ok=True)
            for name in RUN_FILES:
                if (config.parent / name).is_file():
                    shutil.copy2(config.parent / name, folder / name)
            if (config.parent / "predictions_test.npz").is_file():
                keep_predictions(config.parent / "predictions_test.npz", folder / "predictions_test.npz")
    size = sum(p.stat().st_size for p in args.target.rglob("*") if p.is_file()) / 1e6
    print(f"{args.target}: {size:.1f} MB")


if __name__ == "__main__":
    main()
