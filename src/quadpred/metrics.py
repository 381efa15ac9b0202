"""Scores of predictions: macro precision / recall / F-score, accuracy, normalised confusion
matrices, at chunk level and song level (mean of a song's chunk probabilities).

Pure functions: arrays in, numbers out. Each task is scored on its own column of the targets
(the published code swapped the arousal and valence reports; tests guard against that).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from .labels import TASKS


def macro_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """Macro precision, recall, F-score over ``n_classes`` classes, and accuracy. (n,) ints each."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(n_classes)), average="macro", zero_division=0)
    accuracy = float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "accuracy": accuracy}


def normalised_confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes): row r is the distribution of predictions for true class r (rows
    of absent classes are 0)."""
    counts = confusion_matrix(y_true, y_pred, labels=list(range(n_classes))).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def song_level(probabilities: np.ndarray, songs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean chunk probabilities per song: (chunks, k), (chunks,), (chunks,) -> (songs, k), (songs,)."""
    order, index = np.unique(songs, return_inverse=True)
    sums = np.zeros((len(order), probabilities.shape[1]))
    np.add.at(sums, index, probabilities)
    counts = np.bincount(index, minlength=len(order))[:, None]
    song_targets = np.zeros(len(order), dtype=np.int64)
    song_targets[index] = targets
    return sums / counts, song_targets


def task_report(probabilities: Mapping[str, np.ndarray], targets: np.ndarray, songs: np.ndarray) -> dict:
    """Scores of every task at chunk and song level.

    probabilities: {task: (chunks, classes)}; targets: (chunks, 3) in TASKS order; songs: (chunks,).
    Returns {"chunk"|"song": {task: {precision, recall, f1, accuracy, confusion, support}}}.
    """
    report: dict[str, dict] = {"chunk": {}, "song": {}}
    for column, (task, names) in enumerate(TASKS.items()):
        chunk_probs, chunk_targets = probabilities[task], targets[:, column]
        song_probs, song_targets = song_level(chunk_probs, songs, chunk_targets)
        for level, probs, truth in (("chunk", chunk_probs, chunk_targets), ("song", song_probs, song_targets)):
            predicted = probs.argmax(axis=1)
            report[level][task] = {
                **macro_scores(truth, predicted, len(names)),
                "confusion": normalised_confusion(truth, predicted, len(names)).round(4).tolist(),
                "support": int(len(truth)),
            }
    return report
