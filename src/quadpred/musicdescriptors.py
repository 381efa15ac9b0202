"""Clip-level musical descriptors with librosa: what a network reading 1-s chunks cannot see
(key and mode, tempo and pulse, dynamics over the whole clip), plus timbre summaries.

One vector of ``len(DESCRIPTORS)`` values per clip, read by the same classifiers as the openSMILE
functionals (``functionals.py``, feature set 'music').
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import QuadpredError

SAMPLE_RATE = 16000
HOP = 512  # 32 ms frames at 16 kHz
WINDOW_SECONDS = 4.0  # the key is also estimated in windows of this length, every half window
# Krumhansl-Kessler key profiles (C major, C minor); a key is a rotation of one of them
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MIN_SECONDS = 3.0  # below ~2.1 s the constant-Q transform's lowest octave no longer fills one FFT window
N_MFCC = 13
CONTRAST_BANDS = 7  # librosa's spectral contrast: 6 bands and the residual


def _names() -> tuple[str, ...]:
    """The descriptors' names, in the order of :func:`music_descriptors`' values."""
    tonal = ["major_r", "minor_r", "mode", "key_clarity", "window_mode_mean", "window_mode_sd",
             "window_clarity_mean", "window_clarity_sd", "window_key_changes", "chroma_flux",
             *(f"chroma_from_tonic_{i}" for i in range(12)),
             *(f"tonnetz_{s}_{i}" for s in ("mean", "sd") for i in range(6))]
    rhythm = ["log2_tempo", "pulse_clarity", "onset_rate", "onset_mean", "onset_sd"]
    dynamics = ["rms_db_mean", "rms_db_sd", "rms_db_range", "low_energy_share", "percussive_share"]
    timbre = [*(f"contrast_{s}_{i}" for s in ("mean", "sd") for i in range(CONTRAST_BANDS)),
              *(f"{f}_{s}" for f in ("centroid", "bandwidth", "rolloff", "flatness", "zcr") for s in ("mean", "sd")),
              *(f"mfcc_{s}_{i}" for s in ("mean", "sd") for i in range(N_MFCC))]
    return tuple(tonal + rhythm + dynamics + timbre)


DESCRIPTORS = _names()


def key_correlations(chroma: np.ndarray) -> np.ndarray:
    """(2, 12) Pearson correlation of a (12,) chroma profile with the major (row 0) and minor
    (row 1) profile of each tonic (column: pitch class of the tonic); zeros for a flat profile."""
    if np.ptp(chroma) == 0:
        return np.zeros((2, 12))
    rows = [[np.corrcoef(chroma, np.roll(profile, tonic))[0, 1] for tonic in range(12)]
            for profile in (MAJOR_PROFILE, MINOR_PROFILE)]
    return np.nan_to_num(np.array(rows))


def _tonality(chroma: np.ndarray) -> list[float]:
    """The tonal descriptors of a (12, frames) chroma: whole-clip key fit, mode and clarity; the
    same in windows (mean, sd, how often the best key changes); chroma flux; the mean chroma
    rotated so that the estimated tonic comes first (key-invariant)."""
    whole = key_correlations(chroma.mean(axis=1))
    best_major, best_minor = whole.max(axis=1)
    width = max(1, round(WINDOW_SECONDS * SAMPLE_RATE / HOP))
    starts = range(0, max(1, chroma.shape[1] - width + 1), max(1, width // 2))
    windows = [key_correlations(chroma[:, s:s + width].mean(axis=1)) for s in starts]
    modes = np.array([w[0].max() - w[1].max() for w in windows])
    clarity = np.array([w.max() for w in windows])
    keys = np.array([int(np.argmax(w)) for w in windows])
    normalised = chroma / np.maximum(chroma.sum(axis=0, keepdims=True), 1e-9)
    flux = float(np.abs(np.diff(normalised, axis=1)).sum(axis=0).mean()) if chroma.shape[1] > 1 else 0.0
    tonic = int(np.argmax(whole.max(axis=0)))
    return [best_major, best_minor, best_major - best_minor, whole.max(), modes.mean(), modes.std(),
            clarity.mean(), clarity.std(), float(np.mean(keys[1:] != keys[:-1])) if len(keys) > 1 else 0.0,
            flux, *np.roll(chroma.mean(axis=1), -tonic)]


def _mean_sd(values: np.ndarray) -> list[float]:
    """(rows, frames) -> the rows' means, then their sds."""
    return [*values.mean(axis=1), *values.std(axis=1)]


