"""The study's grid: speech language x music language x method x repeat, as plain data.

A config names speech manifests per language (plus a "mix" of languages, the follow-up
study's), music manifests per language, the methods and the repeats. :func:`plan` turns it
into steps (pretraining runs, transfer runs, baselines), each a run folder; :func:`run_grid`
does the steps whose folder is not finished, records a failed step and goes on with the rest.

    <out>/experiment.json                 the resolved config
    <out>/pretrain/..., <out>/transfer/...   the run folders (layout.py)
    <out>/status.json                     per step: done | failed (with the message) | skipped
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import RECIPES, RECIPES_FROM_RANDOM, FeatureConfig, RunConfig, from_dict, load_json, to_dict, with_settings
from .errors import ConfigError, TrainingError
from .featurekinds import DEFAULT_KIND, FEATURE_KINDS
from .layout import Setting, pretrain_folder, transfer_folder
from .manifest import Clip, equal_hours_mix, read_manifest
from .methods import METHODS, family_method
from .modeldir import write_json
from .store import FeatureStore, extract

log = logging.getLogger("quadpred")

MIX = "mix"


@dataclass(frozen=True)
class ExperimentConfig:
    """The grid. Paths are relative to the config file's folder (or absolute).

    speech / music: language -> manifest files; mix: the speech languages mixed, in equal hours,
    into the speech language "mix" (empty: none); settings: "<speech>2<music>" cells (empty:
    every pair); pretrain / transfer: the RunConfig of each kind of stage (given as such or, in
    JSON, as nested dicts of the settings that differ from the defaults: {"model": {...},
    "train": {...}}, checked when the config is made); features: the log-mel FeatureConfig (or
    its dict); tune: Optuna trials
    per training run (0: the defaults); pretrain_once: pretrain each speech model once (repeat 0)
    and start every repeat's transfer from it, so that repeats vary the emotion models only (the
    study trains "each model four times"; pretraining is a third of a repeat on 2 CPU cores).
    transfer_by_family: settings of one family's transfers on top of ``transfer``, as dotted keys
    ({'baseline': {'model.input_norm': true}}; 'baseline' or a family of ``methods``: 'scae', 'cpc', ...).
    """

    name: str = "experiment"
    features_root: str = "features"
    speech: dict[str, list[str]] = field(default_factory=dict)
    music: dict[str, list[str]] = field(default_factory=dict)
    mix: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=lambda: ["baseline", "scae-feat-ext", "scae-full"])
    repeats: int = 4
    seed: int = 0
    tune: int = 0
    pretrain_once: bool = False
    pretrain: RunConfig = field(default_factory=RunConfig)
    transfer: RunConfig = field(default_factory=RunConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    transfer_by_family: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for part, cls in (("pretrain", RunConfig), ("transfer", RunConfig), ("features", FeatureConfig)):
            if isinstance(getattr(self, part), dict):  # settings read from JSON, typed (and checked) once here
                object.__setattr__(self, part, from_dict(cls, getattr(self, part), where=f"experiment {part}"))
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ConfigError(f"experiment methods {unknown} unknown: use {', '.join(METHODS)}")
        if self.repeats <= 0:
            raise ConfigError(f"repeats must be positive, got {self.repeats}")
        if not self.music:
            raise ConfigError("experiment config names no music manifests ('music': {'eng': [...]})")
        if self.mix and not set(self.mix) <= set(self.speech):
            raise ConfigError(f"mix languages {self.mix} must be speech languages ({sorted(self.speech)})")
        speech = self.speech_languages()
        for setting in self.settings:
            source, target = Setting.parse(setting)
            if source not in speech or target not in self.music:
                raise ConfigError(f"setting {setting!r}: write <speech>2<music> with speech in {speech} "
                                  f"and music in {sorted(self.music)}")
        families = {METHODS[m].family or "baseline" for m in self.methods}
        for family, settings in self.transfer_by_family.items():
            if family not in families:
                raise ConfigError(f"transfer_by_family: {family!r} is not a family of the grid's methods "
                                  f"({', '.join(sorted(families))})")
            try:  # an unknown key or a bad value is said here, not mid-grid
                with_settings(self.transfer, settings)
            except ConfigError as exc:
                raise ConfigError(f"transfer_by_family {family!r}: {exc}") from None
        if any(METHODS[m].pretraining for m in self.methods) and not speech:
            raise ConfigError("transfer methods need speech manifests ('speech': {'eng': [...]})")

    def speech_languages(self) -> list[str]:
        return sorted(self.speech) + ([MIX] if self.mix else [])

    def cells(self) -> list[Setting]:
        """The (speech, music) pairs of the grid."""
        if self.settings:
            return [Setting.parse(s) for s in self.settings]
        return [Setting(s, m) for s in self.speech_languages() for m in sorted(self.music)]


def load_experiment(path: str | Path) -> tuple[ExperimentConfig, Path]:
    """The config and the folder its relative paths are resolved against."""
    return load_json(ExperimentConfig, path), Path(path).parent


@dataclass(frozen=True)
class Step:
    """One training run of the grid."""

    kind: str          # 'pretrain' | 'transfer'
    folder: str        # relative to the experiment folder
    speech: str | None
    music: str | None
    family: str | None  # 'scae' | 'cpc' | None (baseline)
    stages: tuple[str, ...]
    repeat: int
    needs: str | None = None  # folder of the pretraining step it starts from

    @property
    def name(self) -> str:
        return self.folder


def plan(config: ExperimentConfig) -> list[Step]:
    """Every step of the grid, pretraining before the transfers that use it."""
    chosen = [METHODS[m] for m in config.methods]
    families = sorted({m.family for m in chosen if m.family})
    # a family's methods share one transfer folder, whose stages are the longest chain asked for
    # (full continues from feat-ext, so asking for full runs both)
    stages_of = {family: max((m.stages for m in chosen if m.family == family), key=len) for family in families}
    steps: list[Step] = []
    cells = config.cells()
    for r in range(config.repeats):
        source = 0 if config.pretrain_once else r
        if r == source:
            for speech in sorted({s for s, _ in cells}):
                for family in families:
                    steps.append(Step("pretrain", pretrain_folder(family, speech, r), speech, None, family, (), r))
        for cell in cells:
            for family in families:
                steps.append(Step("transfer", transfer_folder(cell, family, r), cell.speech, cell.music, family,
                                  stages_of[family], r, needs=pretrain_folder(family, str(cell.speech), source)))
        if "baseline" in config.methods:
            for music in sorted({c.music for c in cells} or set(config.music)):
                steps.append(Step("transfer", transfer_folder(Setting(None, music), None, r), None, music, None,
                                  ("baseline",), r))
    return steps


def method_folder(step: Step, method: str) -> str | None:
    """The model directory of ``method`` inside a transfer step's folder (None if not there)."""
    chosen = METHODS[method]
    if step.kind != "transfer" or step.family != chosen.family or chosen.stage not in step.stages:
        return None
    return f"{step.folder}/{chosen.stage}"


