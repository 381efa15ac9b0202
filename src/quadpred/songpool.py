"""Song-level pooling: a trained emotion model's chunk representations pooled over a whole song
and classified by a linear model per task.

Averaging chunk probabilities (``metrics.song_level``) gives every 3-s chunk one vote; here a
classifier sees the mean and the spread of the model's last shared representation over the
song, a context of the whole clip. The emotion model stays as trained; only the linear song
classifier is fitted, its weight decay chosen on the validation songs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .batches import Batches
from .device import infer, resolve_device
from .errors import TrainingError
from .evaluate import SplitPredictions, scoring_chunks
from .labels import TASKS
from .manifest import Clip, check_leakage, split_of
from .metrics import group_means
from .modeldir import load_model
from .models.dae import DAEEmotionNet
from .models.heads import EmotionNet, MultiTaskHead
from .objectives import MultiTask, inverse_frequency_weights
from .store import FeatureStore

WEIGHT_DECAYS = (0.01, 0.1, 1.0, 10.0)  # decoupled (AdamW): shrinkage lr * decay per step


@dataclass
class SongSet:
    """Pooled representations of the songs of one split.

    features: (songs, 2 * units) mean then standard deviation over each song's chunks;
    targets: (songs, 3) in TASKS order; clip_ids: one per song.
    """

    features: np.ndarray
    targets: np.ndarray
    clip_ids: list[str]


def pool_by_song(values: np.ndarray, chunk_clip: np.ndarray, songs: int) -> np.ndarray:
    """(chunks, units), (chunks,) song index -> (songs, 2 * units): mean and standard deviation."""
    if (np.bincount(chunk_clip, minlength=songs) == 0).any():
        raise TrainingError("a song has no chunk to pool: every song must be at least one chunk long")
    mean = group_means(values, chunk_clip, songs)
    spread = np.sqrt(np.maximum(group_means(values.astype(np.float64) ** 2, chunk_clip, songs) - mean ** 2, 0.0))
    return np.concatenate([mean, spread], axis=1).astype(np.float32)


def song_sets(model_dir: str | Path, store: FeatureStore, clips: Sequence[Clip], *,
              splits: Sequence[str] = ("train", "valid", "test"), device: str = "auto") -> dict[str, SongSet]:
    """Pooled representations of every song of each split, from the predictor's 1-s chunks."""
    check_leakage(clips)
    model, info = load_model(model_dir)
    if not isinstance(model, (EmotionNet, DAEEmotionNet)):
        raise TrainingError(f"song pooling needs an emotion model, not a {type(model).__name__}")
    run_device = resolve_device(device)
    model.eval().to(run_device)
    sets = {}
    for split in splits:
        if not split_of(clips, split):
            raise TrainingError(f"song pooling: no clip has split {split!r}; prepare the manifest with splits")
        dataset = scoring_chunks(store, info, clips, split)
        # the last layer the tasks share: (chunks, units)
        values = infer(model.representation, (x for x, _, _ in Batches(dataset, 256).epoch(0)), run_device)
        chunk_clip = dataset.clip_of_chunk()
        targets = np.zeros((len(dataset.clips), len(TASKS)), dtype=np.int64)
        targets[chunk_clip] = dataset.targets.numpy()
        sets[split] = SongSet(pool_by_song(values, chunk_clip, len(dataset.clips)), targets,
                              [c.id for c in dataset.clips])
    return sets


@dataclass
class SongClassifier:
    """A linear model per task on standardised pooled features."""

    model: MultiTaskHead
    mean: np.ndarray
    scale: np.ndarray
    weight_decay: float
    valid_loss: float

    @torch.no_grad()
    def probabilities(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """(songs, 2 * units) -> {task: (songs, classes)}."""
        self.model.eval()
        x = torch.from_numpy((features - self.mean) / self.scale)
        return {task: logits.softmax(dim=-1).numpy() for task, logits in self.model(x).items()}

    def predictions(self, songs: SongSet) -> SplitPredictions:
        """Song probabilities as split predictions with one 'chunk' per song."""
        return SplitPredictions(self.probabilities(songs.features), songs.targets,
                                np.arange(len(songs.clip_ids)), songs.clip_ids)


def fit_song_classifier(train: SongSet, valid: SongSet, *, weight_decays: Sequence[float] = WEIGHT_DECAYS,
                        steps: int = 300, lr: float = 0.01, seed: int = 0) -> SongClassifier:
    """Full-batch Adam on class-weighted cross-entropy, one fit per weight decay; the one with
    the lowest validation loss is kept."""
    mean = train.features.mean(axis=0)
    scale = train.features.std(axis=0) + 1e-6
    x_train = torch.from_numpy((train.features - mean) / scale)
    y_train = torch.from_numpy(train.targets)
    objective = MultiTask(class_weights=inverse_frequency_weights(train.targets))
    x_valid, y_valid = torch.from_numpy((valid.features - mean) / scale), torch.from_numpy(valid.targets)
    best: SongClassifier | None = None
    for weight_decay in weight_decays:
        torch.manual_seed(seed)
        units = x_train.shape[1]
        model = MultiTaskHead(units, units=units, trunk_layers=0, head_layers=0)
        optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        model.train()
        for _ in range(steps):
            loss, _ = objective.loss(model, (x_train, y_train), training=True)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            valid_loss = objective.loss(model, (x_valid, y_valid), training=False)[0].item()
        if best is None or valid_loss < best.valid_loss:
            best = SongClassifier(model, mean, scale, weight_decay, valid_loss)
    assert best is not None
    return best
