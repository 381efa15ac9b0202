"""Emotion-labelled music synthesised in numpy: melody, chords, bass, drums, vocals.

Each quadrant draws its cues from ranges that follow what music psychology reports
(Juslin & Laukka 2004; Gabrielsson & Lindström 2010): high arousal -> fast tempo,
loud/compressed, short articulation, dense drums; negative valence -> minor mode,
dissonance, (for Q2) distortion and irregular rhythm, (for Q3) low register and dark
timbre. Ranges overlap, so no single cue gives the label away.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import soxr

from .espeak import VARIANTS, Voice, speak
from .text import sentence

SAMPLE_RATE = 22050
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_PROGRESSIONS = {True: [[0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4]], False: [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 4]]}
TIMBRES = ("pluck", "pad", "organ", "bell")

# quadrant -> cue -> (low, high) of a uniform draw; "major" and "vocal" are probabilities.
CUE_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "Q1": dict(major=(0.85, 0.85), tempo=(105, 165), loudness=(-10, -3), articulation=(0.3, 0.8), register=(67, 79),
               brightness=(0.5, 0.9), distortion=(0.0, 0.25), dissonance=(0.0, 0.15), jitter=(0.0, 0.04),
               drums=(0.55, 1.0)),
    "Q2": dict(major=(0.25, 0.25), tempo=(95, 175), loudness=(-9, -2), articulation=(0.25, 0.9), register=(55, 72),
               brightness=(0.6, 1.0), distortion=(0.3, 1.0), dissonance=(0.25, 0.7), jitter=(0.03, 0.15),
               drums=(0.55, 1.0)),
    "Q3": dict(major=(0.15, 0.15), tempo=(55, 95), loudness=(-24, -12), articulation=(0.7, 1.0), register=(50, 67),
               brightness=(0.1, 0.5), distortion=(0.0, 0.15), dissonance=(0.05, 0.35), jitter=(0.0, 0.08),
               drums=(0.0, 0.4)),
    "Q4": dict(major=(0.8, 0.8), tempo=(60, 100), loudness=(-22, -11), articulation=(0.7, 1.0), register=(62, 76),
               brightness=(0.15, 0.55), distortion=(0.0, 0.1), dissonance=(0.0, 0.15), jitter=(0.0, 0.05),
               drums=(0.0, 0.35)),
}
# quadrant -> sung/spoken line prosody: eSpeak rate (words/min), pitch and pitch range (0..100).
VOCAL_PROSODY: dict[str, dict[str, tuple[int, int]]] = {
    "Q1": dict(rate=(170, 230), pitch=(55, 85), range=(60, 95)),
    "Q2": dict(rate=(175, 240), pitch=(45, 75), range=(40, 80)),
    "Q3": dict(rate=(100, 145), pitch=(15, 45), range=(5, 35)),
    "Q4": dict(rate=(110, 155), pitch=(35, 65), range=(20, 55)),
}


@dataclasses.dataclass(frozen=True)
class MusicCues:
    """The drawn cues of one clip (what the data card summarises)."""

    quadrant: str
    major: bool
    tempo: float
    loudness: float
    articulation: float
    register: float
    brightness: float
    distortion: float
    dissonance: float
    jitter: float
    drums: float
    timbre: str
    vocal: bool


def draw_cues(quadrant: str, rng: np.random.Generator, *, vocal_share: float) -> MusicCues:
    """Cues of one clip of ``quadrant``; a share ``vocal_share`` of clips has a vocal line."""
    ranges = CUE_RANGES[quadrant]
    values = {name: float(rng.uniform(*bounds)) for name, bounds in ranges.items() if name != "major"}
    return MusicCues(quadrant=quadrant, major=bool(rng.random() < ranges["major"][0]),
                     timbre=TIMBRES[int(rng.integers(len(TIMBRES)))], vocal=bool(rng.random() < vocal_share),
                     **values)


def _midi_hz(midi: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69.0) / 12.0)


def _tone(freq: float, seconds: float, *, timbre: str, brightness: float) -> np.ndarray:
    """One note: additive harmonics with a timbre envelope; (samples,)."""
    n = max(int(seconds * SAMPLE_RATE), 16)
    t = np.arange(n) / SAMPLE_RATE
    n_harmonics = 2 + int(brightness * 10)
    k = np.arange(1, n_harmonics + 1)
    k = k[k * freq < SAMPLE_RATE / 2 - 500]
    amplitudes = 1.0 / k ** (2.2 - 1.4 * brightness)
    if timbre == "bell":
        k = k * (1 + 0.003 * k ** 2)  # slightly inharmonic partials
        wave = np.sin(2 * np.pi * freq * np.outer(t, k)) @ amplitudes
    else:
        wave = _harmonic_sum(2 * np.pi * freq * t, amplitudes)
    if timbre == "pluck":
        envelope = np.exp(-t * (3.0 + 4.0 / max(seconds, 0.1)))
    elif timbre == "pad":
        envelope = np.minimum(1.0, t / min(0.15, seconds / 2)) * np.exp(-t * 0.5)
    elif timbre == "bell":
        envelope = np.exp(-t * 2.5)
    else:  # organ
        envelope = np.ones(n)
    release = min(n, int(0.02 * SAMPLE_RATE))
    envelope[-release:] *= np.linspace(1.0, 0.0, release)
    return (wave * envelope).astype(np.float32)


def _harmonic_sum(phase: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """sum_k amplitudes[k-1] * sin(k * phase) for k = 1..K; (samples,).

    By the recurrence sin((k+1)x) = 2 cos(x) sin(kx) - sin((k-1)x): two sines per sample instead of
    K (a fifth of the time; within 1e-9 of the direct sum for K <= 12)."""
    previous, current = np.zeros_like(phase), np.sin(phase)
    twice_cos = 2 * np.cos(phase)
    wave = amplitudes[0] * current
    for amplitude in amplitudes[1:]:
        previous, current = current, twice_cos * current - previous
        wave += amplitude * current
    return wave


def _add(buffer: np.ndarray, sound: np.ndarray, start: float, gain: float) -> None:
    first = int(start * SAMPLE_RATE)
    if first < 0 or first >= len(buffer):
        return
    end = min(len(buffer), first + len(sound))
    buffer[first:end] += gain * sound[: end - first]


def _drum(kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
    if kind == "kick":
        phase = 2 * np.pi * np.cumsum(50 + 90 * np.exp(-t * 30)) / SAMPLE_RATE
        return (np.sin(phase) * np.exp(-t * 12)).astype(np.float32)
    noise = rng.standard_normal(len(t)).astype(np.float32)
    if kind == "snare":
        return (0.6 * noise * np.exp(-t * 25) + 0.4 * np.sin(2 * np.pi * 185 * t) * np.exp(-t * 20)).astype(np.float32)
    hat = np.diff(noise, prepend=0.0)
    return (0.4 * hat * np.exp(-t * 80)).astype(np.float32)


def _vocal_line(language: str, quadrant: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Spoken/chanted sentences with the quadrant's prosody, filling about half the clip."""
    prosody = VOCAL_PROSODY[quadrant]
    voice = Voice(language=language, variant=VARIANTS[int(rng.integers(len(VARIANTS)))],
                  **{k: int(rng.integers(lo, hi + 1)) for k, (lo, hi) in prosody.items()})
    line = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    at = float(rng.uniform(0.2, 1.5))
    while at < seconds - 1.0:
        speech, rate = speak(sentence(language, rng), voice)
        if rate != SAMPLE_RATE:
            speech = soxr.resample(speech, rate, SAMPLE_RATE)
        _add(line, speech, at, 1.0)
        at += len(speech) / SAMPLE_RATE + float(rng.uniform(1.0, 3.0))
    return line


