"""Scoring trained models: a transfer model's probabilities for every 1-s chunk of a split, kept
as ``predictions_<split>.npz`` (for song-level scores and bootstraps without retraining), and
metrics.json. Read by stages (after a transfer), report, songpool and crossval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .batches import Batches
from .device import infer, resolve_device
from .errors import ModelDirError, TrainingError
from .featurekinds import chunking
from .files import atomic_path
from .labels import TASKS
from .manifest import Clip, check_leakage, split_of
from .methods import TRANSFER_KINDS
from .metrics import task_report
from .modeldir import configs_of, write_json
from .store import ChunkDataset, FeatureStore


def require_quadrants(clips: Sequence[Clip]) -> None:
    """TrainingError unless every clip has a quadrant label."""
    unlabelled = [c.id for c in clips if c.quadrant is None]
    if unlabelled:
        raise TrainingError(f"transfer needs a quadrant label on every clip; {len(unlabelled)} have none "
                            f"(first: {unlabelled[0]}): give a labelled music manifest")


def chunk_probabilities(model: nn.Module, dataset: ChunkDataset, device: torch.device,
                        batch_size: int = 256, *, precision: str = "fp32") -> dict[str, np.ndarray]:
    """{task: (chunks, classes)} softmax probabilities of every chunk of ``dataset``."""
    model.eval().to(device, memory_format=torch.channels_last)
    inputs = (x for x, _, _ in Batches(dataset, batch_size).epoch(0))
    probabilities = infer(model.probabilities, inputs, device, precision=precision)
    return probabilities or {task: np.zeros((0, len(names)), dtype=np.float32) for task, names in TASKS.items()}


@dataclass
class SplitPredictions:
    """A model's chunk probabilities on one split, kept for song-level scores and bootstraps.

    probabilities: {task: (chunks, classes)}; targets: (chunks, 3); chunk_clip: (chunks,) index
    into ``clip_ids`` (one per song).
    """

    probabilities: dict[str, np.ndarray]
    targets: np.ndarray
    chunk_clip: np.ndarray
    clip_ids: list[str]

    def report(self) -> dict:
        return task_report(self.probabilities, self.targets, self.chunk_clip)

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, targets=self.targets, chunk_clip=self.chunk_clip,
                                clip_ids=np.array(self.clip_ids), **{f"p_{t}": p for t, p in self.probabilities.items()})

    @classmethod
    def load(cls, path: str | Path) -> SplitPredictions:
        with np.load(path) as data:
            return cls({t: data[f"p_{t}"] for t in TASKS}, data["targets"], data["chunk_clip"],
                       [str(c) for c in data["clip_ids"]])


def scoring_chunks(store: FeatureStore, info: dict[str, Any], clips: Sequence[Clip], split: str, *,
                   hop_frames: int | None = None) -> ChunkDataset:
    """The predictor's chunks (1-s hop, or every ``hop_frames`` frames) of one labelled split, for
    the model described by ``info``."""
    part = split_of(clips, split)
    require_quadrants(part)
    steps, _, hop = chunking(store.config, configs_of(info)[0])
    return ChunkDataset(store, part, hop_frames=hop_frames or hop, chunk_frames=steps)


def split_predictions(model: nn.Module, dataset: ChunkDataset, device: torch.device) -> SplitPredictions:
    """``model``'s probabilities for every chunk of ``dataset``, with the chunks' targets and songs."""
    return SplitPredictions(chunk_probabilities(model, dataset, device), dataset.targets.numpy(),
                            dataset.clip_of_chunk(), [c.id for c in dataset.clips])


def predict_split(model_dir: str | Path, store: FeatureStore, clips: Sequence[Clip], *, split: str = "test",
                  device: str = "auto") -> SplitPredictions:
    """Probabilities of a transfer model for every 1-s chunk (the predictor's hop) of one split.

    Refuses to score when a group (song, artist, speaker) lies in two splits."""
    from .modeldir import load_model

    check_leakage(clips)
    store.check_distinct_audio(clips)
    model, info = load_model(model_dir)
    if info["kind"] not in TRANSFER_KINDS:
        raise ModelDirError(f"{model_dir} is a {info['kind']} model; evaluate a transfer model")
    return split_predictions(model, scoring_chunks(store, info, clips, split), resolve_device(device))


def score_splits(folder: Path, store: FeatureStore, clips: Sequence[Clip], *, device: str = "auto") -> dict:
    """predictions_<split>.npz for valid and test, then metrics.json (written last: the marker)."""
    metrics = {}
    for split in ("valid", "test"):
        if split_of(clips, split):
            predictions = predict_split(folder, store, clips, split=split, device=device)
            predictions.save(folder / f"predictions_{split}.npz")
            metrics[split] = predictions.report()
    write_json(folder / "metrics.json", metrics)
    return metrics
