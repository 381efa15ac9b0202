import pytest

from quadpred.config import FeatureConfig, apply_overrides, load_json, save_json
from quadpred.errors import ConfigError


def test_defaults_are_the_papers():
    c = FeatureConfig()
    assert (c.sample_rate, c.n_fft, c.win_length, c.hop_length, c.n_mels, c.chunk_frames) == (16000, 2048, 1024, 512, 128, 31)
    assert c.log_eps == pytest.approx(1.1920929e-07)


def test_overrides_parse_values_and_reject_unknown_keys():
    c = apply_overrides(FeatureConfig(), ["n_mels=64", "pad_mode=constant", "fmax=null"])
    assert (c.n_mels, c.pad_mode, c.fmax) == (64, "constant", None)
    with pytest.raises(ConfigError, match="unknown key"):
        apply_overrides(FeatureConfig(), ["n_mel=64"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(FeatureConfig(), ["n_mels"])
    with pytest.raises(ConfigError, match="pad_mode"):
        apply_overrides(FeatureConfig(), ["pad_mode=wrap"])


def test_json_round_trip_and_unknown_key_in_file(tmp_path):
    c = FeatureConfig(n_mels=96)
    save_json(c, tmp_path / "c.json")
    assert load_json(FeatureConfig, tmp_path / "c.json") == c
    (tmp_path / "bad.json").write_text('{"n_mels": 64, "colour": "red"}')
    with pytest.raises(ConfigError, match="colour"):
        load_json(FeatureConfig, tmp_path / "bad.json")


def test_spectrogram_key_ignores_chunking_only():
    base = FeatureConfig()
    assert base.spectrogram_key() == FeatureConfig(train_hop_frames=10).spectrogram_key()
    assert base.spectrogram_key() != FeatureConfig(n_mels=64).spectrogram_key()
