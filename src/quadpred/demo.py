"""``quadpred demo``: the pipeline on the built-in world, end to end as far as it exists.

Builds the small synthetic world once (cached in the output folder), prepares the four
manifests (English and Mandarin speech, English and Mandarin music) and extracts their
log-mel features into one store, printing where everything is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from .config import FeatureConfig
from .corpora import CORPORA
from .manifest import Clip, split_study, summary, write_manifest
from .store import FeatureStore, extract
from .synth import build_world

# name -> (corpus reader, path inside the world, reader options)
WORLD_SETS: dict[str, tuple[str, str, dict]] = {
    "speech_eng": ("librispeech", "LibriSpeech", {}),
    "speech_man": ("aishell", "data_aishell", {}),
    "music_eng": ("4q", "MER_audio_taffc_dataset", {"group_by": "artist"}),
    "music_man": ("ch818", "CH818/labels.csv", {}),
}


@dataclass(frozen=True)
class DemoResult:
    world: Path
    manifests: dict[str, Path]
    store: Path


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


def run_demo(out: str | Path, *, scale: str = "small", seed: int = 0, workers: int = 2,
             progress: bool = True) -> DemoResult:
    """Run the demo into ``out``; safe to re-run (each step reuses what is there)."""
    out = Path(out)
    start = time.perf_counter()
    world = ensure_world(out / "world", scale=scale, seed=seed, workers=workers, progress=progress)
    print(f"[{time.perf_counter() - start:6.1f} s] world: {world} (see DATA_CARD.md there)")
    prepared = prepare_world(world, out / "manifests", seed=seed)
    for name, (path, clips) in prepared.items():
        info = summary(clips)
        print(f"[{time.perf_counter() - start:6.1f} s] manifest {name}: {info['clips']} clips, "
              f"{info['hours']} h, {info['groups']} groups -> {path}")
    every_clip = [clip for _, clips in prepared.values() for clip in clips]
    extract(every_clip, out / "features", FeatureConfig(), workers=workers, progress=progress)
    store = FeatureStore.open(out / "features", FeatureConfig())
    print(f"[{time.perf_counter() - start:6.1f} s] features: {len(store)} clips -> {store.folder}")
    return DemoResult(world=world, manifests={name: path for name, (path, _) in prepared.items()}, store=store.folder)
