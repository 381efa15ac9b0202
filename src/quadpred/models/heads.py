"""The transfer model: an encoder, a dense trunk and one head per task (SYSTEM.md, Models)."""

from __future__ import annotations

from collections.abc import Mapping

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


class EmotionNet(nn.Module):
    """Encoder + multi-task head: (batch, 1, n_mels, frames) -> {task: (batch, n_classes)} logits."""

    def __init__(self, encoder: nn.Module, head: MultiTaskHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def embed(self, x: Tensor) -> Tensor:
        """Flattened encoder output: (batch, 1, n_mels, frames) -> (batch, latent features)."""
        return self.encoder(x).flatten(1)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.head(self.embed(x))

    def probabilities(self, x: Tensor) -> dict[str, Tensor]:
        return {task: logits.softmax(dim=-1) for task, logits in self(x).items()}
