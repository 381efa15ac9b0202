"""model.head.time_pool: a head that reads the encoder's output pooled over time."""

from pathlib import Path

import numpy as np
import torch

from quadpred.config import RunConfig, apply_overrides
from quadpred.predict import Predictor
from quadpred.stages import transfer

SMALL = ["model.encoder.channels=[4,8,8]", "model.head.units=16", "train.batch_size=16", "train.epochs=1"]


def test_a_time_pooled_network_transfers_in_both_stages_and_predicts(tiny_study, tiny_model: Path, tmp_path: Path):
    clips, store = tiny_study
    run = apply_overrides(RunConfig(), [*SMALL, "model.head.time_pool=mean-max"])
    # feat-ext trains the head on cached (pooled) embeddings of the frozen encoder, then full fine-tunes all
    transfer(clips["music_eng"], store, tmp_path / "feat-ext", stage="feat-ext", init=tiny_model, run=run,
             progress=False)
    transfer(clips["music_eng"], store, tmp_path / "full", stage="full", init=tmp_path / "feat-ext", run=run,
             progress=False)
    for stage in ("feat-ext", "full"):
        weights = torch.load(tmp_path / stage / "weights.pt", weights_only=True)
        assert weights["head.trunk.0.weight"].shape == (16, 2 * 8 * 2)  # mean and max of 8 channels x 2 bands
    source = torch.load(tiny_model / "weights.pt", weights_only=True)
    kept = torch.load(tmp_path / "feat-ext" / "weights.pt", weights_only=True)
    assert all(torch.equal(source[k], kept[k]) for k in source if k.startswith("encoder."))
    predictor = Predictor.from_dir(tmp_path / "full", device="cpu")
    signal = np.random.default_rng(0).standard_normal(16000 * 5).astype(np.float32) * 0.1
    result = predictor.predict(signal, sr=16000)
    assert result.probabilities["quadrant"].shape == (len(result.start), 4) and len(result.start) >= 4
    np.testing.assert_allclose(result.probabilities["quadrant"].sum(axis=1), 1.0, atol=1e-5)
