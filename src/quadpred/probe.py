"""Frozen-encoder probes: a pretrained encoder's representation of each clip, pooled, read by a
scikit-learn classifier (functionals.fit_predict).

No weight of the encoder changes, so the embeddings are computed once per clip and cached; a
probe costs minutes where fine-tuning costs hours. ``random`` stands for the architecture with
random weights (seeded): the floor any pretraining must beat.

Per chunk the encoder's output (channels, mels', frames) is averaged over frames: (channels * mels');
per clip the mean and the standard deviation over its chunks (the predictor's 1-s hop):
(2 * channels * mels') values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .batches import Batches
from .config import FeatureConfig, ModelConfig
from .errors import TrainingError
from .files import atomic_path
from .manifest import Clip
from .modeldir import configs_of, load_encoder_state, read_config
from .models import build_encoder
from .songpool import pool_by_song
from .store import ChunkDataset, FeatureStore
from .train import resolve_device

RANDOM = "random"  # the encoder argument that means: random initialisation


def probe_encoder(encoder: str | Path, store: FeatureStore, *, seed: int = 0) -> tuple[torch.nn.Module, str]:
    """The frozen encoder in eval mode and a key naming it (weights digest, or 'random-<seed>').
    Refuses a model directory whose features differ from the store's."""
    features = store.config
    if not isinstance(features, FeatureConfig):
        raise TrainingError(f"{store.folder} holds hand-crafted features: a probe needs a log-mel store")
    if str(encoder) == RANDOM:
        torch.manual_seed(seed)
        return build_encoder(ModelConfig()).eval(), f"{RANDOM}-{seed}"
    from .predict import model_digest

    info = read_config(encoder)
    model_config, source_features = configs_of(info)
    if not isinstance(source_features, FeatureConfig) or \
            source_features.spectrogram_key() != features.spectrogram_key() or \
            source_features.chunk_frames != features.chunk_frames:
        raise TrainingError(f"{encoder} was trained on other features than the store {store.folder}: "
                            "extract the clips with the same feature settings")
    module = build_encoder(model_config)
    module.load_state_dict(load_encoder_state(encoder)[0])
    return module.eval(), model_digest([encoder])


@torch.no_grad()
def clip_embeddings(encoder: torch.nn.Module, store: FeatureStore, clips: Sequence[Clip], *,
                    device: str = "auto", batch_size: int = 256) -> np.ndarray:
    """(clips, 2 * channels * mels') float32 in ``clips`` order: per-chunk encoder outputs averaged
    over frames, then mean and standard deviation over each clip's chunks."""
    config = store.config
    dataset = ChunkDataset(store, clips, hop_frames=config.predict_hop_frames, chunk_frames=config.chunk_frames)
    if len(dataset.clips) < len(clips):
        missing = sorted({c.id for c in clips} - {c.id for c in dataset.clips})
        raise TrainingError(f"{len(missing)} clips have no features in {store.folder} (first: {missing[0]}): "
                            "run `quadpred features` on their manifest")
    run_device = resolve_device(device)
    encoder.to(run_device)
    parts = [encoder(x.to(run_device)).float().mean(dim=3).flatten(1).cpu()
             for x, _, _ in Batches(dataset, batch_size).epoch(0)]
    values = torch.cat(parts).numpy()
    return pool_by_song(values, dataset.clip_of_chunk(), len(dataset.clips))


def cached_embeddings(encoder: torch.nn.Module, key: str, store: FeatureStore, clips: Sequence[Clip],
                      cache: Path, *, device: str = "auto") -> np.ndarray:
    """(clips, values) embeddings of ``clips`` sorted by id by the encoder named ``key``
    (:func:`probe_encoder`); read from ``cache`` when it holds the same clips, encoder and
    features, else computed and written there."""
    ids = sorted(c.id for c in clips)
    stamp = json.dumps({"encoder": key, "features": store.config.spectrogram_key(), "ids": ids})
    if cache.is_file():
        with np.load(cache) as saved:
            if str(saved["stamp"]) == stamp:
                return saved["values"]
    by_id = {c.id: c for c in clips}
    values = clip_embeddings(encoder, store, [by_id[i] for i in ids], device=device)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, stamp=np.array(stamp), values=values)
    return values
