"""Distillation: a student network learns its teachers' probabilities (train.distil, --teachers)."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from quadpred.config import RunConfig, apply_overrides
from quadpred.crossval import FoldSongs, assign_folds, fold_clips, run_cv
from quadpred.errors import ConfigError, TrainingError
from quadpred.featurekinds import chunking
from quadpred.labels import TASKS
from quadpred.manifest import split_of
from quadpred.objectives import MultiTask
from quadpred.stages import TEACHERS_NAME, transfer
from quadpred.store import ChunkDataset
from quadpred.teachers import teacher_probabilities

SMALL = ["model.encoder.channels=[4,8,8]", "model.head.units=16", "train.batch_size=16", "train.epochs=2",
         "train.select=song-loss"]
CLASSES = sum(len(names) for names in TASKS.values())


class Heads(nn.Module):
    """One linear layer per task over a flat input: the smallest network MultiTask can train."""

    def __init__(self, inputs: int) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({task: nn.Linear(inputs, len(names)) for task, names in TASKS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {task: layer(x) for task, layer in self.layers.items()}


def teacher_rows(quadrant: int, arousal: int, valence: int, n: int) -> torch.Tensor:
    """(n, 8) one-hot teachers' probabilities in TASKS order."""
    row = torch.cat([torch.eye(4)[quadrant], torch.eye(2)[arousal], torch.eye(2)[valence]])
    return row.repeat(n, 1)


def test_the_teachers_share_of_the_loss_is_their_cross_entropy_and_validation_ignores_them():
    torch.manual_seed(0)
    model = Heads(5)
    x = torch.randn(6, 5)
    labels = torch.tensor([[0, 0, 0]] * 6)
    soft = torch.softmax(torch.randn(6, CLASSES), dim=1)  # any rows; normalised per task below
    soft = torch.cat([soft[:, :4] / soft[:, :4].sum(1, keepdim=True), soft[:, 4:6] / soft[:, 4:6].sum(1, keepdim=True),
                      soft[:, 6:] / soft[:, 6:].sum(1, keepdim=True)], dim=1)
    batch = (x, labels, soft)
    hard, _ = MultiTask().loss(model, batch, training=True)
    logits = model(x)
    by_hand = sum(-(soft[:, a:b] * torch.log_softmax(logits[task], 1)).sum(1).mean()
                  for task, (a, b) in zip(TASKS, ((0, 4), (4, 6), (6, 8))))
    taught, _ = MultiTask(distil=1.0).loss(model, batch, training=True)
    half, _ = MultiTask(distil=0.5).loss(model, batch, training=True)
    torch.testing.assert_close(taught, by_hand)
    torch.testing.assert_close(half, 0.5 * hard + 0.5 * by_hand)
    assert not torch.allclose(taught, hard)
    validated, _ = MultiTask(distil=1.0).loss(model, (x, labels), training=False)  # no teachers in validation
    torch.testing.assert_close(validated, hard)


def test_a_student_taught_alone_follows_its_teachers_against_the_labels():
    torch.manual_seed(0)
    model = Heads(5)
    x = torch.randn(32, 5)
    labels = torch.tensor([[0, 0, 0]] * 32)
    batch = (x, labels, teacher_rows(2, 1, 1, 32))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(60):
        optimiser.zero_grad()
        loss, _ = MultiTask(distil=1.0).loss(model, batch, training=True)
        loss.backward()
        optimiser.step()
    out = model(x)
    assert (out["quadrant"].argmax(1) == 2).all() and (out["arousal"].argmax(1) == 1).all()
    assert (out["valence"].argmax(1) == 1).all()


def test_distil_is_a_share_of_the_loss():
    with pytest.raises(ConfigError, match="distil"):
        apply_overrides(RunConfig(), ["train.distil=1.5"])


