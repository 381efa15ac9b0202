"""``quadpred demo``: the whole study on the built-in world, end to end, in minutes.

1. builds the small synthetic world once (cached in the output folder);
2. prepares English and Mandarin speech and music manifests with the study's splits;
3. extracts their log-mel features;
4. runs the language grid (eng, man, mix speech x eng, man music; baseline, SCAE feat-ext and
   full, CPC feat-ext; each speech model pretrained once, 2 repeats of the emotion models, small
   widths; on a CPU several training runs at a time) and writes the table and report;
5. takes the four language-pair models (SCAE full, repeat 0) and predicts a generated song
   whose four 15-s sections are Q1, Q2, Q3, Q4, writing tag-grams;
printing where everything is. Re-running reuses every finished step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .config import FeatureConfig
from .corpora.world import ensure_world, prepare_world
from .labels import QUADRANTS
from .layout import Setting, transfer_folder
from .manifest import summary
from .store import FeatureStore, extract

LANGUAGE_PAIRS = ("eng2eng", "man2eng", "eng2man", "man2man")
SECTION_SECONDS = 15.0


@dataclass(frozen=True)
class DemoResult:
    world: Path
    manifests: dict[str, Path]
    store: Path
    report: Path | None = None
    models: dict[str, Path] | None = None
    song: Path | None = None
    predictions: Path | None = None


def generate_song(path: Path, *, seed: int) -> Path:
    """A 60-s English song whose four 15-s sections are Q1, Q2, Q3, Q4 (crossfaded)."""
    from .synth.music import SAMPLE_RATE, draw_cues, render

    if path.is_file():
        return path
    rng = np.random.default_rng([seed, 4])
    sections = [render(draw_cues(q, rng, vocal_share=1.0), SECTION_SECONDS, "eng", rng) for q in QUADRANTS]
    fade = int(0.5 * SAMPLE_RATE)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    song = sections[0]
    for section in sections[1:]:
        song = np.concatenate([song[:-fade], song[-fade:] * ramp[::-1] + section[:fade] * ramp, section[fade:]])
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.9 * song / np.max(np.abs(song)), SAMPLE_RATE)
    return path


def run_demo(out: str | Path, *, scale: str = "small", seed: int = 0, workers: int = 2, progress: bool = True,
             models: bool = True, repeats: int = 2, epochs: int = 6, cells: int | None = None) -> DemoResult:
    """Run the demo into ``out``; safe to re-run (each step reuses what is there).
    ``models=False`` stops after the features (the data half); ``cells``: training runs at a time
    (None: :func:`~quadpred.experiment.default_cells`)."""
    out = Path(out)
    start = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f} s] {text}", flush=True)

    world = ensure_world(out / "world", scale=scale, seed=seed, workers=workers, progress=progress)
    say(f"world: {world} (see DATA_CARD.md there)")
    prepared = prepare_world(world, out / "manifests", seed=seed)
    for name, (path, clips) in prepared.items():
        info = summary(clips)
        say(f"manifest {name}: {info['clips']} clips, {info['hours']} h, {info['groups']} groups -> {path}")
    every_clip = [clip for _, clips in prepared.values() for clip in clips]
    extract(every_clip, out / "features", FeatureConfig(), workers=workers, progress=progress)
    store = FeatureStore.open(out / "features", FeatureConfig())
    say(f"features: {len(store)} clips -> {store.folder}")
    manifests = {name: path for name, (path, _) in prepared.items()}
    if not models:
        return DemoResult(world=world, manifests=manifests, store=store.folder)

    from .experiment import default_cells, demo_preset, plan, run_grid
    from .report import write_report

    config = demo_preset((out / "manifests").resolve(), str((out / "features").resolve()), repeats=repeats,
                         epochs=epochs)
    cells = cells or default_cells()
    say(f"grid: {len(plan(config))} training runs, {cells} at a time")
    grid = run_grid(config, out, out / "runs", workers=workers, cells=cells, progress=progress)
    say(f"grid: {len(grid.steps)} training runs, {len(grid.failed)} failed -> {out / 'runs'}")
    files = write_report(out / "runs")
    say(f"report: {files['html']}\n{'':11}table: {files['markdown']}")

    from .predict import Predictor, write_outputs

    pairs = {pair: out / "runs" / transfer_folder(Setting.parse(pair), "scae", 0) / "full" for pair in LANGUAGE_PAIRS}
    song = generate_song(out / "song" / "four_quadrants.wav", seed=seed)
    say(f"song: {song} (sections of {SECTION_SECONDS:.0f} s: {', '.join(QUADRANTS)})")
    for pair, folder in pairs.items():
        if not (folder / "weights.pt").is_file():
            say(f"model {pair}: missing ({folder}); see runs/status.json")
            continue
        prediction = Predictor.from_dir(folder, device="cpu").predict(song)
        write_outputs(prediction, out / "predictions" / pair, song.name)
        centre = (prediction.start + prediction.end) / 2
        tops = []
        for index in range(len(QUADRANTS)):
            inside = (centre >= index * SECTION_SECONDS) & (centre < (index + 1) * SECTION_SECONDS)
            tops.append(QUADRANTS[int(prediction.probabilities["quadrant"][inside].mean(axis=0).argmax())])
        say(f"model {pair} ({folder}): sections predicted {', '.join(tops)} -> "
            f"{out / 'predictions' / pair / (song.name + '.png')}")
    return DemoResult(world=world, manifests=manifests, store=store.folder, report=files["html"], models=pairs,
                      song=song, predictions=out / "predictions")
