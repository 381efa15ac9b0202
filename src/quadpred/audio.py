"""Decoding audio files into the study's input signal.

Any format libsndfile reads (wav, flac, ogg/vorbis, ogg/opus, mp3, aiff, ...), any
sample rate and channel count -> mono float32 at 16 kHz, peak-normalised to 1.
Bad input raises :class:`~quadpred.errors.AudioError` naming the file and the reason;
a returned array is always finite and non-silent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".opus", ".oga", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64", ".rf64"}
)
SILENCE_PEAK = 1e-5
"""Peak amplitude (full scale 1.0) at or below which a signal counts as silent."""
_TRUNCATION_TOLERANCE = 0.01
"""Share of the announced frames that may be missing before a file counts as truncated
(mp3 headers only estimate their length)."""


MIN_SAMPLE_RATE = 4000
"""Lowest sample rate accepted: below it a header is damaged or the file is not audio (a
155-KB file whose header said 3 Hz announced 14 hours)."""
MAX_SAMPLE_RATE = 768_000
"""Highest sample rate accepted (the highest in use); above it the resampler's filter alone takes
minutes (a fuzzed header said 2,147,483,647 Hz)."""
MAX_CHANNELS_IN_FILE = 64
MAX_HOURS = 12.0
"""Longest recording accepted by default, so that no header can make a batch run for days."""
SECONDS_PER_HOUR = 600.0
"""Default time a file may take to decode and analyse in a batch, per hour of audio, on top of
READ_GRACE: a reader six times slower than real time is stuck (10 min of 44.1-kHz stereo took
27 s on 2 cores shared with a training run)."""
READ_GRACE = 60.0


@dataclass(frozen=True)
class ReadLimits:
    """What one file may cost a batch. ``hours``: the longest recording accepted (peak memory
    grows with the length: docs/benchmarks.md); ``seconds_per_hour``: the time its decoding and
    features may take per hour of audio, plus READ_GRACE (None: no limit), checked after every
    block."""

    hours: float = MAX_HOURS
    seconds_per_hour: float | None = SECONDS_PER_HOUR

    def check_time(self, path: Path, started: float, audio_seconds: float) -> None:
        """AudioError if reading ``audio_seconds`` of ``path`` has taken longer than allowed since
        ``started`` (time.monotonic())."""
        if self.seconds_per_hour is None:
            return
        budget = READ_GRACE + self.seconds_per_hour * audio_seconds / 3600
        if time.monotonic() - started > budget:
            raise AudioError(f"{path}: reading it took over {budget:.0f} s, the limit for its {audio_seconds / 60:.1f} "
                             f"min of audio ({READ_GRACE:g} s + {self.seconds_per_hour:g} s per hour); the file is "
                             "damaged or the machine overloaded: check it, or raise --file-timeout")


def check_header(path: Path, sample_rate: int, channels: int, frames: int, *, hours: float = MAX_HOURS) -> None:
    """The limits every reader applies to what a file's header announces; AudioError if out."""
    if sample_rate < MIN_SAMPLE_RATE:
        raise AudioError(f"{path}: sample rate {sample_rate} Hz is below {MIN_SAMPLE_RATE} Hz; the header is "
                         "damaged or this is not audio: re-export it")
    if sample_rate > MAX_SAMPLE_RATE:
        raise AudioError(f"{path}: sample rate {sample_rate} Hz is above {MAX_SAMPLE_RATE} Hz; the header is "
                         "damaged: re-export it")
    if not 1 <= channels <= MAX_CHANNELS_IN_FILE:
        raise AudioError(f"{path}: {channels} channels announced (at most {MAX_CHANNELS_IN_FILE} accepted); the "
                         "header is damaged: re-export it")
    if frames > hours * 3600 * sample_rate:
        raise AudioError(f"{path}: announces {frames / sample_rate / 3600:.3g} hours, over the {hours:.3g}-hour "
                         "limit; the header is damaged, or cut the recording into parts (or raise --max-hours)")


def check_complete(path: Path, announced: int, decoded: int) -> None:
    """AudioError if fewer samples decoded than the header announced (beyond mp3's estimate)."""
    if announced > 0 and decoded < announced * (1 - _TRUNCATION_TOLERANCE):
        raise AudioError(f"{path}: truncated (header announces {announced} samples, file holds {decoded}); "
                         "re-export it")


def is_audio_path(path: Path) -> bool:
    """True if the file name has an audio extension quadpred reads."""
    return path.suffix.lower() in AUDIO_EXTENSIONS


