"""Overlapping chunks at scoring time (crossval.rescored_songs): the kept fold models of network
cross-validations score their held-out songs again with the chunks taken every HOP frames, and
each song is the mean of its chunks' probabilities, as `quadpred predict` makes it.

    python scripts/scoring_hop.py CV_DIR [CV_DIR ...] --manifest MANIFEST --features STORE --hops 15 8

One row per cross-validation and hop (the prediction hop first, checked against the run's own
songs.npz), the mean of all the cross-validations' songs (their ensemble) per hop, and each hop's
paired difference to the prediction hop on the same songs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="finished `quadpred cv` folders of network methods")
    parser.add_argument("--manifest", nargs="+", required=True, help="the manifest(s) they were cross-validated on")
    parser.add_argument("--features", required=True, help="the feature store root")
    parser.add_argument("--hops", nargs="+", type=int, required=True, help="scoring hops in frames (31: one second)")
    args = parser.parse_args()

    import numpy as np

    from quadpred.crossval import FoldSongs, fold_songs_path, mean_songs, paired_songs, pool, rescored_songs
    from quadpred.manifest import read_manifest
    from quadpred.store import FeatureStore

    clips = [clip for manifest in args.manifest for clip in read_manifest(manifest)]
    store = FeatureStore.open(args.features, kind="logmel")
    hops: list[int | None] = [None, *args.hops]
    songs: dict[int | None, list[FoldSongs]] = {hop: [] for hop in hops}  # per hop: each folder's pooled songs
    print("| cross-validation | scoring hop (frames) | pooled song F | song log-loss |\n|---|---|---|---|")
    for folder in args.folders:
        for hop in hops:
            folds = rescored_songs(folder, clips, store, hop_frames=hop)
            if hop is None:
                for fold, rescored in enumerate(folds):
                    kept = FoldSongs.load(fold_songs_path(folder, fold))
                    if kept.ids != rescored.ids or not np.allclose(kept.probabilities, rescored.probabilities, atol=1e-4):
                        raise SystemExit(f"{folder} fold {fold}: its kept songs differ from its models' at the "
                                         "prediction hop; the models are not the ones that were scored")
            pooled = pool(folds)
            songs[hop].append(pooled)
            scores = pooled.scores()
            print(f"| {folder.name} | {hop or 'prediction hop'} | {scores['song_f1']:.3f} | {scores['song_loss']:.3f} |",
                  flush=True)
    if any(part.ids != songs[None][0].ids for parts in songs.values() for part in parts):
        raise SystemExit("the cross-validations hold different songs or orders: give folders of the same folds")
    ensembles = {hop: mean_songs(parts) for hop, parts in songs.items()}
    for hop, ensemble in ensembles.items():
        scores = ensemble.scores()
        print(f"| the mean of the {len(args.folders)} | {hop or 'prediction hop'} | {scores['song_f1']:.3f} | "
              f"{scores['song_loss']:.3f} |")
    print()
    for hop in args.hops:
        for name, first, second in [(f.name, songs[hop][i], songs[None][i]) for i, f in enumerate(args.folders)] + \
                [(f"the mean of the {len(args.folders)}", ensembles[hop], ensembles[None])]:
            test = paired_songs(first, second)
            print(f"- {name}, hop {hop} - prediction hop: {test['difference']:+.3f} (95 % paired song bootstrap "
                  f"{test['ci95'][0]:+.3f} to {test['ci95'][1]:+.3f}, p = {test['p_value']:.2f})")


if __name__ == "__main__":
    main()