def render(cues: MusicCues, seconds: float, language: str, rng: np.random.Generator) -> np.ndarray:
    """Render one clip: float32 (samples,) at SAMPLE_RATE, peak 0.9."""
    n = int(seconds * SAMPLE_RATE)
    melody, chords, bass, drums = (np.zeros(n, np.float32) for _ in range(4))
    beat = 60.0 / cues.tempo
    scale = _MAJOR if cues.major else _MINOR
    key = int(rng.integers(12))
    progression = _PROGRESSIONS[cues.major][int(rng.integers(3))]
    steps_per_beat = 2 if cues.tempo < 120 and rng.random() < 0.5 else 1
    if cues.tempo > 130:
        steps_per_beat = 2
    degree = int(rng.integers(7))
    n_beats = int(seconds / beat) + 1
    jitter = lambda: float(rng.normal(0.0, cues.jitter * beat))  # noqa: E731

    for bar in range(n_beats // 4 + 1):
        root = progression[bar % len(progression)]
        start = bar * 4 * beat
        triad = [scale[(root + i) % 7] + 12 * ((root + i) // 7) for i in (0, 2, 4)]
        chord_notes = [48 + key + 12 + p for p in triad]
        if rng.random() < cues.dissonance:
            chord_notes.append(chord_notes[0] + int(rng.choice([1, 6, 11])))
        for note in chord_notes:
            _add(chords, _tone(_midi_hz(note), 4 * beat, timbre="pad", brightness=cues.brightness * 0.7),
                 start + jitter(), 0.18)
        for b in range(4):
            _add(bass, _tone(_midi_hz(36 + key + scale[root]), beat * max(cues.articulation, 0.4),
                             timbre="pluck", brightness=0.3), start + b * beat + jitter(), 0.45)

    step = beat / steps_per_beat
    for i in range(int(seconds / step) + 1):
        if rng.random() < 0.12:
            continue  # a rest
        degree = int(np.clip(degree + rng.choice([-2, -1, -1, 0, 1, 1, 2]), -3, 10))
        midi = cues.register + key % 5 + scale[degree % 7] + 12 * (degree // 7) - 6
        if rng.random() < cues.dissonance * 0.5:
            midi += int(rng.choice([1, -1, 6]))
        _add(melody, _tone(_midi_hz(midi), step * cues.articulation, timbre=cues.timbre, brightness=cues.brightness),
             i * step + jitter(), 0.35)

    if cues.drums > 0.1:
        for b in range(n_beats):
            t0 = b * beat
            if b % 2 == 0 and rng.random() < cues.drums + 0.2:
                _add(drums, _drum("kick", rng), t0 + jitter(), 0.8)
            if b % 2 == 1 and rng.random() < cues.drums:
                _add(drums, _drum("snare", rng), t0 + jitter(), 0.5)
            if cues.drums > 0.5:
                for half in (0.0, 0.5):
                    _add(drums, _drum("hat", rng), t0 + half * beat + jitter(), 0.3 * cues.drums)

    mix = melody + chords + bass + drums
    if cues.vocal:
        line = _vocal_line(language, cues.quadrant, seconds, rng)
        mix = mix + line * float(rng.uniform(0.5, 0.9)) * (np.std(mix) / max(float(np.std(line)), 1e-6))
    mix = mix / max(float(np.std(mix)), 1e-6) * 0.1
    drive = 1.0 + 8.0 * cues.distortion
    gain = 10.0 ** (cues.loudness / 20.0) * 4.0
    mix = np.tanh(drive * gain * mix) / np.tanh(drive)
    mix += float(10 ** rng.uniform(-4.5, -3.5)) * rng.standard_normal(n).astype(np.float32)  # recording noise
    # Peak at 0.9 leaves head-room for the overshoot of lossy (mp3) encoding.
    return (0.9 * mix / float(np.max(np.abs(mix)))).astype(np.float32)
