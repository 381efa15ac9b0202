"""Sparse convolutional autoencoder (SCAE) of Gómez-Cañón et al., "Transfer learning from
speech to music: towards language-sensitive emotion recognition models", EUSIPCO 2020.

Encoder: three double 3x3 conv blocks (32, 64, 128 filters), each followed by max-pooling
over the mel axis by 4, 4, 2, then a final pool by 2: (1, 128, 31) -> latent (128, 2, 31),
larger than the input, hence "sparse" (over-complete). Decoder: the mirror image.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .blocks import DoubleConv, MelPool, MelUpsample


class Encoder(nn.Module):
    """(batch, 1, n_mels, frames) -> (batch, channels[-1], n_mels / prod(pools), frames)."""

    def __init__(self, channels: Sequence[int] = (32, 64, 128), pools: Sequence[int] = (4, 4, 2, 2),
                 *, dropout: float = 0.25) -> None:
        super().__init__()
        if len(pools) != len(channels) + 1:
            raise ValueError(f"pools needs one factor per block plus a final one, got {list(pools)}")
        layers: list[nn.Module] = []
        previous = 1
        for width, factor in zip(channels, pools):
            # --- one block: double conv, then pooling over mels
            layers += [DoubleConv(previous, width, dropout=dropout), MelPool(factor)]
            previous = width
        layers.append(MelPool(pools[-1]))
        self.layers = nn.Sequential(*layers)
        self.out_channels = previous
        self.mel_reduction = 1
        for factor in pools:
            self.mel_reduction *= factor

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """Mirror of :class:`Encoder`: (batch, channels[-1], m, frames) -> (batch, 1, m * prod(pools), frames)."""

    def __init__(self, channels: Sequence[int] = (32, 64, 128), pools: Sequence[int] = (4, 4, 2, 2),
                 *, dropout: float = 0.25) -> None:
        super().__init__()
        layers: list[nn.Module] = [MelUpsample(pools[-1])]
        widths = list(channels)[::-1]
        factors = list(pools[:-1])[::-1]
        for i, (width, factor) in enumerate(zip(widths, factors)):
            following = widths[i + 1] if i + 1 < len(widths) else widths[-1]
            # --- one block: up-sample over mels, then double conv
            layers += [MelUpsample(factor), DoubleConv(width, following, dropout=dropout)]
        layers.append(nn.Conv2d(widths[-1], 1, 3, padding=1))  # linear output: log-mel values are unbounded
        self.layers = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.layers(z)


class SCAE(nn.Module):
    """Denoising autoencoder: ``forward(x)`` reconstructs x; pretraining adds the noise."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))
