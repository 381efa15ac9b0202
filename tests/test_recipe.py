"""The training recipe's options: schedules, song-level epoch selection, weight averaging,
label smoothing, mixup, weight decay, input standardisation."""

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from quadpred.batches import Batches, TensorRows
from quadpred.config import FeatureConfig, RunConfig, TrainConfig, apply_overrides
from quadpred.errors import ConfigError, TrainingError
from quadpred.modeldir import load_model, load_state
from quadpred.models import MultiTaskHead, build_emotion_net
from quadpred.objectives import MultiTask
from quadpred.selection import SongScorer, song_log_loss
from quadpred.stages import transfer
from quadpred.train import fit, learning_rate_factor, make_optimiser

SMALL = ["model.encoder.channels=[4,8,8]", "model.head.units=32", "train.batch_size=16"]


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    config = TrainConfig(epochs=10, schedule="cosine", warmup_epochs=2)
    factor = learning_rate_factor(config, steps_per_epoch=5)
    assert [factor(s) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    after = [factor(s) for s in range(10, 50)]
    assert after[0] == pytest.approx(1.0) and all(a >= b for a, b in zip(after, after[1:]))
    assert factor(49) < 0.01


def test_inverse_time_schedule_is_the_study_s_decay():
    factor = learning_rate_factor(TrainConfig(lr_decay=0.01), steps_per_epoch=7)
    assert factor(0) == 1.0 and factor(100) == pytest.approx(1 / 2)


def test_bad_recipe_values_are_named():
    for bad, word in ((dict(schedule="linear"), "schedule"), (dict(select="f1"), "select"),
                      (dict(label_smoothing=1.0), "label_smoothing"), (dict(ema=-0.1), "ema"),
                      (dict(average_last=1.5), "average_last"), (dict(average_last=0.5, ema=0.9), "set one of them"),
                      (dict(weight_decay=-1.0), "weight_decay")):
        with pytest.raises(ConfigError, match=word):
            TrainConfig(**bad)


def test_weight_decay_shrinks_weight_matrices_only():
    layers = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    weight, bias, scale = layers[0].weight, layers[0].bias, layers[1].weight
    before = [p.detach().clone() for p in (weight, bias, scale)]
    parameters = list(layers.parameters())
    for p in parameters:
        p.grad = torch.zeros_like(p)  # no gradient: only the decay can move a parameter
    make_optimiser(parameters, TrainConfig(lr=0.1, weight_decay=0.5)).step()
    assert torch.allclose(weight, before[0] * (1 - 0.1 * 0.5))
    assert torch.equal(bias, before[1]) and torch.equal(scale, before[2])
    plain = make_optimiser(parameters, TrainConfig(lr=0.1))
    assert type(plain) is torch.optim.Adam and plain.param_groups[0]["weight_decay"] == 0


def test_song_log_loss_and_scorer_average_chunks_per_song():
    songs = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    assert song_log_loss(songs, np.array([0, 2])) == pytest.approx(-(math.log(0.7) + math.log(0.25)) / 2)
    # a head that always says class 0 strongly: two songs of class 0 and 1
    head = torch.nn.Module()
    head.forward = lambda x: {"quadrant": torch.tensor([[5.0, 0, 0, 0]]).repeat(len(x), 1)}  # type: ignore[method-assign]
    rows = TensorRows(torch.zeros(6, 3), torch.zeros(6, 3, dtype=torch.long))
    scorer = SongScorer(Batches(rows, 4), np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1]))
    scores = scorer(head, torch.device("cpu"), lambda: torch.autocast("cpu", enabled=False))
    p0 = math.exp(5) / (math.exp(5) + 3)
    assert scores["song_loss"] == pytest.approx(-(math.log(p0) + math.log((1 - p0) / 3)) / 2, rel=1e-5)
    assert scores["song_f1"] == pytest.approx(np.mean([2 / 3, 0, 0, 0]))