def _read(paths: list[str], base: Path) -> list[Clip]:
    return [clip for path in paths for clip in read_manifest(base / path)]


def speech_sets(config: ExperimentConfig, base: Path) -> dict[str, list[Clip]]:
    """Clips per speech language; "mix" takes an equal share of hours of each mixed language,
    together as many hours as the smallest of them."""
    sets = {language: _read(paths, base) for language, paths in config.speech.items()}
    if config.mix:
        sets[MIX] = equal_hours_mix([sets[language] for language in config.mix], seed=config.seed)
    return sets


@dataclass
class GridResult:
    folder: Path
    steps: list[Step]
    status: dict[str, dict[str, Any]]

    @property
    def failed(self) -> list[str]:
        return [name for name, s in self.status.items() if s["state"] == "failed"]


def run_grid(config: ExperimentConfig, base: str | Path, out: str | Path, *, device: str = "auto",
             workers: int = 1, cells: int = 1, progress: bool = True) -> GridResult:
    """Run every unfinished step of the grid into ``out``; failures are recorded, not raised.

    ``cells`` > 1 trains that many steps at a time, each in its own process with an equal share of
    the cores as threads (a step starts once the pretraining it needs is done): small networks use
    one core far better than two, so on CPU two cells at a time train about 1.3-1.7x faster than
    one cell on both cores. The numbers then are those of a step trained with that many threads.
    """
    base, out = Path(base), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "experiment.json", to_dict(config))
    inputs = _GridInputs.prepare(config, base, workers=workers, progress=progress)
    steps = plan(config)
    status: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    if cells > 1:
        _run_parallel(steps, status, config, base, out, device=device, cells=cells, progress=progress)
    else:
        for number, step in enumerate(steps, start=1):
            if _need(step, status) != "done":  # run in plan order: what it needs has finished, one way or another
                status[step.name] = _skipped(step)
                continue
            log.info("[%d/%d] %s", number, len(steps), step.name)
            status[step.name] = _run_step(step, config, inputs, out, device=device, progress=progress)
            if status[step.name]["state"] == "failed":
                log.warning("%s failed: %s", step.name, status[step.name]["reason"])
            write_json(out / "status.json", status)
    write_json(out / "status.json", status)
    log.info("grid: %d steps in %.0f s, %d failed", len(steps), time.perf_counter() - started,
             sum(s["state"] == "failed" for s in status.values()))
    return GridResult(out, steps, status)


