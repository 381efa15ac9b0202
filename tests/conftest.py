"""Seeded signal generators and writers of tiny corpus trees in the real layouts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def tone(seconds: float, sr: int = 16000, *, freq: float = 440.0, noise: float = 0.1, seed: int = 0,
         channels: int = 1) -> np.ndarray:
    """Sine plus white noise, peak about 0.5; (samples,) or (samples, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.4 * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(len(t))
    y = (0.5 * y / np.max(np.abs(y))).astype(np.float32)
    if channels > 1:
        y = np.stack([y * (1 - 0.2 * c) for c in range(channels)], axis=1)
    return y


def write(path: Path, signal: np.ndarray, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, signal, sr)
    return path


@pytest.fixture
def librispeech_tree(tmp_path: Path) -> Path:
    """LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac + trans.txt: 3 speakers x 2 utts."""
    root = tmp_path / "LibriSpeech"
    for s, speaker in enumerate(("19", "26", "103")):
        chapter = root / "train-clean-100" / speaker / "1000"
        lines = []
        for u in range(2):
            utt = f"{speaker}-1000-{u:04d}"
            write(chapter / f"{utt}.flac", tone(1.5 + u, seed=10 * s + u))
            lines.append(f"{utt} HELLO WORLD {u}")
        (chapter / f"{speaker}-1000.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def aishell_tree(tmp_path: Path) -> Path:
    """data_aishell/wav/{train,dev}/S000x/BAC009S000xW01yy.wav + transcript: 3 speakers x 2 utts."""
    root = tmp_path / "data_aishell"
    lines = []
    for s, (subset, speaker) in enumerate((("train", "S0002"), ("train", "S0003"), ("dev", "S0724"))):
        for u in range(2):
            utt = f"BAC009{speaker}W01{u:02d}"
            write(root / "wav" / subset / speaker / f"{utt}.wav", tone(1.2 + u, seed=100 + 10 * s + u))
            lines.append(f"{utt} 今天 天气 很 好")
    (root / "transcript").mkdir(parents=True)
    (root / "transcript" / "aishell_transcript_v0.8.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def fourq_tree(tmp_path: Path) -> Path:
    """Q1..Q4 folders with 5 clips each (2 s), quoted metadata CSV; artists own 1-2 songs."""
    root = tmp_path / "MER_audio_taffc_dataset"
    rows = []
    n = 0
    for q in range(1, 5):
        for k in range(5):
            song = f"MT{n:010d}"
            write(root / f"Q{q}" / f"{song}.wav", tone(2.0, freq=200 + 50 * n, seed=n))
            rows.append({"Song": song, "Artist": f"Artist {n // 2}", "Title": f"Song {n}", "Quadrant": f"Q{q}",
                         "PQuad": "0.8", "Moods": "3", "Genres": "Pop; Rock"})
            n += 1
    with (root / "panda_dataset_taffc_metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture
def ch818_table(tmp_path: Path) -> Path:
    """A CH-818-style CSV: file, arousal, valence in [-10, 10]; 8 clips, 2 per quadrant."""
    root = tmp_path / "ch818"
    root.mkdir()
    values = [(5, 5), (3, 8), (6, -4), (2, -9), (-5, -5), (-1, -7), (-6, 4), (-3, 2)]
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "arousal", "valence"])
        for i, (a, v) in enumerate(values):
            write(root / "audio" / f"song{i}.mp3", tone(2.0, seed=200 + i))
            writer.writerow([f"audio/song{i}.mp3", a, v])
    return root / "labels.csv"


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory):
    """The tiny built-in world, prepared and featurised once per test session (read-only for tests).

    Returns (clips by set name: speech_eng, speech_man, music_eng, music_man; the feature store).
    """
    from quadpred.config import FeatureConfig
    from quadpred.corpora.world import ensure_world, prepare_world
    from quadpred.store import FeatureStore, extract

    root = tmp_path_factory.mktemp("tiny_study")
    world = ensure_world(root / "world", scale="tiny", seed=0, workers=2, progress=False)
    prepared = prepare_world(world, root / "manifests", seed=0)
    clips = {name: found for name, (_, found) in prepared.items()}
    extract([c for found in clips.values() for c in found], root / "features", FeatureConfig(), workers=2, progress=False)
    return clips, FeatureStore.open(root / "features")


@pytest.fixture(scope="session")
def tiny_model(tiny_study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small transfer model trained for one epoch on the tiny world's English music."""
    from quadpred.config import RunConfig, apply_overrides
    from quadpred.stages import transfer

    clips, store = tiny_study
    folder = tmp_path_factory.mktemp("tiny_model") / "baseline"
    run = apply_overrides(RunConfig(), ["model.encoder.channels=[4,8,8]", "model.head.units=16", "train.epochs=1"])
    transfer(clips["music_eng"], store, folder, stage="baseline", run=run, progress=False)
    return folder


@pytest.fixture(scope="session")
def chromium() -> str:
    """The distribution's headless Chromium (`make setup` installs it where it can, as root)."""
    from browser import find_chromium

    found = find_chromium()
    if found is None:
        pytest.skip("no Chromium on this machine: install the distribution's package (apt-get install chromium; "
                    "`make setup` does where it runs as root) to run the page tests")
    return found


def keep_artefact(path: Path) -> Path:
    """Copy a test's picture into $QUADPRED_TEST_ARTEFACTS when set (CI keeps it), else leave it in place."""
    import os
    import shutil

    folder = os.environ.get("QUADPRED_TEST_ARTEFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(path, Path(folder) / path.name))
    return path