def music_descriptors(signal: np.ndarray) -> np.ndarray:
    """(len(DESCRIPTORS),) float32 descriptors of a (samples,) mono signal at 16 kHz; finite.
    QuadpredError for a signal shorter than MIN_SECONDS."""
    import librosa

    if len(signal) < MIN_SECONDS * SAMPLE_RATE:
        raise QuadpredError(f"{len(signal) / SAMPLE_RATE:.2f} s of audio is too short for the musical descriptors "
                            f"(at least {MIN_SECONDS:.0f} s): remove the clip from the manifest")

    harmonic, percussive = librosa.effects.hpss(signal)
    with warnings.catch_warnings():  # a clip without pitched sound has no tuning to estimate: 0 is right
        warnings.filterwarnings("ignore", "Trying to estimate tuning from empty frequency set")
        chroma = librosa.feature.chroma_cqt(y=harmonic, sr=SAMPLE_RATE, hop_length=HOP)
    tonnetz = librosa.feature.tonnetz(chroma=chroma)
    spectrum = np.abs(librosa.stft(signal, n_fft=2048, hop_length=HOP))
    # the log-mel that onset_strength and mfcc would each compute from the signal, computed once
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=spectrum ** 2, sr=SAMPLE_RATE))
    onsets = librosa.onset.onset_strength(S=log_mel, sr=SAMPLE_RATE, hop_length=HOP)
    tempogram = librosa.feature.tempogram(onset_envelope=onsets, sr=SAMPLE_RATE, hop_length=HOP).mean(axis=1)
    bpm = librosa.tempo_frequencies(len(tempogram), sr=SAMPLE_RATE, hop_length=HOP)
    in_range = (bpm >= 30) & (bpm <= 300)
    tempo = float(librosa.feature.tempo(onset_envelope=onsets, sr=SAMPLE_RATE, hop_length=HOP)[0])
    seconds = len(signal) / SAMPLE_RATE
    onset_count = len(librosa.onset.onset_detect(onset_envelope=onsets, sr=SAMPLE_RATE, hop_length=HOP))
    rhythm = [np.log2(max(tempo, 1.0)), tempogram[in_range].max() / max(tempogram[in_range].mean(), 1e-9),
              onset_count / seconds, onsets.mean(), onsets.std()]
    rms = librosa.feature.rms(y=signal, hop_length=HOP)[0]
    rms_db = librosa.amplitude_to_db(rms, ref=1.0, top_db=80.0)
    energy = [rms_db.mean(), rms_db.std(), np.percentile(rms_db, 95) - np.percentile(rms_db, 5),
              float(np.mean(rms < rms.mean())), float(np.sum(percussive ** 2) / max(np.sum(signal ** 2), 1e-12))]
    timbre = [*_mean_sd(librosa.feature.spectral_contrast(S=spectrum, sr=SAMPLE_RATE)),
              *(v for f in (librosa.feature.spectral_centroid, librosa.feature.spectral_bandwidth,
                            librosa.feature.spectral_rolloff) for v in _mean_sd(f(S=spectrum, sr=SAMPLE_RATE))),
              *_mean_sd(librosa.feature.spectral_flatness(S=spectrum)),
              *_mean_sd(librosa.feature.zero_crossing_rate(signal, hop_length=HOP)),
              *_mean_sd(librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC))]
    values = np.array([*_tonality(chroma), *_mean_sd(tonnetz), *rhythm, *energy, *timbre], dtype=np.float64)
    return np.nan_to_num(values).astype(np.float32)