def _need(step: Step, status: dict[str, dict[str, Any]]) -> str:
    """The state of the step that ``step`` needs: 'done' when it needs none, 'waiting' before it ran."""
    return status.get(step.needs, {}).get("state", "waiting") if step.needs else "done"


def _skipped(step: Step) -> dict[str, str]:
    return {"state": "skipped", "reason": f"{step.needs} did not finish"}


@dataclass(frozen=True)
class _GridInputs:
    """What every step reads: the clips per speech and music language, the feature stores per kind."""

    speech: dict[str, list[Clip]]
    music: dict[str, list[Clip]]
    stores: dict[str, FeatureStore]

    @classmethod
    def prepare(cls, config: ExperimentConfig, base: Path, *, workers: int = 1, progress: bool = False,
                extract_missing: bool = True) -> _GridInputs:
        """Read the manifests and open the stores (extracting what is missing unless told not to)."""
        speech = speech_sets(config, base)
        music = {language: _read(paths, base) for language, paths in config.music.items()}
        every_clip = [c for clips in (*speech.values(), *music.values()) for c in clips]
        features_root = base / config.features_root
        settings = {DEFAULT_KIND: config.features}
        for kind in sorted({METHODS[m].features for m in config.methods} - {DEFAULT_KIND}):
            settings[kind] = FEATURE_KINDS[kind].settings()
        if extract_missing:
            for kind_settings in settings.values():
                extract(every_clip, features_root, kind_settings, workers=workers, progress=progress)
        stores = {kind: FeatureStore.open(features_root, kind_settings) for kind, kind_settings in settings.items()}
        return cls(speech, music, stores)


def _run_step(step: Step, config: ExperimentConfig, inputs: _GridInputs, out: Path, *, device: str,
              progress: bool) -> dict[str, str]:
    """Train one step into its folder; its status entry (done, or failed with the message)."""
    from .stages import pretrain, transfer_stages, tuned

    seed = config.seed + step.repeat
    family = family_method(step.family) if step.family else None
    store = inputs.stores[family.features if family else DEFAULT_KIND]
    try:
        if step.kind == "pretrain":
            run = _variant(_seeded(config.pretrain, seed), step.family)
            method = family.pretraining if family else None

            def train(run_config: RunConfig, folder: Path) -> Any:
                return pretrain(inputs.speech[step.speech], store, folder, method=method, run=run_config,
                                device=device, progress=progress)

            tuned(train, run, out / step.folder, trials=config.tune, stage=method)
        else:
            run = _variant(_seeded(config.transfer, seed), step.family)
            run = with_settings(run, config.transfer_by_family.get(step.family or "baseline", {}))
            transfer_stages(inputs.music[step.music], store, out / step.folder,
                            encoder=out / step.needs if step.needs else None, stages=step.stages, run=run,
                            device=device, progress=progress, trials=config.tune)
        return {"state": "done"}
    except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the grid
        return {"state": "failed", "reason": f"{type(exc).__name__}: {exc}"}


_CELL: dict[str, Any] = {}  # in a cell process: what _init_cell read once


def _init_cell(config: ExperimentConfig, base: Path, out: Path, device: str, threads: int) -> None:
    import torch

    from .allocator import keep_freed_memory

    keep_freed_memory()  # a spawned process starts with glibc's defaults
    torch.set_num_threads(threads)
    _CELL.update(config=config, inputs=_GridInputs.prepare(config, base, extract_missing=False), out=out,
                 device=device)


def _run_cell(step: Step) -> dict[str, str]:
    return _run_step(step, _CELL["config"], _CELL["inputs"], _CELL["out"], device=_CELL["device"], progress=False)


