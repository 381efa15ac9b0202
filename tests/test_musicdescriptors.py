"""The librosa musical descriptors: mode, key invariance, tempo, dynamics; and their use by `quadpred cv`."""

import json
from pathlib import Path

import numpy as np
import pytest

from quadpred.crossval import FoldSongs, run_cv
from quadpred.musicdescriptors import DESCRIPTORS, SAMPLE_RATE, key_correlations, music_descriptors

MAJOR_TRIADS = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)]  # I IV V I
MINOR_TRIADS = [(0, 3, 7), (5, 8, 12), (7, 10, 14), (0, 3, 7)]  # i iv v i


def chords(triads: list[tuple[int, ...]], tonic_midi: int = 60, seconds_each: float = 2.0, loops: int = 2) -> np.ndarray:
    """(samples,) a chord progression of harmonic tones at 16 kHz."""
    t = np.arange(int(seconds_each * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.minimum(1.0, 20 * t) * np.exp(-0.5 * t)
    blocks = []
    for triad in triads * loops:
        block = np.zeros_like(t)
        for step in triad:
            f0 = 440.0 * 2 ** ((tonic_midi + step - 69) / 12)
            block += sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3))
        blocks.append(envelope * block)
    signal = np.concatenate(blocks)
    return (0.3 * signal / np.abs(signal).max()).astype(np.float32)


def clicks(bpm: float, seconds: float = 12.0) -> np.ndarray:
    """(samples,) short noise bursts every beat at 16 kHz."""
    signal = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
    burst = np.random.default_rng(0).standard_normal(400).astype(np.float32) * np.hanning(400).astype(np.float32)
    for start in np.arange(0, seconds - 0.05, 60.0 / bpm):
        index = int(start * SAMPLE_RATE)
        signal[index:index + 400] += burst
    return 0.5 * signal / np.abs(signal).max()


def value(values: np.ndarray, name: str) -> float:
    return float(values[DESCRIPTORS.index(name)])


def test_key_correlations_find_the_tonic_and_mode_of_a_profile():
    from quadpred.musicdescriptors import MINOR_PROFILE

    correlations = key_correlations(np.roll(MINOR_PROFILE, 9))  # A minor
    assert np.unravel_index(np.argmax(correlations), correlations.shape) == (1, 9)
    assert np.allclose(key_correlations(np.ones(12)), 0.0)


def test_major_and_minor_progressions_are_told_apart_in_any_key():
    major = music_descriptors(chords(MAJOR_TRIADS))
    minor = music_descriptors(chords(MINOR_TRIADS))
    assert major.shape == (len(DESCRIPTORS),) and major.dtype == np.float32 and np.isfinite(major).all()
    assert value(major, "mode") > 0.1 > -0.1 > value(minor, "mode")
    assert value(major, "window_mode_mean") > value(minor, "window_mode_mean")
    # the chroma rotated to the tonic does not depend on the key the progression is in
    transposed = music_descriptors(chords(MAJOR_TRIADS, tonic_midi=62))
    rotated = [DESCRIPTORS.index(f"chroma_from_tonic_{i}") for i in range(12)]
    assert np.abs(major[rotated] - transposed[rotated]).max() < 0.1
    assert value(transposed, "mode") > 0.1


def test_tempo_onsets_and_loudness_range_follow_the_signal():
    fast, slow = music_descriptors(clicks(120)), music_descriptors(clicks(60))
    assert 2 ** value(fast, "log2_tempo") == pytest.approx(120, rel=0.05)
    assert value(fast, "onset_rate") == pytest.approx(2 * value(slow, "onset_rate"), rel=0.2)
    steady = chords(MAJOR_TRIADS)
    swelling = steady * np.linspace(0.01, 1.0, len(steady), dtype=np.float32)
    assert value(music_descriptors(swelling), "rms_db_range") > value(music_descriptors(steady), "rms_db_range") + 10


def test_cv_reads_the_descriptors_with_the_same_classifiers(tiny_study, tmp_path: Path):
    clips, _ = tiny_study
    music = clips["music_eng"]
    summary = run_cv(music, tmp_path / "cv", method="music-logreg", k=3, progress=False)
    with np.load(tmp_path / "functionals-music.npz") as cached:
        assert cached["values"].shape == (len(music), len(DESCRIPTORS))
        assert sorted(cached["ids"]) == sorted(c.id for c in music)
    folds = json.loads((tmp_path / "cv" / "folds.json").read_text())["folds"]
    songs = FoldSongs.load(tmp_path / "cv" / "fold0" / "songs.npz")
    assert {folds[i] for i in songs.ids} == {0}
    np.testing.assert_allclose(songs.probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert summary["method"] == "music-logreg" and summary["pooled"]["songs"] == len(music)


def test_a_clip_too_short_for_the_descriptors_is_refused_by_name(tmp_path: Path):
    import soundfile as sf

    from quadpred.errors import QuadpredError
    from quadpred.functionals import clip_functionals

    short = tmp_path / "short.wav"
    sf.write(short, chords(MAJOR_TRIADS, seconds_each=0.5, loops=1), SAMPLE_RATE)  # 2 s
    cache = tmp_path / "functionals-music.npz"
    with pytest.raises(QuadpredError, match=r"short\.wav: 2\.00 s of audio is too short for the musical descriptors \(at least 3 s\)"):
        clip_functionals([str(short)], ["short"], "music", cache, progress=False)
    assert not cache.exists()


def test_the_descriptor_figure_ranks_every_descriptor_and_draws(tmp_path: Path, monkeypatch, capsys):
    import runpy

    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(40)]
    quadrants = [f"Q{i % 4 + 1}" for i in range(40)]
    values = rng.standard_normal((40, len(DESCRIPTORS))).astype(np.float32)
    values[:, DESCRIPTORS.index("onset_rate")] += 3 * np.array([q in ("Q1", "Q2") for q in quadrants])  # arousal
    np.savez(tmp_path / "functionals-music.npz", ids=np.array(ids), values=values)
    (tmp_path / "m.jsonl").write_text("".join(json.dumps({"id": i, "labels": {"quadrant": q}}) + "\n"
                                             for i, q in zip(ids, quadrants)))
    script = Path(__file__).resolve().parents[1] / "scripts" / "descriptor_figure.py"
    monkeypatch.setattr("sys.argv", ["descriptor_figure.py", str(tmp_path / "functionals-music.npz"),
                                     str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "fig.png")])
    runpy.run_path(str(script), run_name="__main__")
    ranking = [line for line in capsys.readouterr().out.splitlines() if " H " in line]
    assert len(ranking) == len(DESCRIPTORS) and ranking[0].endswith("onset_rate")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_descriptors_in_worker_processes_equal_those_computed_here(tmp_path: Path):
    import soundfile as sf

    from quadpred.functionals import clip_functionals

    paths = []
    for i, triads in enumerate((MAJOR_TRIADS, MINOR_TRIADS, MAJOR_TRIADS)):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        sf.write(paths[-1], chords(triads, tonic_midi=60 + 2 * i, seconds_each=1.0, loops=1), SAMPLE_RATE)
    ids = ["a", "b", "c"]
    here = clip_functionals(paths, ids, "music", tmp_path / "one.npz", progress=False, workers=1)
    pooled = clip_functionals(paths, ids, "music", tmp_path / "two.npz", progress=False, workers=2)
    assert here.shape == (3, len(DESCRIPTORS))
    np.testing.assert_array_equal(here, pooled)
    assert value(here[0], "mode") > 0 > value(here[1], "mode")  # rows stay in the order of the paths
