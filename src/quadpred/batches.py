"""Seeded batches over any dataset with a vectorised ``gather(indices)``.

The training loop never calls a dataset item by item: each batch is gathered in one call
(slices of memory-mapped arrays into one buffer), so batch assembly costs a fraction of a
training step. Batch order depends only on (seed, epoch), which makes resumed runs repeat
uninterrupted ones exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch


class Gatherable(Protocol):
    def __len__(self) -> int: ...

    def gather(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]: ...


class TensorRows:
    """Rows of in-memory tensors (e.g. cached embeddings and their targets) as a Gatherable."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        if len({len(t) for t in tensors}) != 1:
            raise ValueError("TensorRows needs tensors with the same number of rows")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def gather(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t[index] for t in self.tensors)


class Batches:
    """Batches of ``dataset`` for one epoch at a time.

    shuffle: a fresh permutation per epoch; ``balance_by`` (one class index per row, -1 for
    none): draw rows with probability inversely proportional to their class's frequency
    (with replacement, as many rows as the dataset has); ``max_batches``: stop early.
    """

    def __init__(self, dataset: Gatherable, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                 balance_by: np.ndarray | None = None, max_batches: int | None = None) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.max_batches = max_batches
        self.row_weights = None
        if balance_by is not None:
            labels = np.asarray(balance_by)
            counts = np.bincount(labels[labels >= 0])
            weights = np.where(labels >= 0, 1.0 / np.maximum(counts[np.maximum(labels, 0)], 1), 0.0)
            self.row_weights = weights / weights.sum()

    def __len__(self) -> int:
        batches = -(-len(self.dataset) // self.batch_size)
        return min(batches, self.max_batches) if self.max_batches else batches

    def order(self, epoch: int) -> np.ndarray:
        """Row indices of one epoch, in batch order."""
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.dataset)
        if self.row_weights is not None:
            return rng.choice(n, size=n, replace=True, p=self.row_weights)
        return rng.permutation(n) if self.shuffle else np.arange(n)

    def epoch(self, epoch: int = 0, *, rank: int = 0, world: int = 1) -> Iterator[tuple[torch.Tensor, ...]]:
        """The batches of one epoch; with ``world`` > 1 processes, this ``rank``'s share of each
        (every world-th row), and batches too small to give every process a row are skipped."""
        order = self.order(epoch)
        for b in range(len(self)):
            rows = order[b * self.batch_size:(b + 1) * self.batch_size]
            if world > 1:
                if len(rows) < world:
                    continue
                rows = rows[rank::world]
            yield self.dataset.gather(rows)