def _run_parallel(steps: list[Step], status: dict[str, dict[str, Any]], config: ExperimentConfig, base: Path,
                  out: Path, *, device: str, cells: int, progress: bool) -> None:
    """Run ``steps`` ``cells`` at a time in processes of their own, each step once what it needs is done
    (one progress bar over the steps instead of each run's own)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from tqdm.auto import tqdm

    from .files import bar_off

    threads = max(1, available_cores() // cells)
    waiting = list(steps)
    running: dict[Any, Step] = {}
    # spawn, not fork: a forked child inherits the parent's torch thread pools in an undefined state
    with ProcessPoolExecutor(cells, mp_context=multiprocessing.get_context("spawn"), initializer=_init_cell,
                             initargs=(config, base, out, device, threads)) as pool, \
            tqdm(total=len(steps), desc=f"grid, {cells} at a time", unit="run", disable=bar_off(progress)) as bar:
        while waiting or running:
            for step in list(waiting):
                need = _need(step, status)
                if need in ("failed", "skipped"):
                    status[step.name] = _skipped(step)
                    waiting.remove(step)
                elif need == "done" and len(running) < cells:
                    log.info("[%d/%d] %s", steps.index(step) + 1, len(steps), step.name)
                    running[pool.submit(_run_cell, step)] = step
                    waiting.remove(step)
            if not running:
                if waiting:  # cannot happen with plan()'s order; never wait forever
                    raise RuntimeError(f"steps wait on steps that never ran: {[s.name for s in waiting]}")
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step = running.pop(future)
                try:
                    status[step.name] = future.result()
                except BrokenProcessPool as exc:  # the process died (out of memory, killed): the grid cannot go on
                    raise TrainingError(f"the process training {step.name} died ({exc}); if memory ran out, use "
                                        "fewer --cells; re-run the same command to resume") from exc
                if status[step.name]["state"] == "failed":
                    log.warning("%s failed: %s", step.name, status[step.name]["reason"])
            bar.update(len(status) - bar.n)
            write_json(out / "status.json", status)


def default_cells(device: str = "auto") -> int:
    """Training runs at a time for small networks: up to 4 on a CPU (one per core), 1 on a GPU."""
    from .device import resolve_device

    return 1 if resolve_device(device).type != "cpu" else min(4, available_cores())


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _seeded(run: RunConfig, seed: int) -> RunConfig:
    return dataclasses.replace(run, train=dataclasses.replace(run.train, seed=seed))


def _variant(run: RunConfig, family: str | None) -> RunConfig:
    """``run`` with the model settings of the family's methods (e.g. a DAE variant's); others unchanged."""
    overrides = family_method(family).model if family else {}
    return dataclasses.replace(run, model=with_settings(run.model, overrides)) if overrides else run


# --- presets -------------------------------------------------------------------------------

def paper_preset(speech: dict[str, list[str]], music: dict[str, list[str]], features_root: str) -> ExperimentConfig:
    """The study's design on the user's corpora: English and Mandarin speech and music, the four
    settings of Table II, baseline and the two SCAE stages, 4 repeats, the study's settings."""
    return ExperimentConfig(name="paper", features_root=features_root, speech=speech, music=music,
                            settings=["man2man", "man2eng", "eng2eng", "eng2man"],
                            methods=["baseline", "scae-feat-ext", "scae-full"], repeats=4)


DEMO_SMALL = {"model": {"encoder": {"channels": [8, 16, 32]}, "head": {"units": 128},
                        "cpc": {"code_dim": 64, "context_dim": 64, "segments": 4, "steps": 2}},
              "train": {"epochs": 6, "patience": 3, "batch_size": 32}}


def demo_preset(manifests: Path, features_root: str, *, repeats: int = 2, epochs: int = 6) -> ExperimentConfig:
    """The built-in world's grid: eng, man and mix speech x eng and man music; baseline, SCAE
    (both stages) and CPC (feat-ext); small widths, each speech model pretrained once, so that it
    runs in minutes on 2 cores."""
    small = json.loads(json.dumps(DEMO_SMALL))
    small["train"]["epochs"] = epochs
    return ExperimentConfig(
        name="demo", features_root=features_root,
        speech={"eng": [str(manifests / "speech_eng.jsonl")], "man": [str(manifests / "speech_man.jsonl")]},
        music={"eng": [str(manifests / "music_eng.jsonl")], "man": [str(manifests / "music_man.jsonl")]},
        mix=["eng", "man"], methods=["baseline", "scae-feat-ext", "scae-full", "cpc-feat-ext"],
        repeats=repeats, pretrain_once=True, pretrain=small, transfer=small)


