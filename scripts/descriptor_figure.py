"""Which musical descriptors tell the quadrants apart: a Kruskal-Wallis H per descriptor over the
four quadrants, printed, and box plots of chosen descriptors by quadrant (docs/results.md).

    python scripts/descriptor_figure.py CV_ROOT/functionals-music.npz MANIFEST -o FIGURE.png

The .npz is the cache `quadpred cv --method music-svm|music-logreg` writes beside its folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from quadpred.labels import QUADRANTS
from quadpred.musicdescriptors import DESCRIPTORS

SHOWN = ("contrast_mean_1", "flatness_mean", "percussive_share", "onset_rate", "window_mode_mean", "log2_tempo")
TITLES = {"contrast_mean_1": "spectral contrast, band 2 (dB)", "flatness_mean": "spectral flatness",
          "percussive_share": "percussive share of energy", "onset_rate": "onsets per second",
          "window_mode_mean": "mode (major - minor key fit, 4-s windows)", "log2_tempo": "tempo (BPM)"}


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import kruskal

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    with np.load(args.cache) as saved:
        ids, values = [str(i) for i in saved["ids"]], saved["values"]
    cached = set(ids)
    quadrant = {row["id"]: row["labels"]["quadrant"]
                for row in map(json.loads, args.manifest.read_text().splitlines()) if row["id"] in cached}
    labels = np.array([quadrant[i] for i in ids])
    statistic = {name: kruskal(*(values[labels == q, j] for q in QUADRANTS))[0] for j, name in enumerate(DESCRIPTORS)}
    for rank, name in enumerate(sorted(statistic, key=statistic.get, reverse=True), 1):
        print(f"{rank:3d}  H {statistic[name]:6.1f}  {name}")
    figure, axes = plt.subplots(2, 3, figsize=(11, 6.5))
    for axis, name in zip(axes.flat, SHOWN):
        column = values[:, DESCRIPTORS.index(name)]
        groups = [2 ** column[labels == q] if name == "log2_tempo" else column[labels == q] for q in QUADRANTS]
        axis.boxplot(groups, showfliers=False)
        axis.set_xticks(range(1, len(QUADRANTS) + 1), QUADRANTS)
        axis.set_title(f"{TITLES[name]}\nKruskal-Wallis H {statistic[name]:.0f}", fontsize=9)
    figure.suptitle(f"Musical descriptors by quadrant, {len(ids)} 4Q-Emotion clips "
                    "(Q1 happy, Q2 tense, Q3 sad, Q4 calm)", fontsize=11)
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=110)
    print(f"figure: {args.output}")


if __name__ == "__main__":
    main()
