"""Variants of the real grid's eng2eng SCAE model, tried toward the song-level target
(issue "Real recordings", point 6). Each variant changes one thing and starts from the grid's
own models, so it is compared with the grid's run of the same repeat:

- ``songpool``: the grid's full model unchanged; a linear song classifier on the mean and spread
  of its trunk outputs over each song (songpool.py) instead of averaging chunk probabilities.
- ``sampler``: the full stage with balanced batches (train.balance=sampler) instead of class weights.
- ``specaugment``: the full stage with band and span masking of its inputs (augment.py).
- ``tune``: the full stage's lr and lr decay searched by Optuna (``--trials`` runs) on the
  validation loss; each trial 1 epoch (the grid's full stages were all best after their first).

    python scripts/real_variants.py RUNS_DIR [--repeats 0 1] [--variants songpool sampler ...]

RUNS_DIR is the output of `quadpred experiment --preset real`. Writes RUNS_DIR/variants/<variant>/r<k>/
and RUNS_DIR/variants/variants.json: validation and test song-level quadrant F of each variant
beside the grid's run (variants are to be chosen on validation, never on test).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from quadpred.config import FeatureConfig, RunConfig, from_dict
from quadpred.manifest import read_manifest
from quadpred.modeldir import write_json
from quadpred.songpool import fit_song_classifier, song_sets
from quadpred.stages import transfer, tuned
from quadpred.store import FeatureStore

VARIANTS = ("songpool", "sampler", "specaugment", "tune")
TRAIN_CHANGES = {"sampler": {"balance": "sampler"}, "specaugment": {"augment": "specaugment"},
                 "tune": {"epochs": 1}}


def song_f1(metrics: dict, split: str) -> float:
    return metrics[split]["song"]["quadrant"]["f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, help="output folder of `quadpred experiment --preset real`")
    parser.add_argument("--repeats", type=int, nargs="+", default=[0], help="grid repeats to start from")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--trials", type=int, default=3, help="Optuna trials of the tune variant")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    grid = json.loads((args.runs / "experiment.json").read_text())
    music = read_manifest(args.runs / "manifests" / "music_eng.jsonl")
    store = FeatureStore.open(grid["features_root"], from_dict(FeatureConfig, grid["features"], where="features"))
    base_run = from_dict(RunConfig, grid["transfer"], where="experiment transfer")
    out = args.runs / "variants"
    results_path = out / "variants.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for repeat in args.repeats:
        cell = args.runs / "transfer" / "eng2eng" / "scae" / f"r{repeat}"
        grid_metrics = json.loads((cell / "full" / "metrics.json").read_text())
        results.setdefault("grid", {})[str(repeat)] = {"valid": song_f1(grid_metrics, "valid"),
                                                       "test": song_f1(grid_metrics, "test")}
        run = dataclasses.replace(base_run, train=dataclasses.replace(base_run.train, seed=grid["seed"] + repeat))
        for variant in args.variants:
            folder = out / variant / f"r{repeat}"
            if variant == "songpool":
                sets = song_sets(cell / "full", store, music, device=args.device)
                classifier = fit_song_classifier(sets["train"], sets["valid"], seed=repeat)
                metrics = {split: classifier.predictions(sets[split]).report() for split in ("valid", "test")}
                metrics["weight_decay"] = classifier.weight_decay
                folder.mkdir(parents=True, exist_ok=True)
                write_json(folder / "metrics.json", metrics)
            else:
                changes = TRAIN_CHANGES.get(variant, {})
                variant_run = dataclasses.replace(run, train=dataclasses.replace(run.train, **changes))

                def train(config: RunConfig, target: Path) -> object:
                    return transfer(music, store, target, stage="full", init=cell / "feat-ext", run=config,
                                    device=args.device, progress=False)

                tuned(train, variant_run, folder, trials=args.trials if variant == "tune" else 0, stage="full")
                metrics = json.loads((folder / "metrics.json").read_text())
            results.setdefault(variant, {})[str(repeat)] = {"valid": song_f1(metrics, "valid"),
                                                            "test": song_f1(metrics, "test")}
            write_json(results_path, results)
            print(f"r{repeat} {variant}: song quadrant F valid {results[variant][str(repeat)]['valid']:.3f} "
                  f"test {results[variant][str(repeat)]['test']:.3f} (grid: valid "
                  f"{results['grid'][str(repeat)]['valid']:.3f}, test {results['grid'][str(repeat)]['test']:.3f})")


if __name__ == "__main__":
    main()
