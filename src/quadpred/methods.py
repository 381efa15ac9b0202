"""The study's methods as data: how an encoder is pretrained, and which grid method runs what.

Two tables, read by `stages`, `experiment`, `modeldir` and `cli`:

- ``PRETRAININGS``: name (the model directory's kind and `pretrain --method`) -> how to pretrain
  an encoder on speech: the feature kind it reads, its network, its datasets and objective,
  its default learning rate.
- ``METHODS``: name (an entry of an experiment's "methods") -> the grid method: the pretraining
  it starts from (None: random weights, the baseline), model settings of the variant, and the
  transfer stages it runs.

Adding a method is one entry in each (docs/ARCHITECTURE.md shows a worked example; so does
tests/test_methods.py, which adds one and runs it through pretraining, transfer and the grid).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .config import ModelConfig, RunConfig
from .errors import TrainingError
from .featurekinds import DEFAULT_KIND, Features, chunking, kind_of
from .manifest import Clip
from .models import build_cpc, build_dae, build_dae_emotion_net, build_emotion_net, build_scae, head_inputs
from .objectives import Contrastive, Denoising, SequenceDenoising
from .store import ChunkDataset, FeatureStore, SegmentDataset


@dataclass(frozen=True)
class PretrainData:
    """What a pretraining fits on: training and validation datasets (None: no validation split)
    and the objective comparing the model's output with its input."""

    train: Any
    valid: Any
    objective: Any


@dataclass(frozen=True)
class Pretraining:
    """One way to pretrain an encoder. ``stage`` is the name its model directories record;
    ``data(model, train_clips, valid_clips, store, run)`` gives its datasets and objective (it may
    also fit input statistics into ``model``)."""

    name: str
    stage: str
    features: str
    learning_rate: float
    build: Callable[[ModelConfig, Features], nn.Module]
    data: Callable[[nn.Module, Sequence[Clip], Sequence[Clip], FeatureStore, RunConfig], PretrainData]
    summary: str


def _scae_data(model: nn.Module, train: Sequence[Clip], valid: Sequence[Clip], store: FeatureStore,
               run: RunConfig) -> PretrainData:
    return PretrainData(ChunkDataset(store, train), ChunkDataset(store, valid), Denoising(run.train.noise_sd))


def _cpc_data(model: nn.Module, train: Sequence[Clip], valid: Sequence[Clip], store: FeatureStore,
              run: RunConfig) -> PretrainData:
    segments = run.model.cpc.segments
    return PretrainData(SegmentDataset(store, train, segments=segments) if train else None,
                        SegmentDataset(store, valid, segments=segments) if valid else None,
                        Contrastive(run.model.cpc.objective))


def _dae_data(model: nn.Module, train: Sequence[Clip], valid: Sequence[Clip], store: FeatureStore,
              run: RunConfig) -> PretrainData:
    steps, hop, _ = chunking(store.config, run.model)
    train_set, valid_set = (ChunkDataset(store, clips, chunk_frames=steps, hop_frames=hop) for clips in (train, valid))
    if len(train_set) == 0:
        raise TrainingError(f"no speech clip is as long as a {run.model.dae.seconds:g}-s DAE sequence: "
                            "lower model.dae.seconds")
    sample = np.random.default_rng(run.train.seed).permutation(len(train_set))[:4096]
    model.fit_standardisation(train_set.gather(np.sort(sample))[0])
    return PretrainData(train_set, valid_set, SequenceDenoising(run.train.noise_sd))


PRETRAININGS: dict[str, Pretraining] = {p.name: p for p in (
    Pretraining("scae", "pretrain", "logmel", 1e-3, build_scae, _scae_data,
                "convolutional denoising autoencoder of log-mel chunks (the study's SCAE)"),
    Pretraining("cpc", "cpc", "logmel", 1e-3, build_cpc, _cpc_data,
                "contrastive predictive coding over segments of log-mel chunks"),
    Pretraining("dae", "dae", "smile", 1e-3, build_dae, _dae_data,
                "LSTM denoising autoencoder of hand-crafted feature sequences (Coutinho & Schuller 2017)"),
)}


@dataclass(frozen=True)
class TransferModel:
    """The emotion network that reads one feature kind: the kind its model directories record,
    its builder, and the values per input of its frozen encoder (what feat-ext caches)."""

    kind: str
    build: Callable[[ModelConfig, Features], nn.Module]
    embedding_size: Callable[[ModelConfig, Features], int]


# feature kind (featurekinds.FEATURE_KINDS) -> the transfer network that reads it
TRANSFER_MODELS: dict[str, TransferModel] = {
    "logmel": TransferModel("emotion", build_emotion_net, head_inputs),
    "smile": TransferModel("dae-emotion", build_dae_emotion_net,
                           lambda model, features: chunking(features, model)[0] * model.dae.hidden),
}


TRANSFER_KINDS = tuple(t.kind for t in TRANSFER_MODELS.values())


def transfer_model(features: Features) -> TransferModel:
    """The transfer network for a store of these features."""
    return TRANSFER_MODELS[kind_of(features).name]


def model_builders() -> dict[str, Callable[[ModelConfig, Any], nn.Module]]:
    """Model directory kind -> the builder of its network."""
    return {**{p.name: p.build for p in PRETRAININGS.values()}, **{t.kind: t.build for t in TRANSFER_MODELS.values()}}


@dataclass(frozen=True)
class Method:
    """A method of the grid. ``family`` names the encoder and transfer folders it shares with other
    methods (scae-feat-ext and scae-full share one encoder, and full continues from feat-ext);
    ``pretraining`` an entry of PRETRAININGS (None: random weights); ``model`` the settings of a
    variant over the run's; ``stages`` the transfer stages, the last one being the method's model."""

    name: str
    family: str | None
    pretraining: str | None
    stages: tuple[str, ...]
    model: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        return self.stages[-1]

    @property
    def features(self) -> str:
        return PRETRAININGS[self.pretraining].features if self.pretraining else DEFAULT_KIND


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("baseline", None, None, ("baseline",)),
    Method("scae-feat-ext", "scae", "scae", ("feat-ext",)),
    Method("scae-full", "scae", "scae", ("feat-ext", "full")),
    Method("cpc-feat-ext", "cpc", "cpc", ("feat-ext",)),
    Method("cpc-full", "cpc", "cpc", ("feat-ext", "full")),
    # the DAE variants of Coutinho & Schuller 2017: sequence length and hidden size
    Method("dae-classifier", "dae-classifier", "dae", ("feat-ext",), {"dae.hidden": 100, "dae.seconds": 5.0}),
    Method("dae-sparsity", "dae-sparsity", "dae", ("feat-ext",), {"dae.hidden": 800, "dae.seconds": 10.0}),
)}


def family_method(family: str) -> Method:
    """A method of ``family`` (they share its pretraining and model settings)."""
    return next(m for m in METHODS.values() if m.family == family)


def store_kind(*, method: str | None = None, encoder: str | Path | None = None) -> str:
    """The feature kind a run reads (a store root may hold log-mel and hand-crafted stores side by
    side): that of the pretrained ``encoder``'s network if one is given, else the pretraining
    ``method``'s, else log-mel (the baseline)."""
    if encoder is not None:
        from .modeldir import configs_of, read_config

        return kind_of(configs_of(read_config(encoder))[1]).name
    return PRETRAININGS[method].features if method in PRETRAININGS else DEFAULT_KIND
