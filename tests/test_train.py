"""The training loop and the study's stages on the tiny built-in world."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from quadpred.batches import Batches, TensorRows
from quadpred.config import RunConfig, apply_overrides
from quadpred.errors import TrainingError
from quadpred.modeldir import load_model, load_state
from quadpred.models import EmotionNet, MultiTaskHead
from quadpred.objectives import MultiTask, inverse_frequency_weights
from quadpred.stages import pretrain, transfer, transfer_stages
from quadpred.train import fit

SMALL = ["model.encoder.channels=[4,8,8]", "model.head.units=32", "train.epochs=2", "train.batch_size=16"]


def small_run(*extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), SMALL + list(extra))


def weights_of(folder: Path) -> dict[str, torch.Tensor]:
    return load_state(folder)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_overfit_a_few_chunks_with_the_loop(tmp_path: Path):
    torch.manual_seed(0)
    x = torch.randn(12, 1, 128, 31).cumsum(dim=2) / 10
    y = torch.tensor([[q, int(q < 2), int(q in (0, 3))] for q in [0, 1, 2, 3] * 3])
    run = apply_overrides(RunConfig(), ["model.encoder.channels=[4,8,8]", "model.head.units=64", "model.encoder.dropout=0",
                                        "model.head.dropout=0", "train.epochs=40", "train.patience=40",
                                        "train.batch_size=12", "train.lr=1e-3"])
    from quadpred.config import FeatureConfig
    from quadpred.models import build_emotion_net

    model = build_emotion_net(run.model, FeatureConfig())
    result = fit(model, MultiTask(), Batches(TensorRows(x, y), 12, shuffle=True), None, folder=tmp_path,
                 config=run.train, device=torch.device("cpu"), progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.2 * losses[0]
    assert (tmp_path / "history.json").is_file() and (tmp_path / "history.csv").is_file()
    assert not (tmp_path / "checkpoint.pt").exists()


def test_pretrain_writes_a_self_describing_model_directory(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    result = pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run(), progress=False)
    info = json.loads((tmp_path / "pre" / "config.json").read_text())
    assert info["kind"] == "scae" and info["languages"] == ["eng"]
    assert info["model"]["encoder"]["channels"] == [4, 8, 8] and info["features"]["n_mels"] == 128
    assert set(info["labels"]) == {"quadrant", "arousal", "valence"}
    assert info["data"]["clips"] > 0
    assert result.epochs_run == 2 and len(result.history) == 2
    summary = json.loads((tmp_path / "pre" / "summary.json").read_text())
    assert summary["best_epoch"] in (1, 2) and summary["device"] == "cpu"
    model, _ = load_model(tmp_path / "pre")
    assert model(torch.zeros(2, 1, 128, 31)).shape == (2, 1, 128, 31)


def test_same_seed_same_weights_and_another_seed_differs(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        pretrain(clips["speech_man"], store, tmp_path / name, run=small_run(f"train.seed={seed}"), progress=False)
    assert_same_weights(weights_of(tmp_path / "a"), weights_of(tmp_path / "b"))
    a, c = weights_of(tmp_path / "a"), weights_of(tmp_path / "c")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_resume_after_interruption_equals_an_uninterrupted_run(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    run = small_run("train.epochs=3", "train.patience=10")
    pretrain(clips["speech_eng"], store, tmp_path / "whole", run=run, progress=False)

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(clips["speech_eng"], store, tmp_path / "cut", run=run, progress=False, on_epoch_end=interrupt)
    assert (tmp_path / "cut" / "checkpoint.pt").is_file() and not (tmp_path / "cut" / "weights.pt").exists()
    resumed = pretrain(clips["speech_eng"], store, tmp_path / "cut", run=run, progress=False)
    assert resumed.epochs_run == 3 and [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert_same_weights(weights_of(tmp_path / "whole"), weights_of(tmp_path / "cut"))


def test_a_finished_run_is_not_repeated_and_a_different_one_refused(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run(), progress=False)
    stamp = (tmp_path / "pre" / "weights.pt").stat().st_mtime_ns
    again = pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run(), progress=False)
    assert again.epochs_run == 2 and (tmp_path / "pre" / "weights.pt").stat().st_mtime_ns == stamp
    with pytest.raises(TrainingError, match="other settings"):
        pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run("train.epochs=3"), progress=False)


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path):
    torch.manual_seed(0)
    x, y = torch.randn(16, 32), torch.randint(0, 2, (16, 3))
    noise_x, noise_y = torch.randn(16, 32), torch.randint(0, 2, (16, 3))
    run = apply_overrides(RunConfig(), ["train.epochs=30", "train.patience=2", "train.lr=1e-2"])
    head = MultiTaskHead(32, units=64, trunk_layers=1, head_layers=1, dropout=0.0)
    result = fit(head, MultiTask(), Batches(TensorRows(x, y), 16), Batches(TensorRows(noise_x, noise_y), 16),
                 folder=tmp_path, config=run.train, device=torch.device("cpu"), progress=False)
    assert result.stopped_early and result.epochs_run == result.best_epoch + 2
    valid = [row["valid_loss"] for row in result.history]
    assert result.best_valid_loss == min(valid)


def test_feat_ext_freezes_the_encoder_and_full_trains_it(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run(), progress=False)
    results = transfer_stages(clips["music_eng"], store, tmp_path / "tr", encoder=tmp_path / "pre",
                              run=small_run(), progress=False)
    assert set(results) == {"feat-ext", "full"}
    pre, feat, full = (weights_of(p) for p in (tmp_path / "pre", tmp_path / "tr/feat-ext", tmp_path / "tr/full"))
    encoder_keys = [k for k in feat if k.startswith("encoder.")]
    assert encoder_keys
    for key in encoder_keys:  # every encoder tensor, batch-norm statistics included
        assert torch.equal(feat[key], pre[key]), key
    assert any(not torch.equal(full[k], feat[k]) for k in encoder_keys)
    head_keys = [k for k in feat if k.startswith("head.")]
    assert any(not torch.equal(full[k], feat[k]) for k in head_keys)
    metrics = json.loads((tmp_path / "tr/full/metrics.json").read_text())
    assert set(metrics) == {"valid", "test"}
    for level in ("chunk", "song"):
        assert set(metrics["test"][level]) == {"quadrant", "arousal", "valence"}
        assert 0 <= metrics["test"][level]["quadrant"]["f1"] <= 1
        assert np.array(metrics["test"][level]["quadrant"]["confusion"]).shape == (4, 4)
    info = json.loads((tmp_path / "tr/full/config.json").read_text())
    assert info["init"]["folder"] == str(tmp_path / "tr/feat-ext") and info["stage"] == "full"


def test_cached_embeddings_follow_the_uncached_loss_trajectory(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run(), progress=False)
    histories = {}
    for cache in (True, False):
        result = transfer(clips["music_eng"], store, tmp_path / str(cache), stage="feat-ext", init=tmp_path / "pre",
                          run=small_run("train.epochs=3", f"train.cache_embeddings={str(cache).lower()}"),
                          progress=False)
        histories[cache] = [(r["train_loss"], r["valid_loss"]) for r in result.history]
    np.testing.assert_allclose(histories[True], histories[False], rtol=1e-4)
    a, b = weights_of(tmp_path / "True"), weights_of(tmp_path / "False")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-5)


def test_baseline_trains_everything_from_random_weights(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    results = transfer_stages(clips["music_man"], store, tmp_path / "tr", encoder=None, run=small_run(), progress=False)
    assert list(results) == ["baseline"]
    info = json.loads((tmp_path / "tr/baseline/config.json").read_text())
    assert info["init"] is None and info["stage"] == "baseline"
    model, _ = load_model(tmp_path / "tr/baseline")
    assert isinstance(model, EmotionNet)
    out = model(torch.zeros(3, 1, 128, 31))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"quadrant": (3, 4), "arousal": (3, 2), "valence": (3, 2)}


@pytest.mark.parametrize("objective", ["infonce", "binary"])
def test_cpc_pretraining_plugs_into_transfer(tiny_study, tmp_path: Path, objective: str):
    clips, store = tiny_study
    run = small_run("model.cpc.segments=3", "model.cpc.steps=2", "model.cpc.code_dim=16",
                    "model.cpc.context_dim=16", f"model.cpc.objective={objective}")
    result = pretrain(clips["speech_eng"] + clips["speech_man"], store, tmp_path / "cpc", method="cpc", run=run,
                      progress=False)
    assert np.isfinite(result.best_valid_loss)
    assert json.loads((tmp_path / "cpc/config.json").read_text())["languages"] == ["eng", "man"]
    transfer(clips["music_eng"], store, tmp_path / "fe", stage="feat-ext", init=tmp_path / "cpc", run=run,
             progress=False)
    cpc, feat = weights_of(tmp_path / "cpc"), weights_of(tmp_path / "fe")
    for key in (k for k in feat if k.startswith("encoder.")):
        assert torch.equal(cpc[key], feat[key])


def test_transfer_refuses_unlabelled_clips_and_wrong_stage_inputs(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    with pytest.raises(TrainingError, match="quadrant label"):
        transfer(clips["speech_eng"], store, tmp_path / "x", stage="baseline", run=small_run(), progress=False)
    with pytest.raises(TrainingError, match="needs a pretrained"):
        transfer(clips["music_eng"], store, tmp_path / "y", stage="feat-ext", run=small_run(), progress=False)
    with pytest.raises(TrainingError, match="unknown"):
        transfer(clips["music_eng"], store, tmp_path / "z", stage="fine", run=small_run(), progress=False)


def test_class_weights_are_inverse_frequencies():
    targets = np.array([[0, 1, 1]] * 6 + [[2, 0, 0]] * 2)
    weights = inverse_frequency_weights(targets)
    torch.testing.assert_close(weights["quadrant"], torch.tensor([8 / (2 * 6), 0.0, 8 / (2 * 2), 0.0]))
    torch.testing.assert_close(weights["arousal"], torch.tensor([8 / (2 * 2), 8 / (2 * 6)]))


def test_balanced_sampling_draws_classes_evenly():
    labels = np.array([0] * 90 + [1] * 10)
    batches = Batches(TensorRows(torch.arange(100)), 10, balance_by=labels, seed=3)
    drawn = labels[np.concatenate([batches.order(e) for e in range(20)])]
    assert abs(drawn.mean() - 0.5) < 0.05
    assert not np.array_equal(batches.order(0), batches.order(1))
    np.testing.assert_array_equal(batches.order(4), Batches(TensorRows(torch.arange(100)), 10, balance_by=labels,
                                                            seed=3).order(4))


def test_tune_runs_trials_and_keeps_the_best(tiny_study, tmp_path: Path):
    pytest.importorskip("optuna", reason="optuna is in the test extra; install quadpred[test]")
    clips, store = tiny_study
    results = transfer_stages(clips["music_eng"], store, tmp_path / "tr", encoder=None, run=small_run("train.epochs=1"),
                              progress=False, trials=2)
    report = json.loads((tmp_path / "tr/baseline/tune.json").read_text())
    assert len(report["trials"]) == 2
    best = min(report["trials"], key=lambda t: t["valid_loss"])
    assert report["best"]["trial"] == best["trial"]
    assert results["baseline"].best_valid_loss == pytest.approx(best["valid_loss"])
    chosen = json.loads((tmp_path / "tr/baseline/config.json").read_text())["train"]
    assert chosen["lr"] == pytest.approx(best["lr"]) and chosen["lr_decay"] == pytest.approx(best["lr_decay"])


def test_settings_the_pretrained_encoder_overrides_are_named_in_a_warning(tiny_study, tmp_path: Path, caplog):
    import logging

    clips, store = tiny_study
    pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run("train.epochs=1"), progress=False)
    with caplog.at_level(logging.WARNING, logger="quadpred"):
        transfer(clips["music_eng"], store, tmp_path / "tr", stage="feat-ext", init=tmp_path / "pre",
                 run=small_run("train.epochs=1", "model.encoder.channels=[8,8,16]"), progress=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("model.encoder.channels=[8, 8, 16] -> [4, 8, 8]" in w for w in warnings), warnings  # as the user wrote it
    assert json.loads((tmp_path / "tr" / "config.json").read_text())["model"]["encoder"]["channels"] == [4, 8, 8]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="quadpred"):  # defaults left alone: nothing to say
        transfer(clips["music_eng"], store, tmp_path / "tr2", stage="feat-ext", init=tmp_path / "pre",
                 run=apply_overrides(RunConfig(), ["model.head.units=32", "train.epochs=1", "train.batch_size=16"]),
                 progress=False)
    assert not [r for r in caplog.records if "decides its shape" in r.getMessage()]
