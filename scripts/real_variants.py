"""Variants of the real grid's eng2eng SCAE model, tried toward the song-level target
(issue "Real recordings", point 6). Each variant changes one thing and starts from the grid's
own models, so it is compared with the grid's run of the same repeat:

- ``songpool``: the grid's full model unchanged; a linear song classifier on the mean and spread
  of its trunk outputs over each song (songpool.py) instead of averaging chunk probabilities.
- ``sampler``: the full stage with balanced batches (train.balance=sampler) instead of class weights.
- ``specaugment``: the full stage with band and span masking of its inputs (augment.py).
- ``tune``: the full stage's lr and lr decay searched by Optuna (``--trials`` runs) on the
  validation loss; each trial 1 epoch (the grid's full stages were all best after their first).
- ``pretrain-long``: the English SCAE pretrained for ``--pretrain-epochs`` epochs (the grid: 4)
  and kept as it is after the last (the speech validation split is left out: its denoising loss is
  lowest after epoch 3, so early stopping would give back the grid's encoder), once, then both
  transfer stages as in the grid.
- ``cell-ensemble`` (no training; over all repeats at once): the grid's cells, each the mean of its
  repeats' song probabilities, combined by greedy forward selection with replacement (Caruana et
  al., ICML 2004) on the validation song-level log-loss (smoother than F on 67 songs), stopping
  when no cell lowers it.

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

import numpy as np
from sklearn.metrics import f1_score, log_loss

from quadpred.config import RunConfig
from quadpred.evaluate import SplitPredictions
from quadpred.experiment import load_experiment
from quadpred.layout import Setting, transfer_folder
from quadpred.manifest import read_manifest
from quadpred.metrics import song_level
from quadpred.modeldir import write_json
from quadpred.report import find_runs
from quadpred.songpool import fit_song_classifier, song_sets
from quadpred.stages import pretrain, transfer, transfer_stages, tuned
from quadpred.store import FeatureStore

VARIANTS = ("songpool", "sampler", "specaugment", "tune", "pretrain-long", "cell-ensemble")
MAX_ENSEMBLE = 20  # members of the cell ensemble, repeats of a cell counted
TRAIN_CHANGES = {"sampler": {"balance": "sampler"}, "specaugment": {"augment": "specaugment"},
                 "tune": {"epochs": 1}}


def song_f1(metrics: dict, split: str) -> float:
    return metrics[split]["song"]["quadrant"]["f1"]


def song_quadrant_probabilities(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(songs, 4) mean chunk probabilities, (songs,) labels and the song ids of a run's split."""
    predictions = SplitPredictions.load(folder / f"predictions_{split}.npz")
    probabilities, truth = song_level(predictions.probabilities["quadrant"], predictions.chunk_clip,
                                      predictions.targets[:, 0])
    ids = [predictions.clip_ids[i] for i in np.unique(predictions.chunk_clip)]
    return probabilities / probabilities.sum(axis=1, keepdims=True), truth, ids  # bf16 sums drift from 1


def cell_ensemble(runs_dir: Path) -> dict:
    """Greedy forward selection with replacement of the grid's cells (each the mean of its repeats'
    song probabilities) on the validation song log-loss; validation and test song F of the result."""
    config, _ = load_experiment(runs_dir / "experiment.json")
    runs, _ = find_runs(runs_dir, config)
    cells: dict[str, dict[str, list]] = {}
    labels: dict[str, tuple[np.ndarray, list[str]]] = {}
    for run in runs:
        name = f"{run.setting} {run.method}"
        for split in ("valid", "test"):
            probabilities, truth, ids = song_quadrant_probabilities(run.folder, split)
            if labels.setdefault(split, (truth, ids))[1] != ids:
                raise SystemExit(f"{run.folder}: its {split} songs differ from the other runs'")
            cells.setdefault(name, {}).setdefault(split, []).append(probabilities)
    means = {name: {split: np.mean(p, axis=0) for split, p in by_split.items()} for name, by_split in cells.items()}

    def loss(members: list[str]) -> float:
        return log_loss(labels["valid"][0], np.mean([means[m]["valid"] for m in members], axis=0), labels=range(4))

    chosen: list[str] = []
    while len(chosen) < MAX_ENSEMBLE:
        best = min(means, key=lambda name: loss(chosen + [name]))
        if chosen and loss(chosen + [best]) >= loss(chosen):
            break
        chosen.append(best)
    scores = {split: float(f1_score(labels[split][0], np.mean([means[m][split] for m in chosen], axis=0).argmax(axis=1),
                                    average="macro")) for split in ("valid", "test")}
    return {**scores, "cells": chosen, "valid_log_loss": loss(chosen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, help="output folder of `quadpred experiment --preset real`")
    parser.add_argument("--repeats", type=int, nargs="+", default=[0], help="grid repeats to start from")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--trials", type=int, default=3, help="Optuna trials of the tune variant")
    parser.add_argument("--pretrain-epochs", type=int, default=16, help="epochs of the pretrain-long variant")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    grid, _ = load_experiment(args.runs / "experiment.json")
    music = read_manifest(args.runs / "manifests" / "music_eng.jsonl")
    store = FeatureStore.open(grid.features_root, grid.features)
    base_run = grid.transfer
    out = args.runs / "variants"
    results_path = out / "variants.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if "cell-ensemble" in args.variants:
        results["cell-ensemble"] = {"all": cell_ensemble(args.runs)}
        write_json(results_path, results)
        print(f"cell ensemble {results['cell-ensemble']['all']}")
    for repeat in args.repeats:
        cell = args.runs / transfer_folder(Setting("eng", "eng"), "scae", repeat)
        grid_metrics = json.loads((cell / "full" / "metrics.json").read_text())
        results.setdefault("grid", {})[str(repeat)] = {"valid": song_f1(grid_metrics, "valid"),
                                                       "test": song_f1(grid_metrics, "test")}
        run = dataclasses.replace(base_run, train=dataclasses.replace(base_run.train, seed=grid.seed + repeat))
        for variant in [v for v in args.variants if v != "cell-ensemble"]:
            folder = out / variant / f"r{repeat}"
            if variant == "songpool":
                sets = song_sets(cell / "full", store, music, device=args.device)
                classifier = fit_song_classifier(sets["train"], sets["valid"], seed=repeat)
                metrics = {split: classifier.predictions(sets[split]).report() for split in ("valid", "test")}
                metrics["weight_decay"] = classifier.weight_decay
                folder.mkdir(parents=True, exist_ok=True)
                write_json(folder / "metrics.json", metrics)
            elif variant == "pretrain-long":
                encoder = out / variant / "pretrain"
                long_pretraining = grid.pretrain
                long_pretraining = dataclasses.replace(long_pretraining, train=dataclasses.replace(
                    long_pretraining.train, seed=grid.seed, epochs=args.pretrain_epochs))
                speech = [c for c in read_manifest(args.runs / "manifests" / "speech_eng.jsonl") if c.split == "train"]
                pretrain(speech, store, encoder, method="scae", run=long_pretraining, device=args.device, progress=False)
                transfer_stages(music, store, folder, encoder=encoder, run=run, device=args.device, progress=False)
                metrics = json.loads((folder / "full" / "metrics.json").read_text())
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