def test_song_selection_keeps_the_epoch_of_the_lowest_song_loss(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    run = apply_overrides(RunConfig(), SMALL + ["train.epochs=4", "train.patience=4", "train.select=song-loss",
                                                "train.lr=0.003"])
    result = transfer(clips["music_eng"], store, tmp_path / "b", stage="baseline", run=run, progress=False)
    losses = [row["valid_song_loss"] for row in result.history]
    assert all("valid_song_f1" in row for row in result.history)
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert result.best_valid_loss == pytest.approx(min(losses))
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["select"] == "song-loss"


def test_song_selection_needs_songs():
    run = apply_overrides(RunConfig(), ["train.select=song-f1", "train.lr=1e-3"])
    head = MultiTaskHead(8, units=8, trunk_layers=1, head_layers=1)
    rows = TensorRows(torch.randn(8, 8), torch.zeros(8, 3, dtype=torch.long))
    with pytest.raises(TrainingError, match="train.select=song-f1"):
        fit(head, MultiTask(), Batches(rows, 8), Batches(rows, 8), folder=Path("/nonexistent-never-written"),
            config=run.train, device=torch.device("cpu"), progress=False)


def test_weight_average_is_what_is_kept_and_resumes_exactly(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    run = apply_overrides(RunConfig(), SMALL + ["train.epochs=3", "train.patience=5", "train.ema=0.9",
                                                "train.schedule=cosine", "train.warmup_epochs=1"])
    whole = transfer(clips["music_eng"], store, tmp_path / "whole", stage="baseline", run=run, progress=False)

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transfer(clips["music_eng"], store, tmp_path / "cut", stage="baseline", run=run, progress=False,
                 on_epoch_end=interrupt)
    transfer(clips["music_eng"], store, tmp_path / "cut", stage="baseline", run=run, progress=False)
    a, b = load_state(tmp_path / "whole"), load_state(tmp_path / "cut")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    # the same run without averaging keeps other weights
    plain = transfer(clips["music_eng"], store, tmp_path / "plain", stage="baseline",
                     run=apply_overrides(run, ["train.ema=0"]), progress=False)
    assert whole.best_epoch >= 1 and plain.best_epoch >= 1
    c = load_state(tmp_path / "plain")
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_averaging_the_last_epochs_keeps_the_mean_of_their_weights_and_resumes_exactly(tiny_study, tmp_path: Path,
                                                                                       caplog):
    from quadpred.stages import EPOCHS_FOLDER, transfer_stages

    clips, store = tiny_study
    run = apply_overrides(RunConfig(), SMALL + ["train.epochs=5", "train.patience=1", "train.average_last=0.5",
                                                "train.select=song-loss", "train.lr=0.003"])
    with caplog.at_level(logging.INFO, logger="quadpred"):
        transfer_stages(clips["music_eng"], store, tmp_path / "whole", encoder=None, run=run, progress=True,
                        keep_epochs=True)
    epoch_lines = [r.getMessage() for r in caplog.records if " epoch " in r.getMessage() and "train " in r.getMessage()]
    # the log says which epochs' weights are averaged; no epoch is "best", since none is chosen
    assert [line.endswith("(in the average)") for line in epoch_lines] == [False, False, True, True, True]
    assert not any("(best)" in line for line in epoch_lines)
    folder = tmp_path / "whole" / "baseline"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["epochs_run"] == 5 and summary["best_epoch"] == 5  # no early stop, nothing chosen
    late = [torch.load(folder / EPOCHS_FOLDER / f"epoch{n}.pt", weights_only=True) for n in (3, 4, 5)]  # the last half
    kept = load_state(folder)
    for key, value in kept.items():
        if value.is_floating_point():  # weights and batch-norm statistics: the mean of the three epochs'
            torch.testing.assert_close(value, torch.stack([s[key] for s in late]).mean(dim=0), rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(kept[k], late[-1][k]) for k in kept if kept[k].is_floating_point())

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 4:  # inside the averaged epochs
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transfer(clips["music_eng"], store, tmp_path / "cut", stage="baseline", run=run, progress=False,
                 on_epoch_end=interrupt)
    transfer(clips["music_eng"], store, tmp_path / "cut", stage="baseline", run=run, progress=False)
    resumed = load_state(tmp_path / "cut")
    for key in kept:
        torch.testing.assert_close(resumed[key], kept[key], rtol=0, atol=0, msg=key)


def test_label_smoothing_and_mixup_change_only_the_training_loss():
    torch.manual_seed(0)
    head = MultiTaskHead(8, units=16, trunk_layers=1, head_layers=1, dropout=0.0)
    x, y = torch.randn(32, 8), torch.randint(0, 2, (32, 3))
    plain, smoothed = MultiTask(), MultiTask(label_smoothing=0.2)
    assert smoothed.loss(head, (x, y), training=False)[0] == plain.loss(head, (x, y), training=False)[0]
    assert smoothed.loss(head, (x, y), training=True)[0] != plain.loss(head, (x, y), training=True)[0]
    mixed = MultiTask(mixup=0.4)
    torch.manual_seed(1)
    first = mixed.loss(head, (x, y), training=True)[0]
    torch.manual_seed(1)
    assert mixed.loss(head, (x, y), training=True)[0] == first  # seeded: repeatable
    assert mixed.loss(head, (x, y), training=False)[0] == plain.loss(head, (x, y), training=False)[0]
    assert first != plain.loss(head, (x, y), training=True)[0]


def test_input_standardisation_is_fitted_on_training_chunks_and_kept(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    run = apply_overrides(RunConfig(), SMALL + ["train.epochs=1", "model.input_norm=true"])
    transfer(clips["music_eng"], store, tmp_path / "b", stage="baseline", run=run, progress=False)
    model, _ = load_model(tmp_path / "b")
    assert model.norm is not None
    from quadpred.store import ChunkDataset

    chunks = ChunkDataset(store, [c for c in clips["music_eng"] if c.split == "train"]).gather(np.arange(64))[0]
    standardised = model.norm(chunks)
    assert float(standardised.mean().abs()) < 0.5
    assert float(model.norm.scale.min()) > 0 and float(model.norm.mean.abs().max()) > 0.1
    # without the option the network has no such layer (and old model directories still load)
    assert build_emotion_net(RunConfig().model, FeatureConfig()).norm is None


def test_the_cv_recipe_averages_both_stages_of_a_pretrained_encoder(tiny_study, tmp_path: Path):
    """The cv recipe's weight averaging also runs the feat-ext head (trained on cached embeddings)
    and the full fine-tuning to their last epoch, choosing none."""
    from quadpred.config import RECIPES, with_settings
    from quadpred.stages import EPOCHS_FOLDER, pretrain, transfer_stages

    clips, store = tiny_study
    tiny = apply_overrides(RunConfig(), SMALL + ["train.epochs=1"])
    pretrain(clips["speech_eng"], store, tmp_path / "pre", run=tiny, progress=False)
    run = apply_overrides(with_settings(RunConfig(), RECIPES["cv"]), SMALL + ["train.epochs=4", "train.max_batches=4"])
    assert run.train.average_last == 0.5 and run.train.epochs == 4
    results = transfer_stages(clips["music_eng"], store, tmp_path / "tr", encoder=tmp_path / "pre", run=run,
                              progress=False, keep_epochs=True)
    for stage in ("feat-ext", "full"):
        summary = json.loads((tmp_path / "tr" / stage / "summary.json").read_text())
        assert summary["epochs_run"] == 4 and summary["best_epoch"] == 4, stage  # no early stop, nothing chosen
    assert set(results) == {"feat-ext", "full"}
    folder = tmp_path / "tr" / "full"
    late = [torch.load(folder / EPOCHS_FOLDER / f"epoch{n}.pt", weights_only=True) for n in (3, 4)]
    kept = load_state(folder)
    for key, value in kept.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (late[0][key] + late[1][key]) / 2, rtol=1e-5, atol=1e-6)
