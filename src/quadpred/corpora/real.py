"""The real recordings of ../shared/data (see its README) as the study's manifests: the recipe of
the `real` preset of `quadpred experiment`."""

from __future__ import annotations

from pathlib import Path

from ..manifest import equal_hours_mix, sample_hours, split_music, split_speech, total_hours, write_manifest
from . import CORPORA


def prepare_real(data: str | Path, out: str | Path, *, seed: int = 0) -> dict[str, Path]:
    """Manifests of the real recordings (../shared/data, see its README): English speech from the
    LibriSpeech tree; Mandarin speech from AISHELL plus the Mandarin table, sampled to the same
    hours as the English; ``speech_mix``, half the hours from each (the grid's mixture, for
    `pretrain` and `probe` on their own); the 4Q clips split 70/30 train/test (15 % of train as
    valid) by artist, stratified by quadrant. Returns name -> manifest path."""
    data, out = Path(data), Path(out)
    english = split_speech(CORPORA["librispeech"].prepare(data / "librispeech"), seed=seed)
    mandarin = CORPORA["aishell"].prepare(data / "aishell") + CORPORA["table"].prepare(data / "mandarin-misc" / "clips.csv")
    mandarin = split_speech(sample_hours(mandarin, total_hours(english), seed=seed), seed=seed)
    music = split_music(CORPORA["4q"].prepare(data / "4q-emotion", group_by="artist"), seed=seed)
    paths = {}
    mix = equal_hours_mix([english, mandarin], seed=seed)
    for name, clips in (("speech_eng", english), ("speech_man", mandarin), ("speech_mix", mix), ("music_eng", music)):
        paths[name] = out / f"{name}.jsonl"
        write_manifest(paths[name], clips)
    return paths
