"""Artist-grouped, quadrant-stratified cross-validation and the hand-crafted reference."""

import dataclasses
import json
import runpy
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from quadpred.config import RENAMED_MODEL_KEYS, RunConfig, apply_overrides
from quadpred.crossval import FoldSongs, assign_folds, fold_clips, held_out_predictions, pool, pooled_interval, run_cv
from quadpred.errors import TrainingError
from quadpred.manifest import Clip

QUADRANT_SHIFT = 6.0  # separates the generated quadrants' feature rows
SMALL = ["model.encoder.channels=[4,8,8]", "model.head.units=16", "train.batch_size=16", "train.epochs=2",
         "train.select=song-loss"]


def labelled(n: int = 40, artists: int = 20) -> list[Clip]:
    return [Clip(id=f"c{i}", path=f"/x/c{i}.wav", duration=30.0, language="eng",
                 labels={"quadrant": f"Q{i % 4 + 1}"}, group=f"artist{i % artists}", split="train") for i in range(n)]


def flat_model_keys(model: dict) -> dict:
    """A sectioned model config as the flat keys older versions wrote."""
    flat = {old: model[new.split(".")[0]][new.split(".")[1]] for old, new in RENAMED_MODEL_KEYS.items()}
    return {**flat, "input_norm": model["input_norm"]}


def test_folds_keep_each_artist_whole_balance_quadrants_and_are_seeded():
    clips = labelled(80, 40)
    folds = assign_folds(clips, 5, seed=3)
    assert set(folds.values()) == set(range(5)) and set(folds) == {c.id for c in clips}
    per_artist = {}
    for clip in clips:
        per_artist.setdefault(clip.group, set()).add(folds[clip.id])
    assert all(len(f) == 1 for f in per_artist.values())
    sizes = Counter(folds.values())
    assert max(sizes.values()) - min(sizes.values()) <= 4
    assert assign_folds(clips, 5, seed=3) == folds and assign_folds(clips, 5, seed=4) != folds
    with pytest.raises(TrainingError, match="groups cannot fill"):
        assign_folds(labelled(8, 3), 5)


def test_a_fold_holds_out_its_songs_as_test_and_splits_the_rest_by_artist():
    clips = labelled(80, 40)
    folds = assign_folds(clips, 4)
    part = fold_clips(clips, folds, 2)
    assert {c.id for c in part if c.split == "test"} == {i for i, f in folds.items() if f == 2}
    assert {c.split for c in part} == {"train", "valid", "test"}
    splits_of = {}
    for clip in part:
        splits_of.setdefault(clip.group, set()).add(clip.split)
    assert all(len(s) == 1 for s in splits_of.values())


def test_a_training_fraction_leaves_out_whole_artists_and_keeps_the_held_out_songs():
    clips = labelled(160, 80)
    folds = assign_folds(clips, 4)
    whole = fold_clips(clips, folds, 1)
    half = fold_clips(clips, folds, 1, train_fraction=0.5)
    assert {c.id for c in half if c.split == "test"} == {c.id for c in whole if c.split == "test"}
    used = [c for c in half if c.split != "test"]
    others = [c for c in whole if c.split != "test"]
    assert abs(len(used) - len(others) / 2) <= 4
    used_ids = {c.id for c in used}
    for group in {c.group for c in others}:  # an artist is used whole or left out whole
        assert len({c.id in used_ids for c in others if c.group == group}) == 1
    assert sum(1 for c in used if c.split == "valid") > 0
    quadrants = Counter(c.quadrant for c in used)
    assert max(quadrants.values()) - min(quadrants.values()) <= 4
    assert fold_clips(clips, folds, 1, train_fraction=0.5) == half
    assert {c.id for c in fold_clips(clips, folds, 1, train_fraction=0.25) if c.split != "test"} != {c.id for c in used}


