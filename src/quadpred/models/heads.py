"""The transfer model: an encoder, a dense trunk and one head per task (SYSTEM.md, Models)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..labels import TASKS
from .blocks import Dropout


def _dense_stack(in_features: int, units: int, layers: int, dropout: float) -> list[nn.Module]:
    stack: list[nn.Module] = []
    for i in range(layers):
        stack += [nn.Linear(in_features if i == 0 else units, units), nn.ReLU(inplace=True), Dropout(dropout)]
    return stack


class MultiTaskHead(nn.Module):
    """Dense trunk then one dense block and output layer per task.

    (batch, in_features) -> {task: (batch, n_classes)} logits (softmax is in the loss and in
    :meth:`EmotionNet.probabilities`).
    """

    def __init__(self, in_features: int, *, units: int = 512, trunk_layers: int = 3, head_layers: int = 2,
                 dropout: float = 0.25, tasks: Mapping[str, tuple[str, ...]] = TASKS) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*_dense_stack(in_features, units, trunk_layers, dropout))
        self.heads = nn.ModuleDict({
            task: nn.Sequential(*_dense_stack(units, units, head_layers, dropout), nn.Linear(units, len(names)))
            for task, names in tasks.items()
        })

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        shared = self.trunk(features)
        return {task: head(shared) for task, head in self.heads.items()}


class BandNorm(nn.Module):
    """Standardises each mel band with fixed statistics of the training inputs (buffers, saved
    with the weights): (batch, 1, n_mels, frames) -> the same shape."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, 1, n_mels, 1))
        self.register_buffer("scale", torch.ones(1, 1, n_mels, 1))

    def fit(self, chunks: Tensor) -> None:
        """Set the statistics from a sample of training inputs (n, 1, n_mels, frames)."""
        self.mean.copy_(chunks.mean(dim=(0, 1, 3), keepdim=True))
        self.scale.copy_(1.0 / chunks.std(dim=(0, 1, 3), keepdim=True).clamp_min(1e-5))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) * self.scale


class MeanMaxOverTime(nn.Module):
    """(batch, channels, bands, frames) -> (batch, 2 * channels * bands): each channel and band's
    mean over the frames, then their maxima (``model.head.time_pool='mean-max'``)."""

    def forward(self, latent: Tensor) -> Tensor:
        return torch.cat([latent.mean(dim=-1).flatten(1), latent.amax(dim=-1).flatten(1)], dim=1)


class EmotionNet(nn.Module):
    """Encoder + multi-task head: (batch, 1, n_mels, frames) -> {task: (batch, n_classes)} logits.

    ``norm``: a :class:`BandNorm` in front of the encoder (``model.input_norm``), or None.
    ``time_pool``: a :class:`MeanMaxOverTime` between encoder and head, or None (the encoder's
    output flattened, the study's).
    """

    def __init__(self, encoder: nn.Module, head: MultiTaskHead, norm: BandNorm | None = None,
                 time_pool: nn.Module | None = None) -> None:
        super().__init__()
        self.norm = norm
        self.encoder = encoder
        self.time_pool = time_pool
        self.head = head

    def embed(self, x: Tensor) -> Tensor:
        """The head's input: (batch, 1, n_mels, frames) -> (batch, head inputs), the encoder's
        output flattened or pooled over time."""
        if self.norm is not None:
            x = self.norm(x)
        latent = self.encoder(x)
        return latent.flatten(1) if self.time_pool is None else self.time_pool(latent)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.head(self.embed(x))

    def representation(self, x: Tensor) -> Tensor:
        """The last layer the three tasks share: (batch, 1, n_mels, frames) -> (batch, units)."""
        return self.head.trunk(self.embed(x))

    def probabilities(self, x: Tensor) -> dict[str, Tensor]:
        # softmax in float32: under bf16 autocast the logits are bf16, whose probabilities sum to 1 +- 4e-3
        return {task: logits.float().softmax(dim=-1) for task, logits in self(x).items()}
