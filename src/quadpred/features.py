"""The published log-mel front end, and chunking into the model's 1 x 128 x 31 inputs.

``log_mel`` is the pure function, :class:`LogMel` the ``nn.Module`` that keeps the
window and the Slaney mel filter bank as buffers and runs batched on CPU or GPU.
Both reproduce ``log(librosa.feature.melspectrogram(S=|librosa.stft(y, ...)|) + eps)``.
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
import torch
from torch import Tensor, nn

from .config import FeatureConfig


def mel_filter_bank(config: FeatureConfig) -> np.ndarray:
    """Slaney-style mel filter bank of librosa, shape (n_mels, n_fft // 2 + 1), float32."""
    return librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
        fmin=config.fmin, fmax=config.fmax, htk=False, norm="slaney", dtype=np.float32,
    )


def log_mel(
    waveform: Tensor,
    *,
    window: Tensor,
    mel_basis: Tensor,
    n_fft: int,
    hop_length: int,
    pad_mode: str,
    log_eps: float,
) -> Tensor:
    """Natural-log mel spectrogram of the STFT magnitude.

    Args:
        waveform: (..., samples) float signal.
        window: (win_length,) analysis window, zero-padded to ``n_fft`` centrally.
        mel_basis: (n_mels, n_fft // 2 + 1) filter bank.
    Returns:
        (..., n_mels, frames) with frames = 1 + samples // hop_length (centred frames).
    """
    batch_shape = waveform.shape[:-1]
    flat = waveform.reshape(-1, waveform.shape[-1])
    spec = torch.stft(
        flat, n_fft=n_fft, hop_length=hop_length, win_length=window.shape[0], window=window,
        center=True, pad_mode=pad_mode, return_complex=True,
    ).abs()
    mel = mel_product(mel_basis, spec)
    return torch.log(mel + log_eps).reshape(*batch_shape, mel.shape[-2], mel.shape[-1])


def mel_product(mel_basis: Tensor, spec: Tensor) -> Tensor:
    """(n_mels, bins) @ (..., bins, frames) -> (..., n_mels, frames). On the CPU the sums run in
    float64: in float32 they round differently with the thread count on some CPUs, and a store
    must not depend on how many workers wrote it."""
    if spec.device.type == "cpu":
        return torch.matmul(mel_basis.double(), spec.double()).float()
    return torch.matmul(mel_basis, spec)


class LogMel(nn.Module):
    """``nn.Module`` form of :func:`log_mel` for one :class:`FeatureConfig`.

    Input (..., samples) float32 at ``config.sample_rate``; output (..., n_mels, frames).
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.win_length, periodic=True), persistent=False)
        self.register_buffer("mel_basis", torch.from_numpy(mel_filter_bank(config)), persistent=False)

    def forward(self, waveform: Tensor) -> Tensor:
        return log_mel(
            waveform, window=self.window, mel_basis=self.mel_basis, n_fft=self.config.n_fft,
            hop_length=self.config.hop_length, pad_mode=self.config.pad_mode, log_eps=self.config.log_eps,
        )


@functools.lru_cache(maxsize=4)
def _cpu_module(config: FeatureConfig) -> LogMel:
    return LogMel(config).eval()


def compute_log_mel(signal: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Log-mel of one signal on the CPU: (samples,) float32 -> (n_mels, frames) float32."""
    with torch.inference_mode():
        out = _cpu_module(config)(torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32)))
    return out.numpy()


def chunk_starts(n_frames: int, *, chunk_frames: int, hop_frames: int) -> np.ndarray:
    """First frame of every whole chunk of a spectrogram with ``n_frames`` frames; (n_chunks,)."""
    if n_frames < chunk_frames:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_frames - chunk_frames + 1, hop_frames, dtype=np.int64)


def chunk(spectrogram: np.ndarray, *, chunk_frames: int = 31, hop_frames: int = 31) -> np.ndarray:
    """Cut (n_mels, frames) into (n_chunks, 1, n_mels, chunk_frames); the tail that does not fill
    a chunk is dropped, as in the published predictor. Returns a copy."""
    starts = chunk_starts(spectrogram.shape[-1], chunk_frames=chunk_frames, hop_frames=hop_frames)
    if len(starts) == 0:
        return np.zeros((0, 1, spectrogram.shape[0], chunk_frames), dtype=spectrogram.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(spectrogram, chunk_frames, axis=-1)
    # windows: (n_mels, frames - chunk_frames + 1, chunk_frames)
    return np.ascontiguousarray(windows[:, starts, :].transpose(1, 0, 2)[:, None])