def test_cv_records_its_training_fraction_and_refuses_another_in_the_same_folder(tmp_path: Path, monkeypatch):
    import quadpred.crossval as crossval

    clips = labelled(160, 80)
    by_id = sorted(clips, key=lambda c: c.id)  # the order of a feature set's rows
    rows = np.random.default_rng(0).normal(size=(160, 3)) + np.array([[QUADRANT_SHIFT * int(c.quadrant[1]), 0, 0]
                                                                       for c in by_id])
    monkeypatch.setattr(crossval, "_functionals", lambda *args, **kwargs: rows)
    with pytest.raises(TrainingError, match="not in"):
        run_cv(clips, tmp_path / "cv", method="egemaps-logreg", k=2, progress=False, train_fraction=0)
    assert not (tmp_path / "cv").exists()
    summary = run_cv(clips, tmp_path / "cv", method="egemaps-logreg", k=2, progress=False, train_fraction=0.5)
    # each clip's own row is read although half the training clips are left out: the quadrants
    # stay separable (rows of other clips would score near chance, 0.25)
    assert summary["pooled"]["songs"] == 160 and summary["pooled"]["song_f1"] > 0.9
    assert json.loads((tmp_path / "cv" / "method.json").read_text())["train_fraction"] == 0.5
    with pytest.raises(TrainingError, match="another method or recipe"):
        run_cv(clips, tmp_path / "cv", method="egemaps-logreg", k=2, progress=False, train_fraction=0.75)


def test_pooled_interval_brackets_the_pooled_score():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 4, 200)
    probabilities = np.eye(4)[np.where(rng.random(200) < 0.7, targets, rng.integers(0, 4, 200))] * 0.9 + 0.025
    songs = pool([FoldSongs([f"s{i}" for i in range(100)], probabilities[:100], targets[:100]),
                  FoldSongs([f"s{i}" for i in range(100, 200)], probabilities[100:], targets[100:])])
    low, high = pooled_interval(songs)
    assert low < songs.scores()["song_f1"] < high and high - low < 0.3


