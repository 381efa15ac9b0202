"""The built-in world (`quadpred.synth`) as the study's manifests: the recipe of the `demo` preset
of `quadpred experiment` and of `quadpred demo`."""

from __future__ import annotations

import json
from pathlib import Path

from ..manifest import Clip, split_study, write_manifest
from ..synth import build_world
from . import CORPORA

# name -> (corpus reader, path inside the world, reader options)
WORLD_SETS: dict[str, tuple[str, str, dict]] = {
    "speech_eng": ("librispeech", "LibriSpeech", {}),
    "speech_man": ("aishell", "data_aishell", {}),
    "music_eng": ("4q", "MER_audio_taffc_dataset", {"group_by": "artist"}),
    "music_man": ("ch818", "CH818/labels.csv", {}),
}


def ensure_world(folder: Path, *, scale: str, seed: int, workers: int, progress: bool) -> Path:
    """Build the world into ``folder`` unless a complete one of this scale and seed is there."""
    card = folder / "data_card.json"
    if card.is_file():
        built = json.loads(card.read_text())
        if built.get("scale") == scale and built.get("seed") == seed:
            return folder
    build_world(folder, scale=scale, seed=seed, workers=workers, progress=progress)
    return folder


def prepare_world(world: Path, out: Path, *, seed: int) -> dict[str, tuple[Path, list[Clip]]]:
    """Write one manifest per set of the world, with the study's splits; returns path and clips of each."""
    prepared = {}
    for name, (corpus, relative, options) in WORLD_SETS.items():
        clips = split_study(CORPORA[corpus].prepare(world / relative, **options), seed=seed)
        path = out / f"{name}.jsonl"
        write_manifest(path, clips)
        prepared[name] = (path, clips)
    return prepared
