"""The feature-kind table: each kind found from its settings, read back from JSON, chunked, and a
new front end added as one entry is extracted and read by the store without other edits."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from quadpred import featurekinds
from quadpred.audio import load_audio
from quadpred.config import DAEConfig, FeatureConfig, ModelConfig, SmileConfig, store_key, to_dict
from quadpred.corpora import fourq
from quadpred.errors import ConfigError
from quadpred.featurekinds import FEATURE_KINDS, FeatureKind, chunking, features_from_dict, kind_of
from quadpred.methods import TRANSFER_MODELS, transfer_model
from quadpred.store import ChunkDataset, FeatureStore, extract


def test_every_kind_is_found_from_its_settings_and_read_back_from_json():
    for name, kind in FEATURE_KINDS.items():
        settings = kind.settings()
        assert kind_of(settings).name == name
        assert features_from_dict(to_dict(settings)) == settings
        assert name in TRANSFER_MODELS  # every kind has a network that reads it
    # stores written before kinds were recorded hold log-mels
    assert features_from_dict({"n_mels": 64}) == FeatureConfig(n_mels=64)
    with pytest.raises(ConfigError, match=r"feature kind 'mfcc' unknown; use one of logmel, smile"):
        features_from_dict({"kind": "mfcc"}, where="store/config.json")
    with pytest.raises(ConfigError, match="no feature kind's settings"):
        kind_of(ModelConfig())


def test_chunking_follows_the_kind():
    assert chunking(FeatureConfig(), ModelConfig()) == (31, 15, 31)
    # a DAE variant's sequence length is a model setting: 10 s of 1-s windows every 0.5 s
    assert chunking(SmileConfig(), ModelConfig(dae=DAEConfig(seconds=10.0))) == (19, 9, 19)
    assert transfer_model(SmileConfig()).kind == "dae-emotion"
    assert transfer_model(SmileConfig()).embedding_size(ModelConfig(dae=DAEConfig(hidden=7, seconds=10.0)), SmileConfig()) \
        == 19 * 7


@dataclasses.dataclass(frozen=True)
class EnvelopeConfig:
    """A toy front end: the frame RMS envelope at four frame sizes (4 rows)."""

    kind: str = "envelope"
    sample_rate: int = 16000
    hop: int = 512
    store_dtype: str = "float32"
    chunk_frames: int = 31
    train_hop_frames: int = 15
    predict_hop_frames: int = 31
    rows: int = 4
    min_samples: int = 4096

    def spectrogram_key(self) -> str:
        return store_key(self)


def _envelope(path, config: EnvelopeConfig, limits) -> np.ndarray:
    signal = load_audio(path, sample_rate=config.sample_rate, limits=limits)
    frames = len(signal) // config.hop
    framed = signal[: frames * config.hop].reshape(frames, config.hop)
    return np.stack([np.sqrt((framed[:, : config.hop >> k] ** 2).mean(axis=1)) for k in range(4)])


def test_a_new_front_end_is_one_table_entry(fourq_tree: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setitem(FEATURE_KINDS, "envelope",
                        FeatureKind("envelope", EnvelopeConfig, "RMS envelopes", _envelope, lambda f, m: f))
    clips = fourq.prepare(fourq_tree)[:3]
    result = extract(clips, tmp_path, EnvelopeConfig(), workers=1, progress=False)
    assert (result.written, result.failed) == (3, {})
    store = FeatureStore.open(tmp_path, kind="envelope")  # found by its recorded kind
    assert isinstance(store.config, EnvelopeConfig)
    array = store.load(clips[0].id)
    np.testing.assert_allclose(array, _envelope(clips[0].path, EnvelopeConfig(), featurekinds.ReadLimits()))
    assert array.shape[0] == 4 and array.min() >= 0
    chunks = ChunkDataset(store, clips, hop_frames=chunking(store.config, ModelConfig())[1])
    assert chunks.gather(np.array([0]))[0].shape == (1, 1, 4, 31)


def test_the_store_kind_follows_the_encoder_then_the_method(tmp_path: Path):
    import json

    from quadpred.methods import store_kind

    assert store_kind() == "logmel" and store_kind(method="cpc") == "logmel" and store_kind(method="dae") == "smile"
    encoder = tmp_path / "dae-encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps(
        {"kind": "dae", "stage": "dae", "model": to_dict(ModelConfig()), "features": to_dict(SmileConfig())}))
    assert store_kind(method="scae", encoder=encoder) == "smile"  # the weights decide what they read