# affordable on 2 CPU cores (one repeat of the grid in about an hour where bf16 is native, which
# precision 'auto' takes); on a GPU raise the epochs
REAL_PRETRAIN = {"model": {"cpc": {"segments": 4, "steps": 2}}, "train": {"epochs": 4, "patience": 2}}
REAL_TRANSFER = {"model": {"cpc": {"segments": 4, "steps": 2}}, "train": {"epochs": 5, "patience": 2}}
REAL_RECIPES = ("short", "cv")  # the real preset's: its own short budget, or config.RECIPES['cv']


def real_preset(manifests: dict[str, Path], features_root: str, *, repeats: int = 4,
                recipe: str = "short") -> ExperimentConfig:
    """The study on real recordings: eng, man and mix speech -> English music (4Q); baseline, SCAE
    feat-ext and full, CPC feat-ext, the two DAE baselines; each speech model pretrained once and the
    emotion models repeated. ``recipe`` 'short': at most 5 epochs, early stopping on the validation
    chunk loss (affordable on 2 cores: the grid of docs/results.md); 'cv': the cross-validated
    recipe, the same budget for every method (about 4x the training)."""
    if recipe not in REAL_RECIPES:
        raise ConfigError(f"recipe {recipe!r} unknown: use {' or '.join(REAL_RECIPES)}")
    cv = recipe == "cv"
    transfer = (with_settings(from_dict(RunConfig, {"model": REAL_TRANSFER["model"]}), RECIPES["cv"]) if cv
                else json.loads(json.dumps(REAL_TRANSFER)))
    return ExperimentConfig(
        name="real" if not cv else "real-cv", features_root=features_root,
        speech={"eng": [str(manifests["speech_eng"])], "man": [str(manifests["speech_man"])]},
        music={"eng": [str(manifests["music_eng"])]}, mix=["eng", "man"],
        settings=["eng2eng", "man2eng", "mix2eng"],
        methods=["baseline", "scae-feat-ext", "scae-full", "cpc-feat-ext", "dae-classifier", "dae-sparsity"],
        repeats=repeats, pretrain_once=True, pretrain=json.loads(json.dumps(REAL_PRETRAIN)),
        transfer=transfer, transfer_by_family={"baseline": dict(RECIPES_FROM_RANDOM["cv"])} if cv else {})


@dataclass(frozen=True)
class PresetInputs:
    """What the presets read besides the output folder: the `experiment` command's options."""

    data: str | Path | None = None                                   # real: the real recordings (../shared/data)
    speech: dict[str, list[str]] = field(default_factory=dict)       # paper: language -> speech manifests
    music: dict[str, list[str]] = field(default_factory=dict)        # paper: language -> music manifests
    features: str | Path | None = None                               # paper (and real): the feature store root
    scale: str = "small"                                             # demo: the world's size
    seed: int = 0                                                    # demo and real: world and splits
    recipe: str = "short"                                            # real: the transfers' recipe (REAL_RECIPES)
    workers: int = 2
    progress: bool = True


PRESETS = ("paper", "demo", "real")


def preset_experiment(name: str, out: str | Path, inputs: PresetInputs = PresetInputs()) -> tuple[ExperimentConfig, Path]:
    """The grid of a ready-made preset and the folder its manifest paths are relative to. The demo
    preset first builds the world and its manifests under ``out``, the real preset the manifests
    of the real recordings; the paper preset runs on the user's manifests."""
    out = Path(out)
    if name == "demo":
        from .corpora.world import ensure_world, prepare_world

        world = ensure_world(out / "world", scale=inputs.scale, seed=inputs.seed, workers=inputs.workers,
                             progress=inputs.progress)
        prepare_world(world, out / "manifests", seed=inputs.seed)
        return demo_preset((out / "manifests").resolve(), str((out / "features").resolve())), out
    if name == "real":
        from .corpora.real import prepare_real

        if not inputs.data:
            raise ConfigError("the real preset needs the folder of the real recordings (--data ../shared/data)")
        manifests = prepare_real(inputs.data, out / "manifests", seed=inputs.seed)
        return real_preset({k: v.resolve() for k, v in manifests.items()},
                           str(Path(inputs.features or out / "features").resolve()), recipe=inputs.recipe), out
    if name == "paper":
        if not inputs.speech or not inputs.music or not inputs.features:
            raise ConfigError("the paper preset needs speech and music manifests per language and a feature store: "
                              "--speech eng=... --speech man=... --music eng=... --music man=... --features STORE")
        return paper_preset(inputs.speech, inputs.music, str(Path(inputs.features).resolve())), Path.cwd()
    raise ConfigError(f"preset {name!r} unknown: use one of {', '.join(PRESETS)}")
