from pathlib import Path

import numpy as np
import pytest
from conftest import tone, write

from quadpred.audio import load_audio, to_model_input
from quadpred.errors import AudioError


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_any_format_and_rate_becomes_mono_16k_peak_normalised(tmp_path: Path, ext: str, sr: int):
    path = write(tmp_path / f"x.{ext}", tone(2.0, sr, channels=2), sr)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 32000) <= 1200  # mp3 adds encoder padding
    assert np.isclose(np.max(np.abs(y)), 1.0)
    assert np.all(np.isfinite(y))


def test_stereo_is_averaged(tmp_path: Path):
    left = tone(1.0, seed=1)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)  # mean = left / 2, the same after normalising
    y = load_audio(write(tmp_path / "s.wav", stereo))
    np.testing.assert_allclose(y, left / np.max(np.abs(left)), atol=5e-4)  # 16-bit PCM


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p, "not found"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
        (lambda p: write(p, np.zeros(32000, np.float32)), "silent"),
        (lambda p: write(p, tone(0.5)), "too short"),
        (lambda p: (p.write_bytes(b"RIFF\x00\x01garbage" * 50), p)[1], "not readable"),
        (lambda p: (p.write_text("this is a text file, not audio\n" * 20), p)[1], "not readable"),
    ],
    ids=["missing", "empty", "silent", "too-short", "corrupt", "not-audio"],
)
def test_bad_input_gives_one_clear_error(tmp_path: Path, make, reason: str):
    path = make(tmp_path / "bad.wav")
    with pytest.raises(AudioError, match=reason) as info:
        load_audio(path, min_samples=15360)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("ext", ["flac", "mp3"])
def test_truncated_file_is_rejected(tmp_path: Path, ext: str):
    path = write(tmp_path / f"t.{ext}", tone(3.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated") as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_truncated_wav_yields_what_it_holds(tmp_path: Path):
    # libsndfile corrects a WAV header from the file size, so the readable half is valid audio.
    path = write(tmp_path / "t.wav", tone(3.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    y = load_audio(path)
    assert abs(len(y) - 24000) < 100 and np.all(np.isfinite(y))


def test_non_finite_array_is_rejected():
    bad = tone(2.0)
    bad[100] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        to_model_input(bad, 16000)
