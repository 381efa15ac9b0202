"""Learning curves of cross-validated methods (docs/results.md, "Learning curve"): the pooled
out-of-fold song F against the clips a fold model learnt from, fitted as a + b log2(n), and
where each fit reaches its target.

    python scripts/learning_curve.py MANIFEST --curve NAME TARGET FUSION [FUSION ...] [--curve ...] \
        [--mark CLIPS LABEL] [-o figure.png]

Each FUSION is one point: a `quadpred cv` folder run with `--train-fraction`, or folders joined by
'+' (the mean of their song probabilities: e.g. two training seeds at one share; A:3+B:2 weights them). MANIFEST is the
labelled music manifest the folders were cross-validated on (it gives the clips per fold).
``--mark CLIPS LABEL`` draws a vertical line (e.g. what all of a corpus would give a fold model).
Prints a markdown table of the points and one line per fit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from quadpred.crossval import parse_fusion, pooled_interval
from quadpred.learningcurve import CurvePoint, Fit, curve_points, fit_curve
from quadpred.manifest import read_manifest


def describe(fit: Fit) -> str:
    reach = "never (the fit does not rise)" if not np.isfinite(fit.clips_at_target) else f"{fit.clips_at_target:.0f}"
    low, high = (f"{v:.0f}" if np.isfinite(v) else "never" for v in fit.interval)
    return (f"F = {fit.intercept:.3f} + {fit.slope:.3f} log2(n) (+{fit.slope:.3f} a doubling); reaches "
            f"{fit.target:.3f} at n = {reach} clips (95 % song bootstrap: {low} to {high})")


def draw(curves: list[tuple[str, list[CurvePoint], Fit]], marks: list[tuple[float, str]], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.8), constrained_layout=True)
    reach = [f.clips_at_target for _, _, f in curves if np.isfinite(f.clips_at_target)]
    right = max([*reach, *(c for c, _ in marks), *(p.clips for _, points, _ in curves for p in points)]) * 1.3
    for (name, points, fit), colour in zip(curves, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        clips = np.array([p.clips for p in points])
        scores = np.array([p.songs.scores()["song_f1"] for p in points])
        bounds = np.array([pooled_interval(p.songs) for p in points])
        axes.errorbar(clips, scores, yerr=[scores - bounds[:, 0], bounds[:, 1] - scores], fmt="o", color=colour,
                      capsize=3, label=name)
        line = np.geomspace(clips.min(), right, 100)
        axes.plot(line, fit.at(line), color=colour, lw=1.2)
        axes.axhline(fit.target, color=colour, ls=":", lw=1)
        if np.isfinite(fit.clips_at_target):
            axes.plot([fit.clips_at_target], [fit.target], marker="x", color=colour, ms=9)
    for clips, label in marks:
        axes.axvline(clips, color="0.4", ls="--", lw=1)
        axes.annotate(label, (clips, axes.get_ylim()[0]), rotation=90, va="bottom", ha="right", fontsize=8,
                      color="0.3", xytext=(-3, 4), textcoords="offset points")
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:.0f}"))
    axes.set_xlabel("clips a fold model learns from (log scale)")
    axes.set_ylabel("pooled out-of-fold song macro F")
    axes.set_title("Learning curves on the same held-out songs (dotted: each curve's target, x: where its fit meets it)",
                   fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path, help="the labelled music manifest the folders were cross-validated on")
    parser.add_argument("--curve", nargs="+", action="append", required=True, metavar="NAME TARGET FUSION",
                        help="a curve: its name, its target song F, then one fusion per training fraction")
    parser.add_argument("--mark", nargs=2, action="append", default=[], metavar=("CLIPS", "LABEL"),
                        help="a vertical line at CLIPS, labelled")
    parser.add_argument("-o", "--output", type=Path, help="the figure (PNG)")
    args = parser.parse_args()
    clips = read_manifest(args.manifest)
    curves = []
    print("| curve | point | clips a fold model learns from | pooled song F (95 % interval) |")
    print("|---|---|---|---|")
    for name, target, *fusions in args.curve:
        if len(fusions) < 2:
            raise SystemExit(f"curve {name!r}: give its target and at least two points (one per training fraction)")
        points = curve_points(clips, [parse_fusion(text) for text in fusions])
        for point in points:
            low, high = pooled_interval(point.songs)
            print(f"| {name} | {point.name} | {point.clips:.0f} | {point.songs.scores()['song_f1']:.3f} "
                  f"({low:.3f}-{high:.3f}) |")
        curves.append((name, points, fit_curve(points, float(target))))
    for name, _, fit in curves:
        print(f"- {name}: {describe(fit)}")
    if args.output:
        draw(curves, [(float(c), label) for c, label in args.mark], args.output)
        print(f"figure: {args.output}")


if __name__ == "__main__":
    main()
