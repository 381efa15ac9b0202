"""Build each model of the study from a :class:`ModelConfig` and the feature shape."""

from __future__ import annotations

from ..config import FeatureConfig, ModelConfig, SmileConfig
from ..errors import ConfigError
from .cpc import CPC
from .dae import DAE, DAEEmotionNet, SequenceEncoder, SequenceHead
from .heads import BandNorm, EmotionNet, MeanMaxOverTime, MultiTaskHead
from .scae import SCAE, Decoder, Encoder


def latent_shape(model: ModelConfig, features: FeatureConfig) -> tuple[int, int, int]:
    """(channels, mels, frames) of the encoder's output for one chunk."""
    reduction = model.encoder.mel_reduction()
    if features.n_mels % reduction:
        raise ConfigError(f"n_mels {features.n_mels} is not divisible by the encoder's mel pooling "
                          f"{list(model.encoder.pools)} (product {reduction}): change n_mels or model.encoder.pools")
    return model.encoder.channels[-1], features.n_mels // reduction, features.chunk_frames


def latent_features(model: ModelConfig, features: FeatureConfig) -> int:
    channels, mels, frames = latent_shape(model, features)
    return channels * mels * frames


def head_inputs(model: ModelConfig, features: FeatureConfig) -> int:
    """Values per chunk that the emotion network's head reads (model.head.time_pool)."""
    channels, mels, frames = latent_shape(model, emotion_net_inputs(model, features))
    return channels * mels * (2 if model.head.time_pool == "mean-max" else frames)


def build_encoder(model: ModelConfig) -> Encoder:
    return Encoder(model.encoder.channels, model.encoder.pools, dropout=model.encoder.dropout)


def build_scae(model: ModelConfig, features: FeatureConfig) -> SCAE:
    latent_shape(model, features)
    return SCAE(build_encoder(model), Decoder(model.encoder.channels, model.encoder.pools, dropout=model.encoder.dropout))


def emotion_net_inputs(model: ModelConfig, features: FeatureConfig) -> FeatureConfig:
    """The features as the emotion network reads them: its own chunk (model.chunk_seconds)."""
    return features.with_chunk_seconds(model.chunk_seconds)


def build_emotion_net(model: ModelConfig, features: FeatureConfig) -> EmotionNet:
    head = MultiTaskHead(head_inputs(model, features), units=model.head.units,
                         trunk_layers=model.head.trunk_layers, head_layers=model.head.task_layers,
                         dropout=model.head.dropout)
    return EmotionNet(build_encoder(model), head, BandNorm(features.n_mels) if model.input_norm else None,
                      MeanMaxOverTime() if model.head.time_pool == "mean-max" else None)


def build_cpc(model: ModelConfig, features: FeatureConfig) -> CPC:
    return CPC(build_encoder(model), latent_features(model, features), code_dim=model.cpc.code_dim,
               context_dim=model.cpc.context_dim, steps=model.cpc.steps)


def _smile(features: FeatureConfig | SmileConfig) -> SmileConfig:
    if not isinstance(features, SmileConfig):
        raise ConfigError("the DAE works on hand-crafted features: give it a hand-crafted (openSMILE) feature store")
    return features


def build_dae(model: ModelConfig, features: FeatureConfig | SmileConfig) -> DAE:
    return DAE(_smile(features).rows, model.dae.hidden)


def build_dae_emotion_net(model: ModelConfig, features: FeatureConfig | SmileConfig) -> DAEEmotionNet:
    rows = _smile(features).rows
    return DAEEmotionNet(SequenceEncoder(rows, model.dae.hidden), SequenceHead(model.dae.hidden, model.dae.head_hidden))
