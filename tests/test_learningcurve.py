"""Learning curves: points at training fractions on the same held-out songs, the log-linear fit,
where it reaches a target, and the script that prints and draws them."""

import dataclasses
import json
import runpy
from pathlib import Path

import numpy as np
import pytest
from test_crossval import labelled

from quadpred.crossval import FoldSongs, assign_folds, fold_songs_path
from quadpred.errors import TrainingError
from quadpred.labels import QUADRANTS
from quadpred.learningcurve import clips_learnt_from, curve_points, fit_curve
from quadpred.manifest import Clip, write_manifest

K = 4


def fake_cv(folder: Path, clips: list[Clip], fraction: float, right: float, seed: int = 0) -> Path:
    """A cross-validation folder at ``fraction`` whose held-out songs are right with probability
    about ``right`` (the wrong ones called the next quadrant)."""
    folds = assign_folds(clips, K)
    folder.mkdir(parents=True)
    (folder / "folds.json").write_text(json.dumps({"k": K, "seed": 0, "folds": folds}))
    (folder / "method.json").write_text(json.dumps({"method": "egemaps-svm", "recipe": None,
                                                    **({"train_fraction": fraction} if fraction < 1 else {})}))
    rng = np.random.default_rng(seed)
    for fold in range(K):
        held = [c for c in clips if folds[c.id] == fold]
        targets = np.array([QUADRANTS.index(c.quadrant) for c in held])
        called = np.where(rng.random(len(held)) < right, targets, (targets + 1) % 4)
        probabilities = np.full((len(held), 4), 0.1)
        probabilities[np.arange(len(held)), called] = 0.7
        fold_songs_path(folder, fold).parent.mkdir(parents=True)
        FoldSongs([c.id for c in held], probabilities, targets).save(fold_songs_path(folder, fold))
    return folder


def test_points_count_the_clips_each_fraction_learns_from_on_the_same_songs(tmp_path: Path):
    clips = labelled(160, 80)
    quarter = fake_cv(tmp_path / "q", clips, 0.25, 0.5)
    whole = fake_cv(tmp_path / "w", clips, 1.0, 0.8)
    outside = len(clips) * (K - 1) / K
    assert clips_learnt_from(clips, whole) == pytest.approx(outside)
    assert clips_learnt_from(clips, quarter) == pytest.approx(outside / 4, abs=4)
    points = curve_points(clips, [quarter, whole])
    assert points[0].songs.ids == points[1].songs.ids and len(points[0].songs.ids) == len(clips)
    assert points[0].songs.scores()["song_f1"] < points[1].songs.scores()["song_f1"]
    with pytest.raises(TrainingError, match="does not match"):
        clips_learnt_from(labelled(160, 40), whole)
    with pytest.raises(TrainingError, match="mixes training fractions"):
        curve_points(clips, [[quarter, whole]])


def test_the_fit_reaches_its_target_where_the_line_through_the_points_does(tmp_path: Path):
    clips = labelled(160, 80)
    points = curve_points(clips, [fake_cv(tmp_path / "q", clips, 0.25, 0.45),
                                  fake_cv(tmp_path / "h", clips, 0.5, 0.6, seed=1)])
    scores = [p.songs.scores()["song_f1"] for p in points]
    target = scores[1] + (scores[1] - scores[0])  # one more doubling of the clips
    fit = fit_curve(points, target, resamples=200)
    np.testing.assert_allclose([fit.at(p.clips) for p in points], scores, atol=1e-9)
    assert fit.clips_at_target == pytest.approx(2 * points[1].clips, rel=1e-6)
    assert fit.interval[0] <= fit.clips_at_target <= fit.interval[1]
    falling = [dataclasses.replace(points[0], clips=points[1].clips), dataclasses.replace(points[1], clips=points[0].clips)]
    assert fit_curve(falling, target, resamples=50).clips_at_target == np.inf  # F falls as clips grow: never
    with pytest.raises(TrainingError, match="two training fractions"):
        fit_curve(points[:1], target)


def test_the_script_prints_each_point_and_fit_and_draws_the_curves(tmp_path: Path, monkeypatch, capsys):
    clips = labelled(160, 80)
    write_manifest(tmp_path / "m.jsonl", clips)
    folders = [fake_cv(tmp_path / f"s{seed}-{fraction}", clips, fraction, right, seed=seed)
               for fraction, right in ((0.25, 0.45), (0.5, 0.55), (1.0, 0.65)) for seed in (0, 1)]
    pairs = [f"{a}+{b}" for a, b in zip(folders[::2], folders[1::2])]
    script = Path(__file__).resolve().parents[1] / "scripts" / "learning_curve.py"
    monkeypatch.setattr("sys.argv", ["learning_curve.py", str(tmp_path / "m.jsonl"), "--curve", "two seeds", "0.9",
                                     *pairs, "--curve", "one seed", "0.8", *map(str, folders[::2]),
                                     "--mark", "200", "all of a larger corpus", "-o", str(tmp_path / "lc.png")])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert sum(line.startswith("| two seeds |") for line in out.splitlines()) == 3
    assert "- two seeds: F = " in out and "reaches 0.900 at n = " in out and "- one seed: F = " in out
    assert (tmp_path / "lc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