def test_cross_validated_baseline_covers_every_song_once_and_resumes(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    music = clips["music_eng"]
    run = apply_overrides(RunConfig(), SMALL)
    summary = run_cv(music, tmp_path / "cv", method="baseline", store=store, run=run, k=3, progress=False)
    pooled_ids = [i for f in range(3) for i in FoldSongs.load(tmp_path / "cv" / f"fold{f}" / "songs.npz").ids]
    assert sorted(pooled_ids) == sorted(c.id for c in music)
    assert summary["pooled"]["songs"] == len(music) and len(summary["folds"]) == 3
    assert 0.0 <= summary["song_f1_mean"] <= 1.0 and summary["recipe"]["train"]["select"] == "song-loss"
    for fold in range(3):  # each fold is a model directory that predicts
        assert (tmp_path / "cv" / f"fold{fold}" / "baseline" / "weights.pt").is_file()
    assert "Pooled out-of-fold" in (tmp_path / "cv" / "cv.md").read_text()
    stamp = (tmp_path / "cv" / "fold0" / "baseline" / "weights.pt").stat().st_mtime_ns
    # written by a version whose ModelConfig was flat: the same recipe, so the folds are reused
    for path in (tmp_path / "cv" / "method.json", *(tmp_path / "cv").glob("fold*/baseline/config.json")):
        record = json.loads(path.read_text())
        holder = record["recipe"] if "recipe" in record else record
        holder["model"] = flat_model_keys(holder["model"])
        path.write_text(json.dumps(record))
    again = run_cv(music, tmp_path / "cv", method="baseline", store=store, run=run, k=3, progress=False)
    assert again["pooled"] == summary["pooled"]
    assert (tmp_path / "cv" / "fold0" / "baseline" / "weights.pt").stat().st_mtime_ns == stamp
    with pytest.raises(TrainingError, match="other folds"):
        run_cv(music, tmp_path / "cv", method="baseline", store=store, run=run, k=3, seed=9, progress=False)
    with pytest.raises(TrainingError, match="another method or recipe"):  # finished folds are not reused for it
        run_cv(music, tmp_path / "cv", method="baseline", store=store, run=apply_overrides(run, ["train.epochs=3"]),
               k=3, progress=False)


def test_cv_refuses_bad_requests(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    music = clips["music_eng"]
    with pytest.raises(TrainingError, match="unknown"):
        run_cv(music, tmp_path, method="svm", store=store)
    with pytest.raises(TrainingError, match="--encoder"):
        run_cv(music, tmp_path, method="full", store=store)
    with pytest.raises(TrainingError, match="--features"):
        run_cv(music, tmp_path, method="baseline")
    with pytest.raises(TrainingError, match="has none"):
        run_cv([dataclasses.replace(music[0], labels={}), *music[1:]], tmp_path, method="egemaps-svm")


def test_cv_refuses_songs_a_network_cannot_score_before_writing_anything(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    music = clips["music_eng"]
    longest = max(store.frames(c.id) for c in music) * store.config.hop_length / store.config.sample_rate
    too_long = apply_overrides(RunConfig(), [*SMALL, f"model.chunk_seconds={longest + 1:.1f}"])
    with pytest.raises(TrainingError, match=r"shorter than the network's .*-s input.*model.chunk_seconds"):
        run_cv(music, tmp_path / "short", method="baseline", store=store, run=too_long, progress=False)
    unfeatured = dataclasses.replace(music[0], id="never-featurised")
    with pytest.raises(TrainingError, match="never-featurised.*quadpred features"):
        run_cv([*music, unfeatured], tmp_path / "missing", method="baseline", store=store,
               run=apply_overrides(RunConfig(), SMALL), progress=False)
    assert not (tmp_path / "short").exists() and not (tmp_path / "missing").exists()


def test_a_dataset_names_the_clips_too_short_for_one_chunk(tiny_study, caplog):
    from quadpred.store import ChunkDataset

    clips, store = tiny_study
    music = clips["music_eng"][:4]
    frames = sorted(store.frames(c.id) for c in music)
    with caplog.at_level("WARNING", logger="quadpred"):
        dataset = ChunkDataset(store, music, chunk_frames=frames[1] + 1)  # only the longer half gives chunks
    short = [c.id for c in music if store.frames(c.id) <= frames[1]]
    assert set(dataset.clip_of_chunk()) == {i for i, c in enumerate(music) if c.id not in short}
    assert f"{len(short)} clip(s) shorter than one {frames[1] + 1}-frame chunk" in caplog.text
    assert all(clip_id in caplog.text for clip_id in short)


def test_handcrafted_reference_runs_on_the_same_folds(tiny_study, tmp_path: Path):
    pytest.importorskip("opensmile", reason="the hand-crafted reference needs the [dae] extra")
    clips, _ = tiny_study
    music = clips["music_eng"]
    summary = run_cv(music, tmp_path / "cv", method="egemaps-logreg", k=3, progress=False)
    folds = json.loads((tmp_path / "cv" / "folds.json").read_text())["folds"]
    for fold in range(3):
        songs = FoldSongs.load(tmp_path / "cv" / f"fold{fold}" / "songs.npz")
        assert {folds[i] for i in songs.ids} == {fold}
        np.testing.assert_allclose(songs.probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert (tmp_path / "functionals-egemaps.npz").is_file() and summary["pooled"]["songs"] == len(music)


def test_svm_reference_gives_calibrated_probabilities_without_deprecation_warnings():
    import warnings

    from quadpred.functionals import fit_predict

    rng = np.random.default_rng(0)
    labels = np.arange(160) % 4
    values = rng.normal(size=(160, 5)) + labels[:, None]  # separable enough to learn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probabilities = fit_predict(values[:120], labels[:120], [f"a{i % 30}" for i in range(120)], values[120:])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert (probabilities.argmax(axis=1) == labels[120:]).mean() >= 0.75


def write_cv(folder: Path, folds: dict, probabilities: np.ndarray, targets: np.ndarray, k: int = 2) -> None:
    folder.mkdir(parents=True)
    (folder / "folds.json").write_text(json.dumps({"k": k, "seed": 0, "folds": folds}))
    for fold in range(k):
        ids = [i for i, f in folds.items() if f == fold]
        rows = [int(i[1:]) for i in ids]
        (folder / f"fold{fold}").mkdir()
        FoldSongs(ids, probabilities[rows], targets[rows]).save(folder / f"fold{fold}" / "songs.npz")


def test_late_fusion_averages_song_probabilities_on_the_same_folds(tmp_path: Path):
    from quadpred.crossval import fuse

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 4, 40)
    a, b = rng.dirichlet(np.ones(4), 40), rng.dirichlet(np.ones(4), 40)
    folds = {f"s{i}": i % 2 for i in range(40)}
    write_cv(tmp_path / "a", folds, a, targets)
    write_cv(tmp_path / "b", dict(reversed(list(folds.items()))), b, targets)  # same folds, other order
    fused = fuse([tmp_path / "a", tmp_path / "b"])
    expected = ((a + b) / 2).argmax(axis=1)
    from quadpred.metrics import macro_scores

    assert fused["pooled"]["song_f1"] == pytest.approx(macro_scores(targets, expected, 4)["f1"])
    # fixed weights (an ensemble's shares of members): the weighted mean, named with its shares
    weighted = fuse([tmp_path / "a", tmp_path / "b"], weights=[3, 2])
    expected = (0.6 * a + 0.4 * b).argmax(axis=1)
    assert weighted["pooled"]["song_f1"] == pytest.approx(macro_scores(targets, expected, 4)["f1"])
    assert weighted["method"] == "mean of 0.60 x a + 0.40 x b"
    assert fuse([tmp_path / "a", tmp_path / "b"], weights=[1, 0])["pooled"]["song_f1"] == pytest.approx(
        macro_scores(targets, a.argmax(axis=1), 4)["f1"])
    with pytest.raises(TrainingError, match="one non-negative weight per folder"):
        fuse([tmp_path / "a", tmp_path / "b"], weights=[1])
    write_cv(tmp_path / "c", {f"s{i}": (i + 1) % 2 for i in range(40)}, b, targets)
    with pytest.raises(TrainingError, match="same folds"):
        fuse([tmp_path / "a", tmp_path / "c"])
    # a song that gave one network no chunk is missing from its held-out songs: no silent zeros
    write_cv(tmp_path / "d", folds, b, targets)
    kept = FoldSongs.load(tmp_path / "d" / "fold1" / "songs.npz")
    FoldSongs(kept.ids[1:], kept.probabilities[1:], kept.targets[1:]).save(tmp_path / "d" / "fold1" / "songs.npz")
    with pytest.raises(TrainingError, match=f"fold 1 of .*hold out different songs .*e.g. {kept.ids[0]}"):
        fuse([tmp_path / "a", tmp_path / "d"])


def test_stacked_fusion_learns_from_other_folds_what_a_mean_cannot(tmp_path: Path):
    from quadpred.crossval import fuse, stack

    rng = np.random.default_rng(1)
    targets = rng.integers(0, 4, 200)
    folds = {f"s{i}": i % 4 for i in range(200)}
    noisy = np.where(rng.random(200) < 0.5, targets, rng.integers(0, 4, 200))
    write_cv(tmp_path / "weak", folds, np.eye(4)[noisy] * 0.6 + 0.1, targets, k=4)
    # a method that is always right about the song, under the wrong names (Q1 called Q2, ...)
    write_cv(tmp_path / "renamed", folds, np.eye(4)[(targets + 1) % 4] * 0.6 + 0.1, targets, k=4)
    stacked = stack([tmp_path / "weak", tmp_path / "renamed"])
    assert stacked["pooled"]["song_f1"] > 0.95
    assert fuse([tmp_path / "weak", tmp_path / "renamed"])["pooled"]["song_f1"] < 0.6
    assert stacked["method"].startswith("stack of weak + renamed") and len(stacked["folds"]) == 4


def test_class_offsets_from_the_other_folds_undo_a_lean_to_one_quadrant(tmp_path: Path):
    from quadpred.crossval import class_offsets, fuse

    rng = np.random.default_rng(2)
    targets = np.arange(400) % 4
    folds = {f"s{i}": (i // 4) % 4 for i in range(400)}  # every quadrant in every fold
    # right about the song, but every song's Q1 probability inflated eightfold: Q1 wins too often
    logits = 2.0 * np.eye(4)[targets] + rng.normal(0, 1.0, (400, 4)) + np.log([8.0, 1, 1, 1])
    leaning = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    write_cv(tmp_path / "leaning", folds, leaning, targets, k=4)
    plain = fuse([tmp_path / "leaning"])["pooled"]["song_f1"]
    for how in ("fitted", "prior"):
        corrected = class_offsets([tmp_path / "leaning"], how=how)
        assert corrected["pooled"]["song_f1"] > plain + 0.05, how
        assert corrected["method"] == f"mean of leaning, class offsets {how} on the other folds"
    with pytest.raises(TrainingError, match="use fitted or prior"):
        class_offsets([tmp_path / "leaning"], how="median")


def test_nested_choice_of_a_fusion_scores_each_fold_with_what_the_other_folds_chose(tmp_path: Path):
    from quadpred.crossval import nested_fusion

    targets = np.arange(200) % 4
    folds = {f"s{i}": (i // 50) for i in range(200)}  # songs 0-49 in fold 0, ...
    in_last_fold = np.arange(200) >= 150
    # right on three folds, wrong on every song of the last: it looks best to whoever does not see that fold
    lucky = np.where(in_last_fold, (targets + 1) % 4, targets)
    steady = np.where(np.arange(200) % 5 == 0, (targets + 2) % 4, targets)  # right on 80 % everywhere
    write_cv(tmp_path / "lucky", folds, np.eye(4)[lucky] * 0.6 + 0.1, targets, k=4)
    write_cv(tmp_path / "steady", folds, np.eye(4)[steady] * 0.6 + 0.1, targets, k=4)
    nested = nested_fusion([tmp_path / "lucky", tmp_path / "steady"], max_size=1)
    assert nested["chosen"] == [["steady"], ["steady"], ["steady"], ["lucky"]]
    assert nested["chosen_on_all"] == ["steady"]
    assert nested["folds"][3]["song_f1"] == 0.0  # the last fold scored by what the others chose
    steady_alone = nested_fusion([tmp_path / "steady"], max_size=1)["pooled"]["song_f1"]
    assert nested["pooled"]["song_f1"] < steady_alone
    pairs = nested_fusion([tmp_path / "lucky", tmp_path / "steady"], max_size=2)
    assert all(1 <= len(pick) <= 2 for pick in pairs["chosen"]) and len(pairs["folds"]) == 4


def test_reaggregating_songs_by_mean_probability_gives_the_run_s_own_scores(tiny_study, tmp_path: Path):
    from quadpred.crossval import reaggregate

    clips, store = tiny_study
    summary = run_cv(clips["music_eng"], tmp_path / "cv", method="baseline", store=store,
                     run=apply_overrides(RunConfig(), SMALL), k=2, progress=False)
    again = reaggregate(tmp_path / "cv", "mean")
    assert again["pooled"]["song_f1"] == pytest.approx(summary["pooled"]["song_f1"])
    assert again["song_loss_mean"] == pytest.approx(summary["song_loss_mean"])
    geometric = reaggregate(tmp_path / "cv", "log-mean")
    assert geometric["pooled"]["songs"] == len(clips["music_eng"]) and 0 <= geometric["pooled"]["song_f1"] <= 1
    with pytest.raises(TrainingError, match="unknown"):
        reaggregate(tmp_path / "cv", "median")


def test_paired_comparison_of_fusions_bootstraps_the_same_songs_for_both_sides(tmp_path: Path):
    from quadpred.crossval import fuse, paired

    rng = np.random.default_rng(1)
    targets = rng.integers(0, 4, 60)
    folds = {f"s{i}": i % 2 for i in range(60)}
    good = np.eye(4)[targets] * 0.5 + rng.dirichlet(np.ones(4), 60) * 0.5  # leans to the truth
    noise = [rng.dirichlet(np.ones(4), 60) for _ in range(2)]
    for name, probabilities in {"good": good, "noise0": noise[0], "noise1": noise[1]}.items():
        write_cv(tmp_path / name, folds, probabilities, targets)
    one = paired(tmp_path / "good", tmp_path / "noise0", resamples=200)
    assert one["a"] == "good" and one["difference"] > 0.3 and one["p_value"] < 0.01
    mix = {tmp_path / "good": 3.0, tmp_path / "noise0": 2.0}
    pair = [tmp_path / "noise0", tmp_path / "noise1"]
    fused = paired(mix, pair, resamples=200)  # each side its own (weighted) mean of songs
    assert fused["a"] == "0.60 x good + 0.40 x noise0" and fused["b"] == "noise0 + noise1"
    expected = fuse(list(mix), weights=list(mix.values()))["pooled"]["song_f1"] - fuse(pair)["pooled"]["song_f1"]
    assert fused["difference"] == pytest.approx(expected)
    assert paired(pair, pair, resamples=200)["difference"] == 0 and paired(pair, pair, resamples=200)["ci95"] == [0, 0]
    with pytest.raises(TrainingError, match="one non-negative weight per folder"):
        paired({tmp_path / "good": -1.0}, tmp_path / "noise0")


def test_epoch_rules_score_every_kept_epoch_and_the_run_s_own_rule_gives_its_songs(tiny_study, tmp_path: Path):
    from quadpred.crossval import EPOCH_RULES, LATE_AVERAGE, LATE_MEAN, ORACLE, epoch_rules

    clips, store = tiny_study
    music = clips["music_eng"]
    run = apply_overrides(RunConfig(), [*SMALL, "train.epochs=3", "train.patience=3"])
    run_cv(music, tmp_path / "cv", method="baseline", store=store, run=run, k=2, progress=False, keep_epochs=True)
    assert sorted(p.name for p in (tmp_path / "cv/fold1/baseline/epochs").iterdir()) == [f"epoch{n}.pt" for n in (1, 2, 3)]
    rules = epoch_rules(tmp_path / "cv", music, store)
    assert set(rules) == {*EPOCH_RULES, LATE_MEAN, LATE_AVERAGE, ORACLE}
    used = rules["song-loss (validation songs' log-loss)"]  # the run's own rule: its own held-out songs, exactly
    for fold in range(2):
        own = FoldSongs.load(tmp_path / "cv" / f"fold{fold}" / "songs.npz")
        assert used["songs"][fold].ids == own.ids
        np.testing.assert_allclose(used["songs"][fold].probabilities, own.probabilities, atol=1e-6)
        history = json.loads((tmp_path / "cv" / f"fold{fold}" / "baseline" / "history.json").read_text())
        assert used["epochs"][fold] == 1 + int(np.argmin([r["valid_song_loss"] for r in history]))
    assert rules["last epoch"]["epochs"] == [3, 3] and rules[LATE_MEAN]["epochs"] is None
    curves = rules[ORACLE]["curves"]
    assert [max(c["held_out_f1"]) for c in curves] == [f["song_f1"] for f in rules[ORACLE]["folds"]]
    assert all(rules[ORACLE]["folds"][f]["song_f1"] >= rules[name]["folds"][f]["song_f1"]
               for name in EPOCH_RULES for f in range(2))
    assert used["fold_numbers"] == [0, 1]
    (tmp_path / "cv/fold1/songs.npz").unlink()  # a fold not finished yet: the finished ones are scored
    assert epoch_rules(tmp_path / "cv", music, store)["last epoch"]["fold_numbers"] == [0]
    with pytest.raises(TrainingError, match="--keep-epochs"):
        run_cv(music, tmp_path / "plain", method="baseline", store=store, run=run, k=2, progress=False)
        epoch_rules(tmp_path / "plain", music, store)
    with pytest.raises(TrainingError, match="not the ones cross-validated"):
        epoch_rules(tmp_path / "cv", music[:-4], store)


def test_kept_cross_validations_hold_their_songs_so_fusions_can_be_rescored(tmp_path: Path, monkeypatch, capsys):
    import runpy

    from quadpred.crossval import fuse

    rng = np.random.default_rng(3)
    targets = rng.integers(0, 4, 40)
    folds = {f"s{i}": i % 2 for i in range(40)}
    for name in ("a", "b"):
        write_cv(tmp_path / name, folds, rng.dirichlet(np.ones(4), 40), targets)
        (tmp_path / name / "cv.json").write_text(json.dumps({**fuse([tmp_path / name]), "seconds": 60.0}))
        (tmp_path / name / "cv.md").write_text("summary\n")
    (tmp_path / "a" / "method.json").write_text(json.dumps({"method": "baseline", "valid_share": 0}))
    script = Path(__file__).resolve().parents[1] / "scripts" / "cv_table.py"
    monkeypatch.setattr("sys.argv", ["cv_table.py", str(tmp_path / "a"), str(tmp_path / "b"), "--keep",
                                     str(tmp_path / "kept")])
    runpy.run_path(str(script), run_name="__main__")
    assert "| a |" in capsys.readouterr().out
    assert sorted(p.relative_to(tmp_path / "kept").as_posix() for p in (tmp_path / "kept").rglob("*.npz")) == [
        "a/fold0/songs.npz", "a/fold1/songs.npz", "b/fold0/songs.npz", "b/fold1/songs.npz"]
    assert json.loads((tmp_path / "kept" / "a" / "method.json").read_text())["valid_share"] == 0
    assert not (tmp_path / "kept" / "b" / "method.json").exists()  # an older folder without one is kept as it is
    kept = fuse([tmp_path / "kept" / "a", tmp_path / "kept" / "b"])
    assert kept["pooled"] == fuse([tmp_path / "a", tmp_path / "b"])["pooled"]


def test_kept_fold_models_rescore_their_songs_with_overlapping_chunks(tiny_study, tmp_path: Path, monkeypatch,
                                                                       capsys):
    import runpy

    from quadpred.crossval import rescored_songs
    from quadpred.manifest import write_manifest

    clips, store = tiny_study
    music = clips["music_eng"]
    run_cv(music, tmp_path / "cv", method="baseline", store=store, run=apply_overrides(RunConfig(), SMALL), k=2,
           progress=False)
    at_one_second = rescored_songs(tmp_path / "cv", music, store)
    overlapping = rescored_songs(tmp_path / "cv", music, store, hop_frames=8)
    for fold in range(2):  # the prediction hop gives the run's own songs; a quarter of it, the same songs otherwise
        own = FoldSongs.load(tmp_path / "cv" / f"fold{fold}" / "songs.npz")
        assert at_one_second[fold].ids == own.ids == overlapping[fold].ids
        np.testing.assert_allclose(at_one_second[fold].probabilities, own.probabilities, atol=1e-6)
        np.testing.assert_allclose(overlapping[fold].probabilities.sum(axis=1), 1.0, atol=1e-5)
        assert np.abs(overlapping[fold].probabilities - own.probabilities).max() > 1e-6  # other chunks were read
    with pytest.raises(TrainingError, match="not the ones cross-validated"):
        rescored_songs(tmp_path / "cv", music[:-4], store)
    classifier = tmp_path / "svm"  # a classifier's cross-validation keeps songs, not models
    classifier.mkdir()
    for name in ("folds.json", "method.json"):
        record = json.loads((tmp_path / "cv" / name).read_text())
        (classifier / name).write_text(json.dumps({**record, "method": "egemaps-svm"} if name == "method.json" else record))
    with pytest.raises(TrainingError, match="not the cross-validation of a network"):
        rescored_songs(classifier, music, store)

    write_manifest(tmp_path / "music.jsonl", music)
    script = Path(__file__).resolve().parents[1] / "scripts" / "scoring_hop.py"
    monkeypatch.setattr("sys.argv", ["scoring_hop.py", str(tmp_path / "cv"), "--manifest", str(tmp_path / "music.jsonl"),
                                     "--features", str(store.folder.parent), "--hops", "8"])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    f_at_8 = pool(overlapping).scores()["song_f1"]
    assert f"| cv | 8 | {f_at_8:.3f} |" in out and "| the mean of the 1 | prediction hop |" in out
    assert "- cv, hop 8 - prediction hop:" in out
    # kept songs that its models did not give
    FoldSongs(own.ids, own.probabilities[:, ::-1].copy(), own.targets).save(tmp_path / "cv" / "fold1" / "songs.npz")
    with pytest.raises(SystemExit, match="fold 1: its kept songs differ"):
        runpy.run_path(str(script), run_name="__main__")


def test_valid_share_zero_trains_each_fold_on_all_its_artists_where_weights_are_averaged(tiny_study, tmp_path: Path):
    """--valid-share 0: both stages of a fine-tuned encoder train on every song outside the held-out
    fold (none validates), the share is recorded, and a recipe that chooses an epoch is refused."""
    from quadpred.config import RECIPES, with_settings
    from quadpred.stages import pretrain

    clips, store = tiny_study
    music = clips["music_eng"]
    folds = assign_folds(music, 2)
    assert {c.split for c in fold_clips(music, folds, 0, valid_share=0)} == {"train", "test"}
    with pytest.raises(TrainingError, match="average"):
        run_cv(music, tmp_path / "chooses", method="baseline", store=store, run=apply_overrides(RunConfig(), SMALL),
               k=2, progress=False, valid_share=0)
    with pytest.raises(TrainingError, match="not in"):
        run_cv(music, tmp_path / "share", method="baseline", store=store, run=RunConfig(), k=2, valid_share=1.0)
    with pytest.raises(TrainingError, match="give no --valid-share"):
        run_cv(music, tmp_path / "share", method="egemaps-svm", k=2, valid_share=0)
    assert not (tmp_path / "chooses").exists() and not (tmp_path / "share").exists()
    pretrain(clips["speech_eng"], store, tmp_path / "pre",
             run=apply_overrides(RunConfig(), [*SMALL, "train.epochs=1", "train.select=loss"]),
             progress=False)
    run = apply_overrides(with_settings(RunConfig(), RECIPES["cv"]), [*SMALL, "train.max_batches=2"])
    summary = run_cv(music, tmp_path / "cv", method="full", store=store, encoder=tmp_path / "pre", run=run, k=2,
                     progress=False, valid_share=0)
    assert summary["pooled"]["songs"] == len(music)
    assert json.loads((tmp_path / "cv" / "method.json").read_text())["valid_share"] == 0
    kept = held_out_predictions(tmp_path / "cv")  # each fold model's chunk predictions of its held-out songs
    assert sorted(i for p in kept for i in p.clip_ids) == sorted(c.id for c in music)
    assert all(p.probabilities["valence"].shape == (len(p.chunk_clip), 2) for p in kept)
    for fold in range(2):
        outside = sum(1 for c in music if folds[c.id] != fold)
        for stage in ("feat-ext", "full"):
            trained = json.loads((tmp_path / "cv" / f"fold{fold}" / stage / "summary.json").read_text())
            assert trained["valid_rows"] == 0 and trained["epochs_run"] == 2, stage
            assert trained["train_rows"] >= outside  # at least one chunk of every song outside the fold
    with pytest.raises(TrainingError, match="another method or recipe"):  # a validated run is another recipe
        run_cv(music, tmp_path / "cv", method="full", store=store, encoder=tmp_path / "pre", run=run, k=2,
               progress=False)
    # shipped, its card says that nothing was held out
    ship = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "ship_default_models.py"))
    ship["ship_cv"].__globals__["PACKAGE"] = tmp_path / "pretrained"
    card = (ship["ship_cv"]([tmp_path / "cv"], "eng", [], members=[1]) / "MODEL.md").read_text()
    assert "(all of them training, none held out; the weights of the last epochs averaged)" in card


def test_quadrant_from_heads_keeps_the_quadrant_head_at_weight_0_and_reads_the_binary_heads_at_1():
    from quadpred.evaluate import SplitPredictions

    script = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "quadrant_from_heads.py"))
    rng = np.random.default_rng(0)
    chunk_clip = np.repeat([0, 1, 2], 4)
    quadrant = rng.dirichlet(np.ones(4), 12)
    # every chunk sure of high arousal and negative valence: the binary heads say Q2
    arousal, valence = np.tile([0.0, 1.0], (12, 1)), np.tile([1.0, 0.0], (12, 1))
    targets = np.stack([np.repeat([0, 1, 2], 4), np.zeros(12), np.zeros(12)], axis=1).astype(np.int64)
    predictions = SplitPredictions({"quadrant": quadrant, "arousal": arousal, "valence": valence}, targets,
                                   chunk_clip, ["a", "b", "c"])
    alone = script["combined_songs"](predictions, 0.0)
    np.testing.assert_allclose(alone.probabilities, [quadrant[i * 4:(i + 1) * 4].mean(0) for i in range(3)], rtol=1e-5)
    assert alone.ids == ["a", "b", "c"] and alone.targets.tolist() == [0, 1, 2]
    heads = script["combined_songs"](predictions, 1.0)
    assert heads.probabilities.argmax(1).tolist() == [1, 1, 1] and np.allclose(heads.probabilities.sum(1), 1)


def test_cv_table_says_averaged_weights_chose_no_epoch():
    table = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "cv_table.py"))
    summary = {"pooled": {"song_f1": 0.6, "song_f1_interval": [0.5, 0.7]}, "song_f1_mean": 0.6, "song_f1_sd": 0.1,
               "song_loss_mean": 0.9, "seconds": 120.0, "folds": [{"best_epoch": 8}, {"best_epoch": 3}]}
    chosen = table["summary_row"]("chosen", {**summary, "recipe": {"train": {"average_last": 0.0}}})
    averaged = table["summary_row"]("averaged", {**summary, "recipe": {"train": {"average_last": 0.5}}})
    assert "| 8, 3 |" in chosen and "| - (averaged) |" in averaged and "8, 3" not in averaged
