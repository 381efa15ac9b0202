"""Synthetic acted emotional speech in the layout of ../shared/data/emotional-speech: eSpeak
voices whose prosody carries the quadrant (so the tests and CI of `quadpred probe` never need
the real RAVDESS and CASIA recordings).

::

    OUT/emotional_speech.csv       file, language, speaker, emotion, quadrant (0 = neutral)
    OUT/<language>/<speaker>/<emotion>-<k>.wav

Prosody per quadrant, on top of each speaker's own voice: arousal raises pitch, speed and
loudness; valence widens the pitch range (lively) or narrows it (flat).
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf

from .espeak import Voice, speak
from .text import sentence
from .world import _rng, speaker_voice

# quadrant -> (emotion, pitch shift, range shift, rate factor, volume)
PROSODY: dict[str, tuple[str, int, int, float, int]] = {
    "1": ("happy", 20, 30, 1.25, 140),
    "2": ("angry", 10, -25, 1.3, 180),
    "3": ("sad", -20, -25, 0.7, 60),
    "4": ("calm", -10, 25, 0.8, 80),
    "0": ("neutral", 0, 0, 1.0, 100),
}


def _acted(voice: Voice, quadrant: str) -> Voice:
    _, pitch, spread, rate, volume = PROSODY[quadrant]
    return dataclasses.replace(voice, pitch=int(np.clip(voice.pitch + pitch, 0, 99)),
                               range=int(np.clip(voice.range + spread, 0, 99)), rate=int(voice.rate * rate),
                               volume=volume)


def build_emotional_speech(out: str | Path, *, languages: tuple[str, ...] = ("eng", "man"), speakers: int = 4,
                           per_emotion: int = 2, seed: int = 0) -> Path:
    """Write the corpus and return its table; the same seed gives the same files."""
    out = Path(out)
    rows = []
    for language in languages:
        for speaker in range(speakers):
            voice = speaker_voice(language, speaker, seed)
            for q, (quadrant, (emotion, *_)) in enumerate(PROSODY.items()):
                for k in range(per_emotion):
                    index = ((languages.index(language) * 1000 + speaker) * len(PROSODY) + q) * 1000 + k
                    rng = _rng(seed, "emotional_speech", index)
                    signal, rate = speak(sentence(language, rng), _acted(voice, quadrant))
                    file = f"{language}/s{speaker}/{emotion}-{k}.wav"
                    (out / file).parent.mkdir(parents=True, exist_ok=True)
                    sf.write(out / file, signal, rate, subtype="PCM_16")
                    rows.append([file, language, f"{language}-s{speaker}", emotion, quadrant])
    table = out / "emotional_speech.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "language", "speaker", "emotion", "quadrant"])
        writer.writerows(rows)
    return table
