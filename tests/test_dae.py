"""Hand-crafted features (openSMILE) and the DAE baseline."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tone

from quadpred.config import RunConfig, SmileConfig, apply_overrides
from quadpred.errors import TrainingError
from quadpred.experiment import ExperimentConfig, plan
from quadpred.modeldir import load_model, load_state
from quadpred.stages import pretrain, transfer

pytest.importorskip("opensmile", reason="openSMILE is in the test extra; install quadpred[test]")


@pytest.fixture(scope="module")
def smile_store(tiny_study):
    from quadpred.store import FeatureStore, extract

    clips, store = tiny_study
    root = store.folder.parent
    extract([c for found in clips.values() for c in found], root, SmileConfig(), workers=2, progress=False)
    return clips, FeatureStore.open(root, SmileConfig())


def test_handcrafted_features_are_260_per_half_second():
    from quadpred.handcrafted import compute_handcrafted, low_level_descriptors

    signal = tone(4.0, 16000, noise=0.05)
    descriptors, step = low_level_descriptors(signal, SmileConfig())
    assert descriptors.shape[0] == 130 and step == 0.01 and 395 <= descriptors.shape[1] <= 400
    values = compute_handcrafted(signal, SmileConfig())
    # one step per whole 1-s window (100 frames) every 0.5 s (50 frames)
    assert values.shape == (260, 1 + (descriptors.shape[1] - 100) // 50) and values.dtype == np.float32
    assert np.isfinite(values).all()
    assert (values[130:] >= 0).all()  # the second half are standard deviations
    assert values[:130].std(axis=1).max() > 0


def test_store_holds_both_kinds_side_by_side(smile_store):
    from quadpred.store import FeatureStore

    clips, store = smile_store
    assert store.config.rows == 260 and not store.verify()
    root = store.folder.parent
    assert FeatureStore.open(root, kind="smile").folder == store.folder
    assert FeatureStore.open(root, kind="logmel").folder != store.folder
    some = clips["music_eng"][0]
    assert store.load(some.id).shape[0] == 260


def test_dae_pretraining_and_frozen_transfer(smile_store, tmp_path: Path):
    clips, store = smile_store
    run = apply_overrides(RunConfig(), ["model.dae.seconds=2", "model.dae.hidden=16", "model.dae.head_hidden=8",
                                        "train.epochs=2"])
    result = pretrain(clips["speech_eng"], store, tmp_path / "pre", method="dae", run=run, progress=False)
    assert np.isfinite(result.best_valid_loss)
    model, info = load_model(tmp_path / "pre")
    assert info["kind"] == "dae" and model.encoder.std.min() > 0
    transfer(clips["music_eng"], store, tmp_path / "fe", stage="feat-ext", init=tmp_path / "pre", run=run, progress=False)
    pre, fe = load_state(tmp_path / "pre"), load_state(tmp_path / "fe")
    for key in (k for k in fe if k.startswith("encoder.")):
        assert torch.equal(pre[key], fe[key]), key
    metrics = json.loads((tmp_path / "fe" / "metrics.json").read_text())
    assert 0 <= metrics["test"]["song"]["quadrant"]["f1"] <= 1
    with pytest.raises(TrainingError, match="log-mel"):
        pretrain(clips["speech_eng"], store, tmp_path / "x", method="scae", run=run, progress=False)


def test_dae_methods_join_the_grid():
    config = ExperimentConfig(speech={"eng": ["e"]}, music={"eng": ["m"]}, methods=["dae-classifier", "dae-sparsity"],
                              repeats=1)
    names = {s.folder: s for s in plan(config)}
    assert {"pretrain/dae-classifier-eng/r0", "pretrain/dae-sparsity-eng/r0"} <= set(names)
    assert names["transfer/eng2eng/dae-sparsity/r0"].stages == ("feat-ext",)
