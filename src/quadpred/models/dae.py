"""The DAE baseline after Coutinho & Schuller 2017 (SYSTEM.md, Models).

Pretraining: a denoising autoencoder whose latent layer is an LSTM over sequences of per-second
hand-crafted feature vectors; the input is standardised with statistics of the pretraining data
(kept as buffers, so the transfer model standardises music the same way). Transfer: the frozen
LSTM encoder, a new LSTM block, the mean over time, one output layer per task.
Variants: "classifier" (5-s sequences, hidden 100), "sparsity" (10-s sequences, over-complete hidden 800).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..labels import TASKS


class SequenceEncoder(nn.Module):
    """(batch, 1, features, steps) -> (batch, steps, hidden): standardise, then an LSTM."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))
        self.lstm = nn.LSTM(features, hidden, batch_first=True)

    def standardise(self, x: Tensor) -> Tensor:
        """(batch, 1, features, steps) -> (batch, steps, features), zero mean and unit sd per feature."""
        return (x[:, 0].transpose(1, 2) - self.mean) / self.std

    def encode(self, z: Tensor) -> Tensor:
        return self.lstm(z)[0]

    def forward(self, x: Tensor) -> Tensor:
        return self.encode(self.standardise(x))


class DAE(nn.Module):
    """Denoising LSTM autoencoder; ``reconstruct`` works on standardised sequences (batch, steps, features)."""

    def __init__(self, features: int = 260, hidden: int = 100) -> None:
        super().__init__()
        self.encoder = SequenceEncoder(features, hidden)
        self.decoder = nn.Linear(hidden, features)

    def forward(self, x: Tensor, noise_sd: float = 0.0) -> tuple[Tensor, Tensor]:
        """(batch, 1, features, steps) -> (reconstruction, clean standardised input), both
        (batch, steps, features); ``noise_sd`` > 0 corrupts the standardised input first."""
        clean = self.encoder.standardise(x)
        noisy = clean + noise_sd * torch.randn_like(clean) if noise_sd > 0 else clean
        return self.decoder(self.encoder.encode(noisy)), clean

    @torch.no_grad()
    def fit_standardisation(self, x: Tensor) -> None:
        """Set the standardisation from (n, 1, features, steps) training sequences."""
        values = x[:, 0].transpose(1, 2).reshape(-1, x.shape[2])
        self.encoder.mean.copy_(values.mean(dim=0))
        self.encoder.std.copy_(values.std(dim=0).clamp_min(1e-6))


class SequenceHead(nn.Module):
    """(batch, steps, hidden) -> {task: (batch, classes)}: a new LSTM, the mean over time, outputs."""

    def __init__(self, hidden: int, head_hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(hidden, head_hidden, batch_first=True)
        self.outputs = nn.ModuleDict({task: nn.Linear(head_hidden, len(names)) for task, names in TASKS.items()})

    def forward(self, sequence: Tensor) -> dict[str, Tensor]:
        pooled = self.lstm(sequence)[0].mean(dim=1)
        return {task: layer(pooled) for task, layer in self.outputs.items()}


class DAEEmotionNet(nn.Module):
    """Pretrained sequence encoder + sequence head: (batch, 1, features, steps) -> {task: logits}."""

    def __init__(self, encoder: SequenceEncoder, head: SequenceHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.head(self.embed(x))

    def representation(self, x: Tensor) -> Tensor:
        """The last layer the three tasks share: the head LSTM's mean over time, (batch, head_hidden)."""
        return self.head.lstm(self.embed(x))[0].mean(dim=1)

    def probabilities(self, x: Tensor) -> dict[str, Tensor]:
        # softmax in float32: under bf16 autocast the logits are bf16, whose probabilities sum to 1 +- 4e-3
        return {task: logits.float().softmax(dim=-1) for task, logits in self(x).items()}
