"""model.chunk_seconds: an emotion network that reads longer log-mel chunks than the features' 1 s."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from quadpred.config import RunConfig, apply_overrides
from quadpred.errors import ConfigError, ModelDirError, TrainingError
from quadpred.evaluate import SplitPredictions
from quadpred.manifest import split_of
from quadpred.predict import Predictor
from quadpred.stages import transfer
from quadpred.store import ChunkDataset
from quadpred.teachers import teacher_probabilities

SMALL = ["model.encoder.channels=[4,8,8]", "model.head.units=16", "train.batch_size=16", "train.epochs=1"]
FRAME = 512 / 16000  # seconds per log-mel frame


@pytest.fixture(scope="module")
def two_second_model(tiny_study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    clips, store = tiny_study
    folder = tmp_path_factory.mktemp("chunk2") / "baseline"
    transfer(clips["music_eng"], store, folder, stage="baseline",
             run=apply_overrides(RunConfig(), [*SMALL, "model.chunk_seconds=2"]), progress=False)
    return folder


def test_a_two_second_network_trains_scores_and_predicts_on_two_second_chunks(tiny_study, two_second_model: Path,
                                                                                tmp_path: Path):
    clips, store = tiny_study
    assert json.loads((two_second_model / "config.json").read_text())["model"]["chunk_seconds"] == 2
    test_clips = split_of(clips["music_eng"], "test")
    scored = SplitPredictions.load(two_second_model / "predictions_test.npz")
    frames = [store.frames(c.id) for c in test_clips]
    assert len(scored.chunk_clip) == sum(1 + (n - 62) // 62 for n in frames)  # 62 frames, one prediction each
    predictor = Predictor.from_dir(two_second_model, device="cpu")
    signal = np.random.default_rng(0).standard_normal(16000 * 9).astype(np.float32) * 0.1
    result = predictor.predict(signal, sr=16000)
    np.testing.assert_allclose(np.diff(result.start), 62 * FRAME)
    np.testing.assert_allclose(result.end - result.start, 62 * FRAME)
    assert len(result.start) == 4 and result.probabilities["quadrant"].shape == (4, 4)
    with pytest.raises(Exception, match="at least 1.9"):  # a 1.5-s signal gives no 2-s chunk
        predictor.predict(signal[:24000], sr=16000)


def test_a_longer_chunk_network_starts_from_a_one_second_encoder(tiny_study, tiny_model: Path, tmp_path: Path):
    clips, store = tiny_study
    # the convolutional encoder of a 1-s model, frozen under a head for 3-s chunks
    run = apply_overrides(RunConfig(), [*SMALL, "model.chunk_seconds=3"])
    transfer(clips["music_eng"], store, tmp_path / "feat-ext", stage="feat-ext", init=tiny_model, run=run,
             progress=False)
    scored = SplitPredictions.load(tmp_path / "feat-ext" / "predictions_test.npz")
    frames = [store.frames(c.id) for c in split_of(clips["music_eng"], "test")]
    assert len(scored.chunk_clip) == sum(1 + (n - 94) // 94 for n in frames)
    source = torch.load(tiny_model / "weights.pt", weights_only=True)
    kept = torch.load(tmp_path / "feat-ext" / "weights.pt", weights_only=True)
    encoder = [k for k in source if k.startswith("encoder.")]
    assert encoder and all(torch.equal(source[k], kept[k]) for k in encoder)


def test_networks_of_other_chunk_lengths_do_not_mix(tiny_study, tiny_model: Path, two_second_model: Path):
    clips, store = tiny_study
    with pytest.raises(ModelDirError, match="input length"):
        Predictor.from_dirs([tiny_model, two_second_model], device="cpu")
    one_second = ChunkDataset(store, clips["music_eng"][:2], chunk_frames=31, hop_frames=15)
    with pytest.raises(TrainingError, match="chunks of another length"):
        teacher_probabilities([two_second_model], one_second, store, torch.device("cpu"))
    with pytest.raises(ConfigError, match="chunk_seconds"):
        apply_overrides(RunConfig(), ["model.chunk_seconds=0"])


def test_onnx_export_of_a_two_second_network_takes_two_second_chunks(two_second_model: Path, tmp_path: Path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra; install quadpred[test]")
    pytest.importorskip("onnx", reason="onnx is in the test extra; install quadpred[test]")
    from quadpred.export import export_onnx, onnx_difference

    out = export_onnx(two_second_model, tmp_path / "m.onnx")
    assert json.loads(out.with_suffix(".features.json").read_text())["chunk_frames"] == 62
    assert onnx_difference(two_second_model, out, chunks=4) < 1e-4