def test_a_cross_validated_student_learns_each_fold_from_its_teachers_fold_models(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    music = clips["music_eng"]
    run = apply_overrides(RunConfig(), SMALL)
    teacher = tmp_path / "teacher"
    run_cv(music, teacher, method="baseline", store=store, run=run, k=2, progress=False)
    taught_run = apply_overrides(run, ["train.distil=0.5"])
    summary = run_cv(music, tmp_path / "student", method="baseline", store=store, run=taught_run, k=2,
                     progress=False, teachers=[teacher])
    assert summary["pooled"]["songs"] == len(music)
    assert json.loads((tmp_path / "student" / "method.json").read_text())["teachers"] == [str(teacher)]
    folds = assign_folds(music, 2)
    for fold in range(2):
        model_dir = tmp_path / "student" / f"fold{fold}" / "baseline"
        info = json.loads((model_dir / "config.json").read_text())
        assert info["teachers"] == [str(teacher / f"fold{fold}" / "baseline")]
        precision = info["train"]["precision"]  # the run's, as resolved for this CPU
        kept = np.load(model_dir / TEACHERS_NAME)
        # the teacher of this fold, on the student's training chunks: its own training clips
        steps, hop, _ = chunking(store.config, run.model)
        train_set = ChunkDataset(store, split_of(fold_clips(music, folds, fold), "train"), chunk_frames=steps,
                                 hop_frames=hop)
        expected = teacher_probabilities([teacher / f"fold{fold}" / "baseline"], train_set, store, torch.device("cpu"),
                                         precision)
        np.testing.assert_allclose(kept, expected, atol=1e-5)
        np.testing.assert_allclose(kept[:, :4].sum(1), 1.0, atol=1e-5)
        other = teacher_probabilities([teacher / f"fold{1 - fold}" / "baseline"], train_set, store, torch.device("cpu"),
                                      precision)
        assert np.abs(other - kept).max() > 1e-4  # the other fold's model would have taught otherwise
    untaught = run_cv(music, tmp_path / "plain", method="baseline", store=store, run=run, k=2, progress=False)
    student_songs = FoldSongs.load(tmp_path / "student" / "fold0" / "songs.npz")
    plain_songs = FoldSongs.load(tmp_path / "plain" / "fold0" / "songs.npz")
    assert np.abs(student_songs.probabilities - plain_songs.probabilities).max() > 1e-4
    assert untaught["pooled"]["songs"] == len(music)
    again = run_cv(music, tmp_path / "student", method="baseline", store=store, run=taught_run, k=2,
                   progress=False, teachers=[teacher])  # resumes: nothing is trained again
    assert again["pooled"] == summary["pooled"]
    with pytest.raises(TrainingError, match="another method or recipe"):
        run_cv(music, tmp_path / "student", method="baseline", store=store, run=taught_run, k=2, progress=False,
               teachers=[teacher, teacher])

    # a frozen encoder's head, trained on cached embeddings, is taught through the same rows
    part = fold_clips(music, folds, 0)
    teacher_dir = teacher / "fold0" / "baseline"
    heads = {}
    for name, settings, given in (("taught", taught_run, [teacher_dir]), ("plain", run, [])):
        transfer(part, store, tmp_path / f"head-{name}", stage="feat-ext", init=teacher_dir,
                 run=apply_overrides(settings, ["train.lr=0.01"]), progress=False, teachers=given)
        heads[name] = np.load(tmp_path / f"head-{name}" / "predictions_test.npz")["p_quadrant"]
    assert (tmp_path / "head-taught" / TEACHERS_NAME).is_file() and not (tmp_path / "head-plain" / TEACHERS_NAME).exists()
    assert np.abs(heads["taught"] - heads["plain"]).max() > 1e-3

    # shipped as a one-member default, its card says how it was taught
    ship = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "ship_default_models.py"))
    ship["ship_cv"].__globals__["PACKAGE"] = tmp_path / "pretrained"
    target = ship["ship_cv"]([tmp_path / "student"], "eng", [tmp_path / "plain"], members=[1])
    card = (target / "MODEL.md").read_text()
    assert "`student` was distilled" in card and "train.distil 0.5" in card and "of `teacher`" in card
    assert (target / "member0" / "weights.pt").is_file() and not (target / "member1").exists()
    assert "| plain |" in card