def audio_files_below(root: str | Path) -> list[Path]:
    """Every audio file below ``root`` (recursively), sorted."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and is_audio_path(p))


def check_audio_path(path: Path) -> None:
    """The checks that need no decoding: the file exists, is a file and is not empty."""
    if not path.exists():
        raise AudioError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes); re-export or remove it")


def read_audio(path: str | Path, *, limits: ReadLimits = ReadLimits()) -> tuple[np.ndarray, int]:
    """Decode a file as it is: float32 array (samples, channels) and its sample rate."""
    path = Path(path)
    check_audio_path(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            announced = handle.frames
            sample_rate = handle.samplerate
            check_header(path, sample_rate, handle.channels, announced, hours=limits.hours)
            data = handle.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, MemoryError) as exc:
        raise AudioError(
            f"{path}: not readable as audio, truncated or corrupt ({_short(exc)}); re-export it as wav/flac/mp3/ogg"
        ) from exc
    check_complete(path, announced, len(data))
    if len(data) == 0:
        raise AudioError(f"{path}: holds no audio samples; re-export or remove it")
    return data, sample_rate


def to_model_input(
    data: np.ndarray, sample_rate: int, *, target_rate: int = 16000, min_samples: int = 0, name: str = "signal"
) -> np.ndarray:
    """Mono, resampled, peak-normalised float32 signal of shape (samples,).

    ``data`` is (samples,) or (samples, channels). Resampling uses soxr's HQ
    quality, as ``librosa.load`` does. Raises AudioError on non-finite, silent or
    too-short input (``min_samples`` counted after resampling).
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    elif data.ndim != 1:
        raise AudioError(f"{name}: expected (samples,) or (samples, channels), got shape {data.shape}")
    if sample_rate <= 0:
        raise AudioError(f"{name}: sample rate must be positive, got {sample_rate}")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{name}: contains NaN or infinite samples; the file is damaged")
    if sample_rate != target_rate:
        data = soxr.resample(data, sample_rate, target_rate, quality="HQ").astype(np.float32, copy=False)
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak <= SILENCE_PEAK:
        raise AudioError(f"{name}: is silent (peak {peak:.1e}); nothing to analyse")
    if len(data) < min_samples:
        raise AudioError(
            f"{name}: too short ({len(data) / target_rate:.3f} s); at least "
            f"{min_samples / target_rate:.3f} s are needed for one chunk"
        )
    return data / peak


MAX_CHANNELS = 8  # the most channels an array passed by a user may have; more is taken for samples


def mono_from_array(data: Any, name: str = "array") -> np.ndarray:
    """A user's signal as float32 (samples,), averaging channels.

    Takes a NumPy array, a torch tensor or a list, shaped (samples,), (channels, samples) (the
    librosa and torchaudio order) or (samples, channels) (the soundfile order); the channel axis
    is the one of at most MAX_CHANNELS entries. A 2-D shape where both or neither axis could be
    channels is refused, naming the order to use.
    """
    if hasattr(data, "detach"):  # a torch tensor, on any device
        data = data.detach().cpu().numpy()
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        return data
    if data.ndim != 2:
        raise AudioError(f"{name}: expected (samples,) or (channels, samples), got shape {data.shape}")
    rows, columns = data.shape
    if rows <= MAX_CHANNELS < columns:
        return data.mean(axis=0)
    if columns <= MAX_CHANNELS < rows:
        return data.mean(axis=1)
    raise AudioError(f"{name}: shape {data.shape} is ambiguous; pass (channels, samples) with at most "
                     f"{MAX_CHANNELS} channels, or (samples,) for mono")


def load_audio(path: str | Path, *, sample_rate: int = 16000, min_samples: int = 0,
               limits: ReadLimits = ReadLimits()) -> np.ndarray:
    """Decode ``path`` into the model's input: float32 (samples,) at ``sample_rate``, peak 1."""
    started = time.monotonic()
    data, rate = read_audio(path, limits=limits)
    limits.check_time(Path(path), started, len(data) / rate)
    signal = to_model_input(data, rate, target_rate=sample_rate, min_samples=min_samples, name=str(path))
    limits.check_time(Path(path), started, len(data) / rate)
    return signal


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the file header, without decoding."""
    path = Path(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"{path}: not readable as audio ({_short(exc)})") from exc
    return float(info.frames) / float(info.samplerate)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
