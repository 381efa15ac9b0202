"""Hand-crafted per-second features for the DAE baseline, with the PyPI ``opensmile`` package
(its openSMILE binary is bundled and works offline).

IS13 ComParE low-level descriptors (65, every 10 ms) and their deltas (65), summarised by mean
and standard deviation over 1-s windows every 0.5 s: (260, steps), the authors' recipe.
"""

from __future__ import annotations

import functools

import numpy as np

from .config import SmileConfig
from .errors import QuadpredError


@functools.lru_cache(maxsize=2)
def _extractors(feature_set: str) -> tuple:
    try:
        import opensmile
    except ImportError as exc:
        raise QuadpredError("hand-crafted features need openSMILE: pip install 'quadpred[dae]'") from exc
    chosen = getattr(opensmile.FeatureSet, feature_set)
    return tuple(opensmile.Smile(feature_set=chosen, feature_level=level)
                 for level in (opensmile.FeatureLevel.LowLevelDescriptors,
                               opensmile.FeatureLevel.LowLevelDescriptors_Deltas))


def low_level_descriptors(signal: np.ndarray, config: SmileConfig) -> tuple[np.ndarray, float]:
    """(130, frames) descriptors and deltas of a (samples,) signal, and the frame step in seconds."""
    descriptors, deltas = (extractor.process_signal(signal, config.sample_rate).to_numpy(np.float32)
                           for extractor in _extractors(config.feature_set))
    frames = min(len(descriptors), len(deltas))  # the delta pass may give a frame or two more
    return np.concatenate([descriptors[:frames], deltas[:frames]], axis=1).T, 0.01


def compute_handcrafted(signal: np.ndarray, config: SmileConfig = SmileConfig()) -> np.ndarray:
    """(samples,) float32 at ``config.sample_rate`` -> (260, steps): mean and sd of each descriptor
    over every whole window; steps = 1 + (seconds - window) // hop."""
    values, step = low_level_descriptors(signal, config)
    width = round(config.window_seconds / step)
    hop = round(config.hop_seconds / step)
    if values.shape[1] < width:
        return np.zeros((config.rows, 0), dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(values, width, axis=1)[:, ::hop]  # (130, steps, width)
    summary = np.concatenate([windows.mean(axis=2), windows.std(axis=2)], axis=0)
    return np.nan_to_num(summary).astype(np.float32)
