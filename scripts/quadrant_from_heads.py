"""The quadrant from the arousal and valence heads too (a product of experts): each held-out
song's quadrant probabilities p(Q) are combined with those its arousal and valence heads imply,
p(A of Q) p(V of Q), as p(Q)^(1-w) (p(A) p(V))^w, renormalised, for several weights w (0: the
quadrant head alone, what `quadpred predict` reports; 1: the two binary heads alone). Reads the
fold models' kept chunk predictions (`fold<k>/<stage>/predictions_test.npz`); trains nothing.

    python scripts/quadrant_from_heads.py CV_DIR [CV_DIR ...] [--weights 0 0.25 0.5 0.75 1]

One row per weight for each cross-validation and for the mean of all of them (their ensemble),
and each weight's paired difference to w = 0 on the ensemble's songs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from quadpred.crossval import FoldSongs, held_out_predictions, held_out_songs, mean_songs, paired_songs, pool
from quadpred.evaluate import SplitPredictions
from quadpred.labels import QUADRANTS, TASKS, arousal_of, valence_of
from quadpred.metrics import song_level

AROUSAL_OF = np.array([arousal_of(q) for q in QUADRANTS])  # (4,) index of each quadrant's arousal class
VALENCE_OF = np.array([valence_of(q) for q in QUADRANTS])


def combined_songs(predictions: SplitPredictions, weight: float) -> FoldSongs:
    """A fold's held-out songs with the quadrant head's song means (songs, 4) combined with the
    arousal and valence heads' (songs, 2) each, as p(Q)^(1-w) (p(A) p(V))^w, renormalised."""
    quadrant = held_out_songs(predictions)  # the quadrant head's song means, as every cross-validation scores them
    arousal, valence = (song_level(predictions.probabilities[task], predictions.chunk_clip,
                                   predictions.targets[:, list(TASKS).index(task)])[0] for task in ("arousal", "valence"))
    implied = arousal[:, AROUSAL_OF] * valence[:, VALENCE_OF]
    combined = np.clip(quadrant.probabilities, 1e-7, 1) ** (1 - weight) * np.clip(implied, 1e-7, 1) ** weight
    return FoldSongs(quadrant.ids, combined / combined.sum(axis=1, keepdims=True), quadrant.targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="finished `quadpred cv` folders of network methods")
    parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0],
                        help="weights w of the binary heads (default 0 0.25 0.5 0.75 1)")
    args = parser.parse_args()
    weights = [0.0, *[w for w in args.weights if w != 0.0]]
    songs: dict[float, list[FoldSongs]] = {w: [] for w in weights}
    print("| cross-validation | w | pooled song F | song log-loss |\n|---|---|---|---|")
    for folder in args.folders:
        kept = held_out_predictions(folder)
        for weight in weights:
            pooled = pool([combined_songs(p, weight) for p in kept])
            songs[weight].append(pooled)
            scores = pooled.scores()
            print(f"| {folder.name} | {weight:g} | {scores['song_f1']:.3f} | {scores['song_loss']:.3f} |")
    if any(part.ids != songs[0.0][0].ids for parts in songs.values() for part in parts):
        raise SystemExit("the cross-validations hold different songs or orders: give folders of the same folds")
    ensembles = {w: mean_songs(parts) for w, parts in songs.items()}
    for weight, ensemble in ensembles.items():
        scores = ensemble.scores()
        print(f"| the mean of the {len(args.folders)} | {weight:g} | {scores['song_f1']:.3f} | {scores['song_loss']:.3f} |")
    print()
    for weight in weights[1:]:
        test = paired_songs(ensembles[weight], ensembles[0.0])
        print(f"- the mean of the {len(args.folders)}, w {weight:g} - w 0: {test['difference']:+.3f} (95 % paired song "
              f"bootstrap {test['ci95'][0]:+.3f} to {test['ci95'][1]:+.3f}, p = {test['p_value']:.2f})")


if __name__ == "__main__":
    main()