def test_teaching_refuses_what_would_leak_or_mean_nothing(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    music = clips["music_eng"]
    run = apply_overrides(RunConfig(), SMALL)
    taught_run = apply_overrides(run, ["train.distil=0.5"])
    teacher = tmp_path / "teacher"  # the records of a cross-validation on other folds (seed 1)
    teacher.mkdir()
    (teacher / "folds.json").write_text(json.dumps({"k": 2, "seed": 1, "folds": assign_folds(music, 2, seed=1)}))
    (teacher / "method.json").write_text(json.dumps({"method": "baseline", "recipe": None}))
    with pytest.raises(TrainingError, match="other folds"):  # its fold models saw this run's held-out songs
        run_cv(music, tmp_path / "student", method="baseline", store=store, run=taught_run, k=2, progress=False,
               teachers=[teacher])
    (teacher / "folds.json").write_text(json.dumps({"k": 2, "seed": 0, "folds": assign_folds(music, 2)}))
    with pytest.raises(TrainingError, match="holds no trained model"):
        run_cv(music, tmp_path / "student1", method="baseline", store=store, run=taught_run, k=2, progress=False,
               teachers=[teacher])
    with pytest.raises(TrainingError, match="not a cross-validation folder"):
        run_cv(music, tmp_path / "student2", method="baseline", store=store, run=taught_run, k=2, progress=False,
               teachers=[tmp_path])
    with pytest.raises(TrainingError, match="teachers teach networks"):
        run_cv(music, tmp_path / "svm", method="egemaps-svm", k=2, progress=False, teachers=[teacher])
    speech_model = tmp_path / "scae"  # a pretrained encoder's directory is no teacher
    speech_model.mkdir()
    (speech_model / "config.json").write_text(json.dumps({"kind": "scae", "stage": "pretrain", "model": {},
                                                          "features": {}}))
    steps, hop, _ = chunking(store.config, run.model)
    with pytest.raises(TrainingError, match="is a scae model"):
        teacher_probabilities([speech_model], ChunkDataset(store, music[:2], chunk_frames=steps, hop_frames=hop), store,
                              torch.device("cpu"))
    with pytest.raises(TrainingError, match="add --set train.distil"):
        transfer(music, store, tmp_path / "t1", stage="baseline", run=run, progress=False,
                 teachers=[teacher / "fold0" / "baseline"])
    with pytest.raises(TrainingError, match="add --teachers"):
        transfer(music, store, tmp_path / "t2", stage="baseline", run=taught_run, progress=False)


def test_the_full_stage_reuses_the_teachers_probabilities_of_its_feat_ext_stage(tiny_study, tmp_path: Path,
                                                                                monkeypatch):
    clips, store = tiny_study
    part = fold_clips(clips["music_eng"], assign_folds(clips["music_eng"], 2), 0)
    run = apply_overrides(RunConfig(), [*SMALL, "train.epochs=1"])
    teachers = []
    for seed in (0, 1):
        teachers.append(tmp_path / f"teacher{seed}")
        transfer(part, store, teachers[-1], stage="baseline", run=apply_overrides(run, [f"train.seed={seed}"]),
                 progress=False)
    import quadpred.stages as stages

    computed = []

    def counted(given, *args, **kwargs):
        computed.append(list(given))
        return teacher_probabilities(given, *args, **kwargs)

    monkeypatch.setattr(stages, "teacher_probabilities", counted)
    taught = apply_overrides(run, ["train.distil=0.5"])
    stages.transfer_stages(part, store, tmp_path / "student", encoder=teachers[0], run=taught, progress=False,
                           teachers=teachers)
    assert computed == [teachers]  # once, for feat-ext; full read them back
    first, second = (np.load(tmp_path / "student" / stage / TEACHERS_NAME) for stage in ("feat-ext", "full"))
    np.testing.assert_array_equal(first, second)
    # a full stage taught by other teachers than its feat-ext stage computes its own
    transfer(part, store, tmp_path / "student" / "full-other", stage="full", init=tmp_path / "student" / "feat-ext",
             run=taught, progress=False, teachers=teachers[:1])
    assert computed == [teachers, teachers[:1]]
    assert np.abs(np.load(tmp_path / "student" / "full-other" / TEACHERS_NAME) - first).max() > 1e-4
