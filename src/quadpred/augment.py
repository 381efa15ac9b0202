"""Training-time augmentation of transfer inputs.

SpecAugment-style masking (Park et al. 2019): per example, one random band of mel bands and
one random span of frames are replaced by the example's mean, so that the emotion heads cannot
lean on one frequency region or one moment of a chunk. Band shifting: per example, the whole
log-mel moves up or down the mel axis by a few bands, a pitch shift that keeps the song's mode
and tempo (what its quadrant hangs on) and changes its key. Random numbers come from torch's
global generator, which the training loop seeds per epoch, so runs repeat exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

MAX_BAND_SHARE = 0.15  # at most this share of the mel bands in one mask
MAX_SPAN_SHARE = 0.2   # at most this share of the frames


def spec_mask(x: Tensor, *, max_band_share: float = MAX_BAND_SHARE, max_span_share: float = MAX_SPAN_SHARE) -> Tensor:
    """(batch, channels, bands, frames) -> the same shape, one band and one span masked per example."""
    batch, _, bands, frames = x.shape
    masked = torch.zeros(batch, 1, bands, frames, dtype=torch.bool, device=x.device)
    for size, share, axis in ((bands, max_band_share, 2), (frames, max_span_share, 3)):
        width = torch.randint(0, int(size * share) + 1, (batch,), device=x.device)
        start = (torch.rand(batch, device=x.device) * (size - width + 1)).long()
        position = torch.arange(size, device=x.device)
        inside = (position >= start[:, None]) & (position < (start + width)[:, None])  # (batch, size)
        masked |= inside[:, None, :, None] if axis == 2 else inside[:, None, None, :]
    fill = x.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(masked, fill, x)


# on 128 mel bands up to 8 kHz one band is ~22 mel: ~0.6 semitone at 1 kHz, ~0.4 at 4 kHz, ~1.4 at 200 Hz
MAX_SHIFT_BANDS = 3


def band_shift(x: Tensor, *, max_bands: int = MAX_SHIFT_BANDS) -> Tensor:
    """(batch, channels, bands, frames) -> the same shape, each example moved by a whole number of
    bands in [-max_bands, max_bands] along the band axis; the bands uncovered at an edge repeat
    the edge band."""
    batch, channels, bands, frames = x.shape
    shift = torch.randint(-max_bands, max_bands + 1, (batch,), device=x.device)
    source = (torch.arange(bands, device=x.device)[None, :] - shift[:, None]).clamp(0, bands - 1)  # (batch, bands)
    return x.gather(2, source[:, None, :, None].expand(batch, channels, bands, frames))


AUGMENTERS = {"specaugment": spec_mask, "band-shift": band_shift}
