"""The cross-validation comparison of docs/results.md: one row per `quadpred cv` folder (same
folds), and each folder's summaries kept in docs/results/cv/<name>/ (cv.json, cv.md, folds.json, and
fold<k>/songs.npz, the held-out songs' probabilities, so that fusions of kept folders can be rescored).

    python scripts/cv_table.py CV_DIR [CV_DIR ...] [--keep docs/results/cv] [--fuse A B ...] [--stack A B ...]

``--fuse A B ...``: a row for the late fusion of folders (the mean of their out-of-fold song
probabilities, crossval.fuse); ``--stack A B ...``: a row for their stacked fusion (a logistic
regression on their log-probabilities fitted on the other folds, crossval.stack).
``--paired A B`` (repeatable): a line with the pooled F of A minus that of B, its paired
song-bootstrap interval and p-value (crossval.paired), and the p-value Holm-adjusted over all the
``--paired`` comparisons of the call (one family of tests). A or B may be a fusion: folders joined
by '+' (their mean), each with an optional ':weight' (cv/scae-full-new:3+cv/baseline-new:2).
``--nested-fusion A B ...``: a row for choosing the mean of up to ``--nested-size`` (default 2)
of these folders by cross-validation, estimated honestly: each fold is scored with the subset
that the other folds' songs chose (crossval.nested_fusion); the picks are printed below the table.
``--offsets A B ...``: two rows for the mean of the folders with a per-class offset on the
log-probabilities chosen on the other folds (fitted to their macro F; matched to their mean
class probabilities), crossval.class_offsets.
``--log-mean DIR``: a row for a network folder with its songs aggregated by the mean of the
chunks' log-probabilities (crossval.reaggregate).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def row(folder: Path) -> str:
    return summary_row(folder.name, json.loads((folder / "cv.json").read_text()))


def summary_row(name: str, summary: dict) -> str:
    pooled = summary["pooled"]
    low, high = pooled["song_f1_interval"]
    epochs = [f.get("best_epoch") for f in summary["folds"] if f.get("best_epoch")]
    averaged = (summary.get("recipe") or {}).get("train", {}).get("average_last")
    kept = "- (averaged)" if averaged else ", ".join(map(str, epochs)) or "-"  # averaged weights choose no epoch
    cost = summary["seconds"] + summary.get("features_seconds", 0.0)
    return (f"| {name} | {summary['song_f1_mean']:.3f} ({summary['song_f1_sd']:.3f}) | "
            f"{pooled['song_f1']:.3f} ({low:.3f}-{high:.3f}) | {summary['song_loss_mean']:.3f} | "
            f"{kept} | {cost / 60:.0f} |")


def main() -> None:
    from quadpred.crossval import class_offsets, fuse, nested_fusion, paired, parse_fusion, reaggregate, stack
    from quadpred.metrics import holm

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--keep", type=Path, help="copy each folder's summaries and out-of-fold songs below this folder")
    parser.add_argument("--fuse", nargs="+", type=Path, action="append", default=[], metavar="DIR",
                        help="add the late fusion (mean) of these cross-validation folders")
    parser.add_argument("--stack", nargs="+", type=Path, action="append", default=[], metavar="DIR",
                        help="add the stacked fusion (logistic regression) of these folders")
    parser.add_argument("--offsets", nargs="+", type=Path, action="append", default=[], metavar="DIR",
                        help="add the mean of these folders with per-class offsets fitted, and prior-matched, on "
                             "the other folds")
    parser.add_argument("--log-mean", type=Path, action="append", default=[], metavar="DIR",
                        help="add a network folder with songs aggregated by the mean of log-probabilities")
    parser.add_argument("--nested-fusion", nargs="+", type=Path, metavar="DIR",
                        help="add the nested estimate of choosing a fusion of these folders by cross-validation")
    parser.add_argument("--nested-size", type=int, default=2, help="the most methods in a chosen fusion (default 2)")
    parser.add_argument("--paired", nargs=2, type=parse_fusion, action="append", default=[], metavar=("A", "B"),
                        help="print the paired difference of pooled F between two folders or fusions (A+B, A:3+B:2)")
    args = parser.parse_args()
    folds = {json.dumps(json.loads((f / "folds.json").read_text()), sort_keys=True) for f in args.folders}
    if len(folds) != 1:
        parser.error("the folders were cross-validated on different folds: compare like with like")
    print("| method | song F, mean over folds (sd) | pooled out-of-fold F (95 % interval) | song log-loss | "
          "best epoch per fold | cost (CPU min) |")
    print("|---|---|---|---|---|---|")
    for folder in args.folders:
        print(row(folder))
        if args.keep:
            target = args.keep / folder.name
            target.mkdir(parents=True, exist_ok=True)
            for name in ("cv.json", "cv.md", "folds.json", "method.json"):  # method.json: recipe, validation share
                if (folder / name).is_file():
                    shutil.copy2(folder / name, target / name)
            # the out-of-fold songs (a few kB a fold), so that fusions of kept folders can be rescored
            for songs in sorted(folder.glob("fold*/songs.npz")):
                (target / songs.parent.name).mkdir(exist_ok=True)
                shutil.copy2(songs, target / songs.parent.name / "songs.npz")
    for folder in args.log_mean:
        print(summary_row(f"{folder.name}, songs by mean log-probability", reaggregate(folder, "log-mean")))
    for group in args.fuse:
        print(summary_row("fusion (mean): " + " + ".join(f.name for f in group), fuse(group)))
    for group in args.stack:
        print(summary_row("fusion (stacked): " + " + ".join(f.name for f in group), stack(group)))
    for group in args.offsets:
        for how in ("fitted", "prior"):
            print(summary_row(f"class offsets ({how}): " + " + ".join(f.name for f in group),
                              class_offsets(group, how=how)))
    if args.nested_fusion:
        nested = nested_fusion(args.nested_fusion, max_size=args.nested_size)
        print(summary_row(f"fusion chosen by cross-validation (nested; up to {args.nested_size} of "
                          f"{len(args.nested_fusion)} methods)", nested))
        print(f"\n- nested choice per held-out fold: {'; '.join(' + '.join(p) for p in nested['chosen'])}; "
              f"on all folds: {' + '.join(nested['chosen_on_all'])}")
    if args.paired:
        print()
    tests = [paired(a, b) for a, b in args.paired]
    for test, p_holm in zip(tests, holm([t["p_value"] for t in tests]), strict=True):
        low, high = test["ci95"]
        print(f"- {test['a']} - {test['b']}: pooled F {test['difference']:+.3f} "
              f"(95 % paired song bootstrap {low:+.3f} to {high:+.3f}, p = {test['p_value']:.2f}, "
              f"Holm over the {len(tests)} comparisons {p_holm:.2f})")


if __name__ == "__main__":
    main()
