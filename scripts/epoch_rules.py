"""How the choice of epoch moves the held-out score, on the same training runs (crossval.epoch_rules):
a network cross-validation run with `quadpred cv --keep-epochs` scored on its held-out songs with
every epoch's weights, each rule choosing from the validation history alone.

    python scripts/epoch_rules.py CV_DIR MANIFEST --features STORE

One row per rule (the epoch chosen per fold, mean and pooled song F, log-loss) and each rule's
paired difference to the rule the run used (song-loss), on the same 646 songs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a `quadpred cv --keep-epochs` folder of a network method")
    parser.add_argument("manifests", nargs="+", help="the manifest(s) it was cross-validated on")
    parser.add_argument("--features", required=True, help="the feature store root")
    args = parser.parse_args()

    from quadpred.crossval import EPOCH_RULES, epoch_rules, paired_songs, pool
    from quadpred.manifest import read_manifest
    from quadpred.store import FeatureStore

    clips = [clip for manifest in args.manifests for clip in read_manifest(manifest)]
    rules = epoch_rules(args.folder, clips, FeatureStore.open(args.features, kind="logmel"))
    numbers = next(iter(rules.values()))["fold_numbers"]
    print(f"folds scored: {', '.join(map(str, numbers))} (the finished ones)\n")
    print("| epoch chosen by | epoch per fold | song F, mean over folds (sd) | pooled F (95 % interval) | song log-loss |")
    print("|---|---|---|---|---|")
    for name, summary in rules.items():
        low, high = summary["pooled"]["song_f1_interval"]
        epochs = ", ".join(map(str, summary["epochs"])) if summary["epochs"] else "-"
        print(f"| {name} | {epochs} | {summary['song_f1_mean']:.3f} ({summary['song_f1_sd']:.3f}) | "
              f"{summary['pooled']['song_f1']:.3f} ({low:.3f}-{high:.3f}) | {summary['song_loss_mean']:.3f} |")
    print("\n| fold | song F by epoch: held-out (validation) |\n|---|---|")
    for fold, curve in zip(numbers, next(iter(rules.values()))["curves"]):
        cells = ", ".join(f"{h:.2f} ({v:.2f})" for h, v in zip(curve["held_out_f1"], curve["valid_f1"]))
        print(f"| {fold} | {cells} |")
    used = next(name for name in EPOCH_RULES if name.startswith("song-loss ("))
    songs = {name: pool(summary["songs"]) for name, summary in rules.items()}
    print()
    for name in rules:
        if name != used:
            test = paired_songs(songs[name], songs[used])
            print(f"- {name} - {used}: {test['difference']:+.3f} (95 % paired song bootstrap "
                  f"{test['ci95'][0]:+.3f} to {test['ci95'][1]:+.3f}, p = {test['p_value']:.2f})")


if __name__ == "__main__":
    main()
