"""Log-mel of a long recording in blocks, with bounded memory.

Decoding, mixing to mono, resampling (soxr's streaming resampler, HQ as everywhere) and the
STFT advance block by block; only the linear mel spectrogram is kept (128 floats per 32 ms,
~57 MB per hour), not the decoded audio (~1.3 GB per hour of 44.1-kHz stereo). The file's
peak is known only at the end, and the mel is linear in the signal, so the normalisation by
the peak is applied to the mel before the log: log(mel(y) / peak + eps) = log(mel(y / peak) + eps).
The frames are those of :func:`quadpred.features.log_mel` on the whole file (centred, reflect
padding at both ends); results agree with whole-file processing to float rounding.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from .audio import SILENCE_PEAK, ReadLimits, _short, check_audio_path, check_complete, check_header, read_audio, to_model_input
from .config import FeatureConfig
from .errors import AudioError
from .features import _cpu_module, mel_product

MP3_FRAME = 1152


class _Framer:
    """Turns a stream of 16-kHz samples into linear mel frames (centred, reflect-padded)."""

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.module = _cpu_module(config)
        self.pad = config.n_fft // 2
        self.pending = np.zeros(0, dtype=np.float32)  # padded-signal samples not yet fully framed
        self.started = False
        self.samples = 0
        self.peak = 0.0
        self.frames: list[np.ndarray] = []

    def push(self, y: np.ndarray, *, last: bool) -> None:
        self.samples += len(y)
        if len(y):
            self.peak = max(self.peak, float(np.max(np.abs(y))))
        if not self.started:
            if len(y) <= self.pad and not last:
                self.pending = np.concatenate([self.pending, y])
                return
            y = np.concatenate([self.pending, y])
            self.pending = np.zeros(0, dtype=np.float32)
            if len(y) <= self.pad:
                raise AudioError("too short to analyse")
            y = np.concatenate([y[1:self.pad + 1][::-1], y])  # reflect padding at the start
            self.started = True
        buffer = np.concatenate([self.pending, y])
        if last:
            buffer = np.concatenate([buffer, buffer[-self.pad - 1:-1][::-1]])  # reflect padding at the end
        n_fft, hop = self.config.n_fft, self.config.hop_length
        count = 0 if len(buffer) < n_fft else 1 + (len(buffer) - n_fft) // hop
        if count:
            self.frames.append(self._mel(buffer[: (count - 1) * hop + n_fft]))
        self.pending = buffer[count * hop:]

    def _mel(self, padded: np.ndarray) -> np.ndarray:
        module = self.module
        with torch.inference_mode():
            spec = torch.stft(torch.from_numpy(np.ascontiguousarray(padded)), n_fft=self.config.n_fft,
                              hop_length=self.config.hop_length, win_length=module.window.shape[0],
                              window=module.window, center=False, return_complex=True).abs()
            return mel_product(module.mel_basis, spec).numpy()


def stream_log_mel(path: str | Path, config: FeatureConfig = FeatureConfig(), *,
                   block_seconds: float = 30.0, min_samples: int = 0,
                   limits: ReadLimits = ReadLimits()) -> tuple[np.ndarray, float]:
    """(n_mels, frames) log-mel of a file and its duration in seconds, reading ``block_seconds``
    of audio at a time. Accepts and refuses exactly what :func:`quadpred.audio.load_audio` does
    (the same header limits, truncation, non-finite, silent and too-short rules), raising
    AudioError; ``min_samples`` counts 16-kHz samples, as there. ``limits``: the longest
    recording and the time the file may take (checked after every block)."""
    path = Path(path)
    check_audio_path(path)
    started = time.monotonic()
    framer = _Framer(config)
    decoded = 0
    try:
        with sf.SoundFile(str(path)) as handle:
            rate, channels = handle.samplerate, handle.channels
            announced = handle.frames
            check_header(path, rate, channels, announced, hours=limits.hours)
            resampler = soxr.ResampleStream(rate, config.sample_rate, 1, dtype="float32", quality="HQ") \
                if rate != config.sample_rate else None
            # whole MPEG frames (1152 samples): libsndfile's mp3 decoder returns different samples
            # around a read boundary that falls inside a frame
            block = max(1, round(block_seconds * rate / MP3_FRAME)) * MP3_FRAME
            while True:
                data = handle.read(block, dtype="float32", always_2d=True)
                decoded += len(data)
                last = len(data) < block
                mono = data.mean(axis=1) if channels > 1 else data[:, 0]
                if not np.all(np.isfinite(mono)):
                    raise AudioError(f"{path}: contains NaN or infinite samples; the file is damaged")
                y = resampler.resample_chunk(mono, last=last) if resampler else mono
                framer.push(np.ascontiguousarray(y, dtype=np.float32), last=last)
                limits.check_time(path, started, max(announced, decoded) / rate)
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError, ValueError, MemoryError) as exc:
        raise AudioError(f"{path}: not readable as audio, truncated or corrupt ({_short(exc)}); re-export it") from exc
    except AudioError as exc:
        if str(exc) == "too short to analyse":
            raise AudioError(f"{path}: too short ({framer.samples / config.sample_rate:.2f} s) to analyse") from exc
        raise
    check_complete(path, announced, decoded)
    if framer.samples == 0:
        raise AudioError(f"{path}: holds no audio samples; re-export or remove it")
    if framer.peak <= SILENCE_PEAK:
        raise AudioError(f"{path}: is silent (peak {framer.peak:.1e}); nothing to analyse")
    if framer.samples < min_samples:
        raise AudioError(f"{path}: too short ({framer.samples / config.sample_rate:.3f} s); at least "
                         f"{min_samples / config.sample_rate:.3f} s are needed for one chunk")
    mel = np.concatenate(framer.frames, axis=1)
    np.log(mel / np.float32(framer.peak) + np.float32(config.log_eps), out=mel)
    return mel, framer.samples / config.sample_rate


def whole_file_log_mel(path: str | Path, config: FeatureConfig = FeatureConfig()) -> tuple[np.ndarray, float]:
    """The reference: decode everything, then :func:`quadpred.features.compute_log_mel`."""
    from .features import compute_log_mel

    data, rate = read_audio(path)
    y = to_model_input(data, rate, target_rate=config.sample_rate, name=str(path))
    return compute_log_mel(y, config), len(y) / config.sample_rate
