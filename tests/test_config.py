import json
import logging
from pathlib import Path

import pytest

from quadpred.config import (
    RENAMED_MODEL_KEYS,
    FeatureConfig,
    ModelConfig,
    RunConfig,
    apply_overrides,
    from_dict,
    load_json,
    save_json,
    setting,
    to_dict,
    with_settings,
)
from quadpred.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "quadpred" / "pretrained"


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


def test_model_config_has_sections_and_reads_the_flat_keys_of_older_files():
    flat = {"channels": [8, 16, 32], "pools": [4, 4, 2, 2], "conv_dropout": 0.1, "dense_units": 64, "trunk_layers": 2,
            "head_layers": 1, "dense_dropout": 0.3, "cpc_code_dim": 32, "cpc_context_dim": 48, "cpc_steps": 2,
            "cpc_segments": 5, "cpc_objective": "binary", "dae_hidden": 20, "dae_seconds": 3.0, "dae_head_hidden": 10,
            "input_norm": True}
    assert set(flat) - {"input_norm"} == set(RENAMED_MODEL_KEYS)
    model = from_dict(ModelConfig, flat)
    for old, new in RENAMED_MODEL_KEYS.items():
        value = setting(model, new)
        assert (list(value) if isinstance(value, tuple) else value) == flat[old], old
    assert model.input_norm is True
    assert set(to_dict(model)) == {"encoder", "head", "cpc", "dae", "input_norm", "chunk_seconds"}
    assert model.chunk_seconds is None  # a file from before the setting: the features' chunk, as it was trained
    # a file that names a setting twice (old flat key and its section) takes the flat key, as written
    assert from_dict(ModelConfig, {"dense_units": 64, "head": {"units": 8, "dropout": 0.5}}).head.units == 64
    # the shipped model directories were written with flat keys: they read as the sectioned config
    info = json.loads((SHIPPED / "eng2eng" / "member0" / "config.json").read_text())
    assert "dense_units" in info["model"] and from_dict(ModelConfig, info["model"]) == ModelConfig()


def test_old_override_keys_still_work_and_say_their_new_name(caplog):
    with caplog.at_level(logging.WARNING, logger="quadpred.config"):
        run = apply_overrides(RunConfig(), ["model.dense_units=128", "model.cpc_objective=binary"])
    assert run.model.head.units == 128 and run.model.cpc.objective == "binary"
    assert "model.dense_units is now model.head.units" in caplog.text
    assert apply_overrides(RunConfig(), ["model.head.units=128", "model.cpc.objective=binary"]) == run
    with pytest.raises(ConfigError, match="unknown key"):
        apply_overrides(RunConfig(), ["model.head.dense_units=3"])
    with pytest.raises(ConfigError, match="model.cpc.steps"):
        apply_overrides(RunConfig(), ["model.cpc.steps=9"])
    with pytest.raises(ConfigError, match="unknown key"):
        with_settings(ModelConfig(), {"head.width": 3})
