"""Distillation: the soft targets a student network learns from teacher models (train.distil).

The teachers are transfer model directories trained on the student's training clips (in a
cross-validation, each fold's models of other runs: :func:`fold_teachers`); their probabilities
for every training chunk are computed once, averaged, and travel with the chunks in the
training batches (objectives.MultiTask reads them third).
"""

from __future__ import annotations

import json
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


def fold_teachers(cross_validations: Sequence[str | Path], fold: int, folds: dict[str, int], k: int,
                  seed: int) -> list[Path]:
    """The model directory of fold ``fold`` in each network cross-validation folder: trained on the
    same clips as the student's fold, which the folds (the same assignment) guarantee."""
    from .crossval import NETWORK_METHODS, stage_folder

    found = []
    for folder in map(Path, cross_validations):
        record_path, method_path = folder / "folds.json", folder / "method.json"
        if not record_path.is_file() or not method_path.is_file():
            raise TrainingError(f"teacher {folder} is not a cross-validation folder (no folds.json, method.json): "
                                "give the -o folder of a `quadpred cv` run")
        record = json.loads(record_path.read_text())
        method = json.loads(method_path.read_text())["method"]
        if method not in NETWORK_METHODS:
            raise TrainingError(f"teacher {folder} cross-validated {method}, which keeps no fold models: "
                                "teach with a network's cross-validation")
        if (record["k"], record["seed"], record["folds"]) != (k, seed, folds):
            raise TrainingError(f"teacher {folder} has other folds than this cross-validation (clips, --folds "
                                "or --seed differ): its fold models would have seen the held-out songs")
        model_dir = stage_folder(folder / f"fold{fold}", NETWORK_METHODS[method])
        if not (model_dir / "weights.pt").is_file():
            raise TrainingError(f"teacher {model_dir} holds no trained model: finish that cross-validation first")
        found.append(model_dir)
    return found
