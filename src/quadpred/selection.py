"""Song-level scores of a validation split during training, to choose the epoch whose weights
are kept (``train.select``): the study stopped on the chunk loss, while songs are what is judged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .batches import Batches
from .labels import TASKS
from .metrics import group_means, macro_scores

QUADRANT_CLASSES = len(TASKS["quadrant"])
LOG_FLOOR = 1e-7


def song_log_loss(song_probabilities: np.ndarray, song_targets: np.ndarray) -> float:
    """Mean negative log-probability of each song's true class: (songs, k), (songs,) -> float."""
    picked = song_probabilities[np.arange(len(song_targets)), song_targets]
    return float(-np.mean(np.log(np.clip(picked, LOG_FLOOR, 1.0))))


class SongScorer:
    """Scores a model's quadrant predictions on validation rows, averaged per song.

    ``batches``: the validation rows in order (inputs first, anything after); ``row_song``:
    (rows,) song index of each row; ``song_targets``: (songs,) quadrant index of each song.
    Works for any module that maps a batch's inputs to ``{task: logits}``: the whole emotion
    model on chunks, or its head on cached embeddings.
    """

    def __init__(self, batches: Batches, row_song: np.ndarray, song_targets: np.ndarray) -> None:
        self.batches = batches
        self.row_song = np.asarray(row_song)
        self.song_targets = np.asarray(song_targets)

    @torch.no_grad()
    def __call__(self, model: nn.Module, device: torch.device,
                 autocast: Callable[[], object]) -> dict[str, float]:
        """{"song_loss", "song_f1"} of ``model`` (put in eval mode)."""
        model.eval()
        parts = []
        for batch in self.batches.epoch(0):
            with autocast():  # type: ignore[attr-defined]
                logits = model(batch[0].to(device))["quadrant"]
            parts.append(logits.float().softmax(dim=-1).cpu().numpy())
        chunk_probabilities = np.concatenate(parts)
        songs = group_means(chunk_probabilities, self.row_song, len(self.song_targets))
        f1 = macro_scores(self.song_targets, songs.argmax(axis=1), QUADRANT_CLASSES)["f1"]
        return {"song_loss": song_log_loss(songs, self.song_targets), "song_f1": f1}


def criterion(select: str, valid_loss: float, song_scores: dict[str, float]) -> float:
    """The number early stopping minimises for ``train.select``."""
    if select == "loss":
        return valid_loss
    if select == "song-loss":
        return song_scores["song_loss"]
    return -song_scores["song_f1"]
