"""Frozen-encoder probes: pooled clip embeddings read by a classifier, cross-validated by artist."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from quadpred.crossval import FoldSongs, run_cv
from quadpred.errors import TrainingError
from quadpred.probe import clip_embeddings, probe_encoder
from quadpred.store import ChunkDataset


def test_clip_embedding_is_the_mean_and_spread_of_its_chunks_frame_averaged_outputs(tiny_study, tiny_model):
    clips, store = tiny_study
    music = clips["music_eng"][:3]
    encoder, key = probe_encoder(tiny_model, store)
    assert len(key) == 16  # the weights' digest names the encoder
    values = clip_embeddings(encoder, store, music, device="cpu")
    channels = encoder.out_channels
    mels = store.config.n_mels // encoder.mel_reduction
    assert values.shape == (3, 2 * channels * mels)
    chunks = ChunkDataset(store, music[1:2], hop_frames=store.config.predict_hop_frames)
    x = torch.stack([chunks[i][0] for i in range(len(chunks))])
    with torch.no_grad():
        outputs = encoder(x).mean(dim=3).flatten(1).numpy()
    np.testing.assert_allclose(values[1, :channels * mels], outputs.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(values[1, channels * mels:], outputs.std(axis=0), rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(clip_embeddings(encoder, store, music, device="cpu", batch_size=7), values)


def test_random_probe_cross_validates_every_song_once_caches_and_repeats(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    music = clips["music_eng"]
    summary = run_cv(music, tmp_path / "cv", method="probe-logreg", store=store, encoder="random", k=3,
                     progress=False)
    folds = json.loads((tmp_path / "cv" / "folds.json").read_text())["folds"]
    seen = []
    for fold in range(3):
        songs = FoldSongs.load(tmp_path / "cv" / f"fold{fold}" / "songs.npz")
        assert {folds[i] for i in songs.ids} == {fold}
        np.testing.assert_allclose(songs.probabilities.sum(axis=1), 1.0, atol=1e-6)
        seen += songs.ids
    assert sorted(seen) == sorted(c.id for c in music)
    assert summary["recipe"] == {"encoder": "random-0"} and "features_seconds" in summary
    cache = tmp_path / "embeddings-random-0.npz"
    stamp = cache.stat().st_mtime_ns
    again = run_cv(music, tmp_path / "again", method="probe-logreg", store=store, encoder="random", k=3,
                   progress=False)
    assert cache.stat().st_mtime_ns == stamp  # the second run reads the cached embeddings
    assert again["pooled"] == summary["pooled"]


def test_probe_refuses_a_missing_encoder_another_encoder_on_resume_and_other_features(tiny_study, tiny_model,
                                                                                       tmp_path: Path):
    clips, store = tiny_study
    music = clips["music_eng"]
    with pytest.raises(TrainingError, match="--encoder"):
        run_cv(music, tmp_path / "cv", method="probe-svm", store=store, k=3)
    with pytest.raises(TrainingError, match="--features"):
        run_cv(music, tmp_path / "cv", method="probe-svm", encoder="random", k=3)
    run_cv(music, tmp_path / "cv", method="probe-logreg", store=store, encoder="random", k=3, progress=False)
    with pytest.raises(TrainingError, match="another method or recipe"):
        run_cv(music, tmp_path / "cv", method="probe-logreg", store=store, encoder=tiny_model, k=3, progress=False)
    config = json.loads((tiny_model / "config.json").read_text())
    config["features"]["n_mels"] = 64
    other = tmp_path / "other-features"
    other.mkdir()
    (other / "config.json").write_text(json.dumps(config))
    (other / "weights.pt").write_bytes((tiny_model / "weights.pt").read_bytes())
    with pytest.raises(TrainingError, match="other features"):
        probe_encoder(other, store)


@pytest.fixture(scope="module")
def emotional_speech(tmp_path_factory: pytest.TempPathFactory):
    """Synthetic acted speech (eSpeak, prosody by quadrant), 4 speakers per language, featurised."""
    from quadpred.config import FeatureConfig
    from quadpred.corpora import CORPORA
    from quadpred.store import FeatureStore, extract
    from quadpred.synth.emotional import build_emotional_speech

    root = tmp_path_factory.mktemp("emotional")
    table = build_emotional_speech(root / "corpus", speakers=4, per_emotion=4, seed=0)
    clips = CORPORA["emotional-speech"].prepare(table)
    extract(clips, root / "features", FeatureConfig(), progress=False)
    return clips, FeatureStore.open(root / "features"), root


def test_synthetic_emotional_speech_has_the_real_layout_and_neutral_without_quadrant(emotional_speech):
    clips, _, _ = emotional_speech
    assert len(clips) == 2 * 4 * 5 * 4
    neutral = [c for c in clips if c.labels["emotion"] == "neutral"]
    assert len(neutral) == 32 and all(c.quadrant is None for c in neutral)
    assert {c.group for c in clips if c.language == "man"} == {f"man-s{k}" for k in range(4)}


def test_speech_probe_scores_within_and_across_languages_by_speaker_and_repeats(emotional_speech, tmp_path: Path,
                                                                                  capsys):
    from quadpred.cli import main
    from quadpred.probe import run_probe, speaker_folds

    clips, store, _ = emotional_speech
    eng = [c for c in clips if c.language == "eng" and c.quadrant]
    folds = speaker_folds(eng)
    for speaker in {c.group for c in eng}:  # every speaker's utterances in one fold
        assert len({f for f, c in zip(folds, eng) if c.group == speaker}) == 1
    results = run_probe(clips, store, {"random": "random"}, tmp_path / "probe")
    assert results["utterances"] == {"eng": 64, "man": 64}  # neutral left out
    tasks = results["encoders"]["random"]["tasks"]
    for task in ("quadrant", "arousal", "valence"):
        assert set(tasks[task]) == {"eng->eng", "man->man", "eng->man", "man->eng"}
        for score in tasks[task].values():
            assert score["ci95"][0] <= score["f1"] <= score["ci95"][1] and score["utterances"] == 64
    # prosody carries arousal in this world: well above the 0.5 of guessing, even for random weights
    assert tasks["arousal"]["eng->eng"]["f1"] > 0.65 and tasks["arousal"]["man->man"]["f1"] > 0.65
    cache = next((tmp_path / "probe").glob("embeddings-random-0.npz"))
    stamp = cache.stat().st_mtime_ns
    manifest = _manifest(clips, tmp_path)
    assert main(["-q", "probe", str(manifest), "--features", str(store.folder.parent), "--encoder", "random",
                 "-o", str(tmp_path / "probe")]) == 0
    assert cache.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "probe" / "probe.json").read_text())["encoders"]["random"]["tasks"] == tasks
    assert "## arousal" in capsys.readouterr().out


def _manifest(clips, folder: Path) -> Path:
    from quadpred.manifest import write_manifest

    path = folder / "emotional.jsonl"
    write_manifest(path, clips)
    return path


def test_speech_probe_takes_opensmile_functionals_as_the_hand_crafted_reference(emotional_speech, tmp_path: Path):
    pytest.importorskip("opensmile", reason="the hand-crafted reference needs the [dae] extra")
    from quadpred.probe import run_probe

    clips, store, _ = emotional_speech
    results = run_probe(clips, store, {"eGeMAPS": "egemaps"}, tmp_path / "probe")
    with np.load(tmp_path / "probe" / "functionals-egemaps.npz") as cached:
        assert cached["values"].shape == (128, 88)  # 64 emotional utterances per language, 88 functionals
    arousal = results["encoders"]["eGeMAPS"]["tasks"]["arousal"]
    assert arousal["eng->eng"]["f1"] > 0.65 and arousal["man->man"]["f1"] > 0.65  # prosody is what eGeMAPS measures


def test_probe_scores_average_over_the_classes_the_test_language_has():
    from quadpred.probe import _score

    truth = np.array([0, 0, 1, 1, 2, 2])  # no class 3, as CASIA has no calm utterance
    perfect = _score(truth, truth.copy(), 4, seed=0)
    assert perfect.f1 == pytest.approx(1.0) and perfect.interval[0] == pytest.approx(1.0)
    wrong_class = _score(truth, np.array([0, 3, 1, 1, 2, 2]), 4, seed=0)  # one call of the absent class
    assert wrong_class.f1 == pytest.approx(np.mean([2 / 3, 1.0, 1.0]))


def test_same_vs_other_language_tests_and_figures(emotional_speech, tiny_study, tmp_path: Path):
    from quadpred.config import RunConfig, apply_overrides
    from quadpred.probe import run_probe
    from quadpred.stages import pretrain

    speech, speech_store = tiny_study
    run = apply_overrides(RunConfig(), ["model.encoder.channels=[4,8,8]", "train.epochs=1", "train.batch_size=16"])
    for language in ("eng", "man"):  # an encoder pretrained on each language's speech
        pretrain(speech[f"speech_{language}"], speech_store, tmp_path / f"scae-{language}", run=run, progress=False)
    clips, store, _ = emotional_speech
    encoders = {"scae-eng": tmp_path / "scae-eng", "scae-man": tmp_path / "scae-man", "random": "random"}
    results = run_probe(clips, store, encoders, tmp_path / "probe")
    tests = results["language_tests"]
    assert {(t["speech"], t["same"], t["other"]) for t in tests} == {("eng", "scae-eng", "scae-man"),
                                                                    ("man", "scae-man", "scae-eng")}
    assert len(tests) == 6 and {t["task"] for t in tests} == {"quadrant", "arousal", "valence"}
    for test in tests:  # random weights are no language's encoder; Holm never lowers a p-value
        table = results["encoders"]
        pair = f"{test['speech']}->{test['speech']}"
        expected = table[test["same"]]["tasks"][test["task"]][pair]["f1"] - table[test["other"]]["tasks"][test["task"]][pair]["f1"]
        assert test["difference"] == pytest.approx(expected)
        assert test["ci95"][0] <= test["difference"] <= test["ci95"][1] and test["p"] <= test["p_holm"] <= 1
    assert "## Same vs other language" in (tmp_path / "probe" / "probe.md").read_text()
    for figure in ("emotion_confusions.png", "projection.png"):
        assert (tmp_path / "probe" / figure).read_bytes()[:4] == b"\x89PNG"


def test_emotion_confusion_counts_each_languages_within_language_predictions():
    from quadpred.manifest import Clip
    from quadpred.probe import ProbeScore, emotion_confusion

    def clip(name: str, language: str, emotion: str) -> Clip:
        return Clip(name, f"{name}.wav", 2.0, language, "s", {"emotion": emotion, "quadrant": "Q1"})

    clips = [clip("a", "eng", "happy"), clip("b", "eng", "sad"), clip("c", "man", "happy"), clip("d", "man", "happy")]
    scores = {("x", "quadrant", "eng->eng"): ProbeScore(0.0, (0.0, 0.0), np.zeros(2), np.array([0, 2])),
              ("x", "quadrant", "man->man"): ProbeScore(0.0, (0.0, 0.0), np.zeros(2), np.array([0, 1]))}
    matrix, emotions = emotion_confusion(clips, scores, "x")
    assert emotions == ["happy", "sad"]
    np.testing.assert_allclose(matrix, [[2 / 3, 1 / 3, 0, 0], [0, 0, 1, 0]])
