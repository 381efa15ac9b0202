"""How a method's cross-validated accuracy grows with the labelled music it learns from.

Cross-validations run with ``quadpred cv --train-fraction f`` hold out the same songs at every
share f, so their pooled scores are paired: one song bootstrap draws the same songs for every
point of a curve. A curve is fitted as ``F = a + b log2(n)`` (n: the mean number of clips a fold
model learns from) and read off where it reaches a target F.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .crossval import (
    BOOTSTRAP,
    FoldSongs,
    Fusion,
    aligned_folds,
    assign_folds,
    bootstrap_f1,
    fold_clips,
    fusion_parts,
    mean_songs,
    pool,
    song_draws,
)
from .errors import TrainingError
from .manifest import Clip


@dataclasses.dataclass
class CurvePoint:
    """One share of a curve: its cross-validation(s), the mean clips a fold model learnt from,
    and the pooled held-out songs (in the order shared by every point of the curve)."""

    name: str
    clips: float
    songs: FoldSongs


@dataclasses.dataclass
class Fit:
    """``F = intercept + slope * log2(clips)``; ``clips_at_target``: where it reaches the target
    (inf where the slope is not positive), with a 95 % song-bootstrap interval."""

    intercept: float
    slope: float
    target: float
    clips_at_target: float
    interval: tuple[float, float]

    def at(self, clips: np.ndarray | float) -> np.ndarray | float:
        return self.intercept + self.slope * np.log2(clips)


def training_fraction(folder: Path) -> float:
    """The share of each fold's training artists a cross-validation used (1 where unrecorded)."""
    method = Path(folder) / "method.json"
    return float(json.loads(method.read_text()).get("train_fraction", 1.0)) if method.is_file() else 1.0


def clips_learnt_from(clips: Sequence[Clip], folder: Path) -> float:
    """The mean number of clips (train and valid) a fold model of ``folder`` learnt from, rebuilt
    from its folds.json and training fraction with the manifest's ``clips``."""
    record = json.loads((Path(folder) / "folds.json").read_text())
    if record["folds"] != assign_folds(clips, record["k"], seed=record["seed"]):
        raise TrainingError(f"{folder}/folds.json does not match this manifest's folds: give the manifest it was "
                            "cross-validated on")
    fraction = training_fraction(folder)
    sizes = [sum(1 for c in fold_clips(clips, record["folds"], fold, seed=record["seed"], train_fraction=fraction)
                 if c.split != "test") for fold in range(record["k"])]
    return float(np.mean(sizes))


def curve_points(clips: Sequence[Clip], fusions: Sequence[Fusion]) -> list[CurvePoint]:
    """Each fusion (a folder, or folders whose song probabilities are averaged, all at one training
    fraction) as a point; every folder must hold out the same songs on the same folds."""
    parts = [fusion_parts(fusion) for fusion in fusions]
    folders = [folder for part_folders, _, _ in parts for folder in part_folders]
    aligned = aligned_folds(folders)
    points, start = [], 0
    for part_folders, shares, name in parts:
        fractions = {training_fraction(f) for f in part_folders}
        if len(fractions) > 1:
            raise TrainingError(f"{name} mixes training fractions {sorted(fractions)}: average only runs of one share")
        songs = pool([mean_songs(fold[start:start + len(part_folders)], shares) for fold in aligned])
        points.append(CurvePoint(name, clips_learnt_from(clips, part_folders[0]), songs))
        start += len(part_folders)
    return points


def _fit(clips: np.ndarray, scores: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(columns,) intercepts, slopes and clips at ``target`` of the least-squares lines through
    each column of ``scores`` (points, columns) against log2(``clips``) (points,); inf where a
    line does not rise."""
    slope, intercept = np.polyfit(np.log2(clips), scores, 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        reach = np.where(slope > 0, 2.0 ** ((target - intercept) / slope), np.inf)
    return intercept, slope, reach


def fit_curve(points: Sequence[CurvePoint], target: float, *, seed: int = 0, resamples: int = BOOTSTRAP) -> Fit:
    """Least-squares fit of the points' pooled song F on log2(clips), and the clips at which it
    reaches ``target``; the interval refits on ``resamples`` song-bootstrap draws, the same songs
    for every point."""
    if len({round(p.clips) for p in points}) < 2:
        raise TrainingError("a learning curve needs points at two training fractions or more")
    clips = np.array([p.clips for p in points])
    draws = song_draws(len(points[0].songs.ids), seed, resamples)
    # column 0 the points' own scores, then one column per draw: every line fitted at once
    scores = np.column_stack([[p.songs.scores()["song_f1"] for p in points],
                              np.stack([bootstrap_f1(p.songs, draws) for p in points])])
    intercept, slope, reach = _fit(clips, scores, target)
    low, high = np.percentile(reach[1:], [2.5, 97.5], method="nearest")  # a draw's inf is kept, not interpolated
    return Fit(float(intercept[0]), float(slope[0]), target, float(reach[0]), (float(low), float(high)))
