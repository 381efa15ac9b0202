"""Feature kinds as data: what a feature store holds and how its arrays become network inputs.

Two kinds today: ``logmel``, the log-mel spectrogram every network of the study reads, and
``smile``, openSMILE's hand-crafted low-level descriptors that the DAE baseline reads. Each entry
says its settings class, a description for people, how one clip's audio becomes a (rows, frames)
array, and which settings cut those arrays into network inputs. The store, the method tables,
the stages and the CLI ask this table rather than testing types; adding a front end is one entry
(and its settings class in `config`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .audio import ReadLimits, load_audio
from .config import FeatureConfig, ModelConfig, SmileConfig, from_dict
from .errors import ConfigError
from .streaming import stream_log_mel

Features = FeatureConfig | SmileConfig


def _extract_logmel(path: str | Path, config: FeatureConfig, limits: ReadLimits) -> np.ndarray:
    """(mels, frames), block by block: bounded memory for any length, and the very arrays `predict` computes."""
    return stream_log_mel(path, config, min_samples=config.min_samples, limits=limits)[0]


def _extract_smile(path: str | Path, config: SmileConfig, limits: ReadLimits) -> np.ndarray:
    """(descriptors, frames); openSMILE takes the whole signal at once."""
    from .handcrafted import compute_handcrafted

    started = time.monotonic()
    signal = load_audio(path, sample_rate=config.sample_rate, min_samples=config.min_samples, limits=limits)
    values = compute_handcrafted(signal, config)
    limits.check_time(Path(path), started, len(signal) / config.sample_rate)
    return values


@dataclass(frozen=True)
class FeatureKind:
    """One kind of stored features. ``extract(audio path, settings, limits)`` gives a clip's
    (rows, frames) array; ``input_settings(settings, model)`` the settings whose chunk and hops
    are one network input (the model chooses it: model.chunk_seconds on log-mels, the DAE
    variants' sequence length on hand-crafted features)."""

    name: str
    settings: type
    description: str
    extract: Callable[[str | Path, Any, ReadLimits], np.ndarray]
    input_settings: Callable[[Any, ModelConfig], Any]


FEATURE_KINDS: dict[str, FeatureKind] = {k.name: k for k in (
    FeatureKind("logmel", FeatureConfig, "log-mel features", _extract_logmel,
                lambda features, model: features.with_chunk_seconds(model.chunk_seconds)),
    FeatureKind("smile", SmileConfig, "hand-crafted features", _extract_smile,
                lambda features, model: features.with_sequence(model.dae.seconds)),
)}
DEFAULT_KIND = "logmel"  # what a config without a "kind" key describes (stores written before kinds existed)


def kind_of(features: Features) -> FeatureKind:
    """The entry of FEATURE_KINDS whose settings ``features`` are."""
    for kind in FEATURE_KINDS.values():
        if isinstance(features, kind.settings):
            return kind
    raise ConfigError(f"{type(features).__name__} is no feature kind's settings: use one of "
                      f"{', '.join(k.settings.__name__ for k in FEATURE_KINDS.values())}")


def features_from_dict(data: dict[str, Any], *, where: str = "features") -> Features:
    """Feature settings read from JSON, by their ``kind`` (log-mel when absent)."""
    name = data.get("kind", DEFAULT_KIND)
    if name not in FEATURE_KINDS:
        raise ConfigError(f"{where}: feature kind {name!r} unknown; use one of {', '.join(FEATURE_KINDS)}")
    return from_dict(FEATURE_KINDS[name].settings, data, where=where)


def chunking(features: Features, model: ModelConfig) -> tuple[int, int, int]:
    """(frames per network input, training hop, prediction hop) for these features and model."""
    chunked = kind_of(features).input_settings(features, model)
    return chunked.chunk_frames, chunked.train_hop_frames, chunked.predict_hop_frames
