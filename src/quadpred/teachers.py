"""Distillation: the soft targets a student network learns from teacher models (train.distil).

The teachers are transfer model directories trained on the student's training clips (in a
cross-validation, each fold's models of other runs: crossval.fold_teachers); their probabilities
for every training chunk are computed once, averaged, and travel with the chunks in the
training batches (objectives.MultiTask reads them third).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .errors import TrainingError
from .featurekinds import chunking
from .labels import TASKS
from .store import ChunkDataset, FeatureStore


def teacher_probabilities(teachers: Sequence[str | Path], dataset: ChunkDataset, store: FeatureStore,
                          device: torch.device, precision: str = "fp32") -> np.ndarray:
    """(chunks, classes of all tasks) the teachers' mean probabilities of every chunk of
    ``dataset`` (computed in ``precision``), tasks side by side in TASKS order (quadrant 4,
    arousal 2, valence 2)."""
    from .evaluate import chunk_probabilities
    from .methods import TRANSFER_KINDS
    from .modeldir import check_same_features, configs_of, load_model, read_config

    total = np.zeros((len(dataset), sum(len(names) for names in TASKS.values())), dtype=np.float64)
    for teacher in teachers:
        kind = read_config(teacher)["kind"]
        if kind not in TRANSFER_KINDS:
            raise TrainingError(f"teacher {teacher} is a {kind} model: a teacher is a transfer model "
                                "(a `transfer` or `cv` output)")
        model, info = load_model(teacher)
        model_config, features = configs_of(info)
        check_same_features(teacher, features, store)
        if chunking(store.config, model_config)[0] != dataset.chunk_frames:
            raise TrainingError(f"teacher {teacher} reads chunks of another length than the student: teach with "
                                "models of the same chunk settings")
        probabilities = chunk_probabilities(model, dataset, device, precision=precision)
        total += np.concatenate([probabilities[task] for task in TASKS], axis=1)
    return (total / len(teachers)).astype(np.float32)


class WithTeacherTargets:
    """A chunk dataset whose batches are (x, targets, teachers' probabilities): a Gatherable."""

    def __init__(self, dataset: ChunkDataset, probabilities: np.ndarray) -> None:
        if len(probabilities) != len(dataset):
            raise ValueError("one row of teachers' probabilities per chunk is needed")
        self.dataset = dataset
        self.probabilities = torch.from_numpy(probabilities)

    def __len__(self) -> int:
        return len(self.dataset)

    def gather(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        x, targets, _ = self.dataset.gather(indices)
        return x, targets, self.probabilities[torch.as_tensor(indices, dtype=torch.long)]
