"""Convolutional building blocks of the SCAE (SYSTEM.md, Models)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def keep_mask(shape: torch.Size, p: float) -> Tensor:
    """Boolean mask of ``shape``, each element False with probability ``p`` (rounded to 1/256).

    Random bytes from whole 64-bit words (7 usable bytes each; ``random_`` leaves the top bit 0)
    instead of one Bernoulli draw per element: PyTorch's CPU ``bernoulli_`` took a third of a
    training step of the SCAE, this takes a sixth of that time.
    """
    n = shape.numel()
    words = torch.empty(-(-n // 7), dtype=torch.int64).random_()
    random_bytes = words.view(torch.uint8).view(-1, 8)[:, :7].reshape(-1)[:n]
    return (random_bytes >= round(p * 256)).view(shape)


class Dropout(nn.Module):
    """Inverted dropout like ``nn.Dropout`` (seeded by the global generator), with a faster mask."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return nn.functional.dropout(x, self.p, training=True)
        scale = 1.0 / (1.0 - round(self.p * 256) / 256)
        return x * keep_mask(x.shape, self.p).to(x.dtype).mul_(scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DoubleConv(nn.Module):
    """Two 3x3 'same' convolutions, each followed by ReLU then batch norm over channels
    (the study normalises after the non-linearity), then dropout.

    (batch, in_channels, mels, frames) -> (batch, out_channels, mels, frames)
    """

    def __init__(self, in_channels: int, out_channels: int, *, dropout: float = 0.25) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(out_channels),
            Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class MelPool(nn.Module):
    """Max-pooling over the mel axis only: (b, c, mels, frames) -> (b, c, mels // factor, frames)."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=(factor, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(x)


class MelUpsample(nn.Module):
    """Nearest up-sampling over the mel axis only: (b, c, mels, frames) -> (b, c, mels * factor, frames)."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=(factor, 1), mode="nearest")

    def forward(self, x: Tensor) -> Tensor:
        return self.up(x)
