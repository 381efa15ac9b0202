import hashlib
from collections import Counter
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from quadpred.audio import load_audio
from quadpred.cli import main
from quadpred.corpora import CORPORA
from quadpred.synth import SCALES, build_world
from quadpred.synth.espeak import Voice, speak
from quadpred.synth.world import quadrant_counts


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    build_world(out, scale="tiny", seed=3, workers=2, progress=False)
    return out


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_whatever_the_workers(world: Path, tmp_path: Path):
    assert main(["-q", "synth", str(tmp_path), "--scale", "tiny", "--seed", "3", "--workers", "1", "--force"]) == 0
    ours, again = digest(world), digest(tmp_path)
    assert len(ours) > 80 and ours == again


def test_another_seed_gives_other_audio(world: Path, tmp_path: Path):
    build_world(tmp_path, scale="tiny", seed=4, workers=1, progress=False)
    first = next(iter(sorted((world / "MER_audio_taffc_dataset" / "Q1").iterdir())))
    other = tmp_path / first.relative_to(world)
    assert first.read_bytes() != other.read_bytes()


def test_speech_is_deterministic_across_calls():
    voice = Voice("eng", "f1", 60, 70, 150)
    a, _ = speak("The quiet river carries seven silver boats.", voice)
    speak("Something else in between.", Voice("eng", "m3"))
    b, _ = speak("The quiet river carries seven silver boats.", voice)
    assert np.array_equal(a, b)


def test_the_real_readers_read_every_set(world: Path):
    tiny = SCALES["tiny"]
    eng = CORPORA["librispeech"].prepare(world)
    man = CORPORA["aishell"].prepare(world / "data_aishell")
    fourq = CORPORA["4q"].prepare(world / "MER_audio_taffc_dataset", group_by="artist")
    ch818 = CORPORA["ch818"].prepare(world / "CH818" / "labels.csv")
    assert len(eng) == tiny.eng_speakers * tiny.utterances_per_speaker and all("text" in c.meta for c in eng)
    assert len({c.group for c in eng}) == tiny.eng_speakers
    assert len(man) == tiny.man_speakers * tiny.utterances_per_speaker and all("text" in c.meta for c in man)
    assert len(fourq) == tiny.eng_music and len(ch818) == tiny.man_music
    assert (world / "DATA_CARD.md").read_text().count("not a substitute") == 1


def test_labels_are_balanced_as_requested(world: Path):
    tiny = SCALES["tiny"]
    fourq = CORPORA["4q"].prepare(world / "MER_audio_taffc_dataset")
    ch818 = CORPORA["ch818"].prepare(world / "CH818")
    assert [Counter(c.quadrant for c in fourq)[q] for q in ("Q1", "Q2", "Q3", "Q4")] == [8, 8, 8, 8]
    assert [Counter(c.quadrant for c in ch818)[q] for q in ("Q1", "Q2", "Q3", "Q4")] == \
        quadrant_counts(tiny.man_music, tiny.man_weights)
    assert quadrant_counts(10, (0.35, 0.2, 0.15, 0.3)) == [4, 2, 1, 3]


def test_audio_is_non_silent_and_in_range(world: Path):
    for path in sorted(world.rglob("*.mp3"))[:8] + sorted(world.rglob("*.wav"))[:8] + sorted(world.rglob("*.flac"))[:8]:
        data, rate = sf.read(path)
        assert rate in (16000, 22050)
        # mp3 decoding overshoots a clipped waveform's 0.9 peak a little (Gibbs ripple).
        assert np.all(np.isfinite(data)) and np.max(np.abs(data)) <= (1.2 if path.suffix == ".mp3" else 1.0)
        assert np.sqrt(np.mean(data ** 2)) > 1e-3


def test_arousal_cues_are_audible(world: Path):
    """High-arousal clips (Q1, Q2) are denser and brighter than low-arousal ones (Q3, Q4)."""
    clips = CORPORA["4q"].prepare(world / "MER_audio_taffc_dataset")
    rms, centroid = {True: [], False: []}, {True: [], False: []}
    for clip in clips:
        y = load_audio(clip.path)
        high = clip.quadrant in ("Q1", "Q2")
        rms[high].append(float(np.sqrt(np.mean(y ** 2))))  # peak-normalised: RMS measures compression/density
        centroid[high].append(float(librosa.feature.spectral_centroid(y=y, sr=16000).mean()))
    assert np.mean(rms[True]) > 1.5 * np.mean(rms[False])
    assert np.mean(centroid[True]) > np.mean(centroid[False])


def test_paper_scale_matches_the_studys_hours(world: Path):
    """Extrapolate the tiny world's mean utterance length to the paper scale's counts."""
    import json

    card = json.loads((world / "data_card.json").read_text())
    paper = SCALES["paper"]
    for language, speakers, hours in (("eng", paper.eng_speakers, 7.5), ("man", paper.man_speakers, 3.0)):
        per_utterance = card["speech"][language]["hours"] / card["speech"][language]["utterances"]
        estimate = per_utterance * speakers * paper.utterances_per_speaker
        assert abs(estimate - hours) / hours < 0.25, (language, estimate)
    assert (paper.eng_music, paper.man_music, paper.clip_seconds) == (900, 356, 30.0)


def test_harmonic_sum_by_recurrence_is_the_direct_sum():
    from quadpred.synth.music import _harmonic_sum

    phase = 2 * np.pi * 987.0 * np.arange(22050) / 22050
    amplitudes = 1.0 / np.arange(1, 13) ** 1.3
    direct = np.sin(np.outer(phase, np.arange(1, 13))) @ amplitudes
    assert np.max(np.abs(_harmonic_sum(phase, amplitudes) - direct)) < 1e-9
