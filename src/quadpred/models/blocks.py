"""Convolutional building blocks of the SCAE (SYSTEM.md, Models)."""

from __future__ import annotations

from torch import Tensor, nn


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
            nn.Dropout(dropout),
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
