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

# the levels and measures of a task_report, in the order reports show them
LEVELS = ("chunk", "song")
MEASURES = ("precision", "recall", "f1", "accuracy")


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
    song_targets = np.zeros(len(order), dtype=np.int64)
    song_targets[index] = targets
    return group_means(probabilities, index, len(order)), song_targets


def group_means(values: np.ndarray, index: np.ndarray, groups: int) -> np.ndarray:
    """Mean of the rows of each group: (rows, k), (rows,) in [0, groups) -> (groups, k); every
    group must have a row."""
    sums = np.zeros((groups, values.shape[1]))
    np.add.at(sums, index, values)
    return sums / np.bincount(index, minlength=groups)[:, None]


def task_report(probabilities: Mapping[str, np.ndarray], targets: np.ndarray, songs: np.ndarray) -> dict:
    """Scores of every task at chunk and song level.

    probabilities: {task: (chunks, classes)}; targets: (chunks, 3) in TASKS order; songs: (chunks,).
    Returns {"chunk"|"song": {task: {precision, recall, f1, accuracy, confusion, support}}}.
    """
    report: dict[str, dict] = {level: {} for level in LEVELS}
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


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap values."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def paired_p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value that the paired difference is 0: twice the smaller tail."""
    below, above = np.mean(differences <= 0), np.mean(differences >= 0)
    return float(min(1.0, 2 * min(below, above)))


def cluster_confusions(y_true: np.ndarray, y_pred: np.ndarray, clusters: np.ndarray, n_clusters: int,
                       n_classes: int) -> np.ndarray:
    """(n_clusters, n_classes, n_classes) confusion counts contributed by each cluster (song).

    Summing the rows of a resample gives its confusion matrix at once, which makes a cluster
    bootstrap of thousands of resamples cost milliseconds rather than a metric call each.
    """
    flat = (clusters * n_classes + y_true) * n_classes + y_pred
    counts = np.bincount(flat, minlength=n_clusters * n_classes * n_classes)
    return counts.reshape(n_clusters, n_classes, n_classes).astype(np.float64)


def macro_f1_from_confusion(confusion: np.ndarray, *, present_only: bool = False) -> np.ndarray:
    """Macro F-score of (..., k, k) confusion counts (rows: truth), absent classes scoring 0 as in
    ``macro_scores``; with ``present_only`` the mean is over the classes each matrix's truth
    holds. (...,) values."""
    true_positive = np.diagonal(confusion, axis1=-2, axis2=-1)
    predicted, actual = confusion.sum(axis=-2), confusion.sum(axis=-1)
    denominator = predicted + actual
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    if not present_only:
        return f1.mean(axis=-1)
    present = actual > 0
    return (f1 * present).sum(axis=-1) / present.sum(axis=-1)


def resampled_macro_f1(truth: np.ndarray, predicted: np.ndarray, draws: np.ndarray, n_classes: int, *,
                       present_only: bool = False) -> np.ndarray:
    """(resamples,) macro F of the items drawn in each row of ``draws`` (resamples, items), from
    (items,) true and predicted class indices: one confusion per item, summed per resample."""
    n = len(truth)
    per_item = cluster_confusions(truth, predicted, np.arange(n), n, n_classes)
    return macro_f1_from_confusion(per_item[draws].sum(axis=1), present_only=present_only)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()
