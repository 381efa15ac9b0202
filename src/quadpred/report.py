"""The statistics of a grid's results: per cell the mean and sd over repeats of every score, its
song-bootstrap interval and mean confusion, the repeats' ensemble, and two families of paired
tests, each Holm-adjusted: intra- vs cross-linguistic transfer, and transfer vs the baseline;
`write_report` writes them as JSON and, through `reportviews`, as Table II (Markdown, CSV),
figures and one static HTML page.

Reads only the run folders (metrics.json, predictions_test.npz, history.json), so a report is
rebuilt without training, and from committed metrics alone when the predictions are absent.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .errors import QuadpredError
from .evaluate import SplitPredictions
from .experiment import ExperimentConfig, method_folder, plan
from .files import write_text_atomic
from .labels import TASKS
from .layout import Setting
from .metrics import LEVELS, MEASURES, cluster_confusions, holm, interval, macro_f1_from_confusion, paired_p_value, song_level
from .modeldir import write_json
from .reportviews import figures, html_document, markdown_document, read_histories, sections, table_csv
from .selection import criterion
from .train import first_averaged_epoch

BOOTSTRAP_SAMPLES = 2000


@dataclass
class Run:
    """One finished transfer run of the grid."""

    method: str
    setting: str   # "<speech>2<music>" or "baseline-<music>"
    music: str
    repeat: int
    folder: Path

    @cached_property
    def predictions(self) -> SplitPredictions | None:
        """Its test-split chunk probabilities (read once), or None where they were not kept."""
        path = self.folder / "predictions_test.npz"
        return SplitPredictions.load(path) if path.is_file() else None

    _confusion_cache: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """metrics.json: the kept weights' scores on the test and the validation split."""
        return json.loads((self.folder / "metrics.json").read_text())

    @property
    def test_metrics(self) -> dict[str, Any]:
        return self.metrics["test"]

    def training(self) -> dict[str, Any] | None:
        """How the run's weights were kept and what its validation said epoch by epoch: the epoch
        its selection criterion (train.select) liked best, the validation song F at that epoch and
        of the kept weights; None without summary.json and history.json."""
        summary_path, history_path = self.folder / "summary.json", self.folder / "history.json"
        if not (summary_path.is_file() and history_path.is_file()):
            return None
        summary = json.loads(summary_path.read_text())
        history = json.loads(history_path.read_text())
        if not history:
            return None
        select = summary.get("select", "loss")
        known = [(score, row["epoch"]) for row in history if (score := _criterion_of(select, row)) is not None]
        best_epoch = min(known)[1] if known else None  # the earliest of equal scores, as early stopping keeps
        best_row = next((row for row in history if row["epoch"] == best_epoch), {})
        train = summary.get("train", {})
        first = first_averaged_epoch(train.get("epochs", summary["epochs_run"]), train.get("average_last", 0.0))
        valid = self.metrics.get("valid", {})
        return {"select": select, "epochs_run": summary["epochs_run"],
                "kept_epoch": None if first is not None else summary["best_epoch"],
                "averaged_epochs": [first + 1, summary["epochs_run"]] if first is not None else None,
                "best_epoch": best_epoch,
                "valid_song_f1_best_epoch": best_row.get("valid_song_f1"),
                "valid_song_f1_kept": valid.get("song", {}).get("quadrant", {}).get("f1")}

    def song_confusions(self, task: str, level: str) -> np.ndarray:
        """(songs, k, k) confusion counts per test song at ``level`` (computed once: the summary and
        the paired tests both bootstrap them)."""
        if (task, level) not in self._confusion_cache:
            self._confusion_cache[(task, level)] = _confusions(self.predictions, task, level)
        return self._confusion_cache[(task, level)]


def _criterion_of(select: str, row: dict[str, Any]) -> float | None:
    """The number ``train.select`` minimises, for one history row; None where the row lacks the
    song scores it reads (a run that selected by chunk loss kept none)."""
    song_scores = {key.removeprefix("valid_"): value for key, value in row.items() if key.startswith("valid_")}
    try:
        return criterion(select, row["valid_loss"], song_scores)
    except KeyError:
        return None


def find_runs(out: Path, config: ExperimentConfig) -> tuple[list[Run], list[str]]:
    """Finished runs of every method and setting, and the steps that are missing or failed."""
    runs, missing = [], []
    for step in plan(config):
        if step.kind != "transfer":
            continue
        for method in config.methods:
            relative = method_folder(step, method)
            if relative is None:
                continue
            folder = out / relative
            setting = str(Setting(step.speech, str(step.music)))
            if (folder / "metrics.json").is_file():
                runs.append(Run(method, setting, str(step.music), step.repeat, folder))
            else:
                missing.append(relative)
    return runs, missing


def _confusions(predictions, task: str, level: str) -> np.ndarray:
    """(songs, k, k) confusion counts per test song of one run."""
    column = list(TASKS).index(task)
    k = len(TASKS[task])
    probs, truth, songs = predictions.probabilities[task], predictions.targets[:, column], predictions.chunk_clip
    n_songs = len(predictions.clip_ids)
    if level == "song":
        song_probs, song_truth = song_level(probs, songs, truth)
        present = np.unique(songs)
        return cluster_confusions(song_truth, song_probs.argmax(axis=1), present, n_songs, k)
    return cluster_confusions(truth, probs.argmax(axis=1), songs, n_songs, k)


def _by_cell(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """(method, setting) -> its runs."""
    cells: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        cells[(run.method, run.setting)].append(run)
    return cells


def summarise(runs: list[Run], *, seed: int = 0) -> dict[str, Any]:
    """Mean, sd over repeats and song-bootstrap 95 % interval of every score, and mean confusions."""
    cells = _by_cell(runs)
    rng = np.random.default_rng(seed)
    summary = []
    for (method, setting), members in sorted(cells.items()):
        metrics = [r.test_metrics for r in members]
        predictions = [r.predictions for r in members]
        entry: dict[str, Any] = {"method": method, "setting": setting, "music": members[0].music,
                                 "repeats": len(members), "folders": [str(r.folder) for r in members]}
        songs = len(predictions[0].clip_ids) if all(p is not None for p in predictions) else 0
        draws = rng.integers(0, songs, (BOOTSTRAP_SAMPLES, songs)) if songs else None
        for level in LEVELS:
            entry[level] = {}
            for task in TASKS:
                scores = {m: [x[level][task][m] for x in metrics] for m in MEASURES}
                result = {m: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
                          for m, v in scores.items()}
                result["confusion"] = np.mean([x[level][task]["confusion"] for x in metrics], axis=0).round(4).tolist()
                if draws is not None:
                    per_song = np.stack([r.song_confusions(task, level) for r in members])  # (repeats, songs, k, k)
                    boot = macro_f1_from_confusion(per_song[:, draws].sum(axis=2)).mean(axis=0)
                    result["f1"]["ci95"] = list(interval(boot))
                entry[level][task] = result
        ensemble = ensemble_report(predictions)
        if ensemble is not None:
            entry["ensemble"] = ensemble
        training = [r.training() for r in members]
        if all(t is not None for t in training):
            entry["training"] = training
        summary.append(entry)
    return {"cells": summary, "draws_seed": seed}


def ensemble_report(predictions: list) -> dict | None:
    """Scores of the repeats' mean chunk probabilities (one model: the ensemble of the repeats),
    or None with fewer than two repeats, missing predictions, or repeats scored on other chunks."""
    if len(predictions) < 2 or any(p is None for p in predictions):
        return None
    first = predictions[0]
    if any(not np.array_equal(p.targets, first.targets) or p.clip_ids != first.clip_ids for p in predictions):
        return None
    mean = {task: np.mean([p.probabilities[task] for p in predictions], axis=0) for task in TASKS}
    return SplitPredictions(mean, first.targets, first.chunk_clip, first.clip_ids).report()


def _paired_comparisons(first: list[Run], second: list[Run], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Per level and task: macro F of ``first`` and of ``second`` (each the mean over its repeats)
    and the paired song bootstrap of their difference on the same test songs; [] where either lacks
    test predictions or the two were scored on different songs."""
    a = [r.predictions for r in first]
    b = [r.predictions for r in second]
    if any(p is None for p in a + b) or a[0].clip_ids != b[0].clip_ids:
        return []
    songs = len(a[0].clip_ids)
    draws = rng.integers(0, songs, (BOOTSTRAP_SAMPLES, songs))

    def f1(group: list[Run], task: str, level: str) -> tuple[float, np.ndarray]:
        per_song = np.stack([r.song_confusions(task, level) for r in group])  # (repeats, songs, k, k)
        return (float(macro_f1_from_confusion(per_song.sum(axis=1)).mean()),
                macro_f1_from_confusion(per_song[:, draws].sum(axis=2)).mean(axis=0))

    comparisons = []
    for level in LEVELS:
        for task in TASKS:
            f1_a, boot_a = f1(first, task, level)
            f1_b, boot_b = f1(second, task, level)
            difference = boot_a - boot_b
            comparisons.append({"level": level, "task": task, "f1_a": f1_a, "f1_b": f1_b, "difference": f1_a - f1_b,
                                "ci95": list(interval(difference)), "p_value": paired_p_value(difference),
                                "repeats": [len(a), len(b)], "songs": songs})
    return comparisons


def _holm_family(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tests`` with their Holm-adjusted p-values, the family being the list itself."""
    for test, p in zip(tests, holm([t["p_value"] for t in tests]) if tests else []):
        test["p_holm"] = p
        test["significant"] = p < 0.05
    return tests


def paired_tests(runs: list[Run], *, seed: int = 0) -> list[dict[str, Any]]:
    """Intra- vs cross-linguistic, per method, level and task: for music language M, M2M against
    every S2M (S another speech language or the mix), on the same test songs; paired song
    bootstrap of the difference of macro F-scores (mean over repeats); Holm-adjusted p-values."""
    cells = _by_cell(runs)
    tests = []
    rng = np.random.default_rng(seed)
    for (method, setting), intra_runs in sorted(cells.items()):
        cell = Setting.parse(setting)
        if method == "baseline" or not cell.intra:
            continue
        for (other_method, other), cross_runs in sorted(cells.items()):
            if other_method != method or other == setting or Setting.parse(other).music != cell.music:
                continue
            for c in _paired_comparisons(intra_runs, cross_runs, rng):
                tests.append({"method": method, "intra": setting, "cross": other, "level": c["level"], "task": c["task"],
                              "f1_intra": c.pop("f1_a"), "f1_cross": c.pop("f1_b"), **c})
    return _holm_family(tests)


def transfer_tests(runs: list[Run], *, seed: int = 0) -> list[dict[str, Any]]:
    """Transfer against the baseline, per method, setting S2M, level and task: the transferred model
    against the same network from random weights on music M (the cell baseline-M), on the same test
    songs; paired song bootstrap as in `paired_tests`; Holm-adjusted within this family of tests."""
    cells = _by_cell(runs)
    tests = []
    rng = np.random.default_rng(seed)
    for (method, setting), transfer_runs in sorted(cells.items()):
        if method == "baseline":
            continue
        baseline_runs = cells.get(("baseline", str(Setting(None, Setting.parse(setting).music))))
        if not baseline_runs:
            continue
        for c in _paired_comparisons(transfer_runs, baseline_runs, rng):
            tests.append({"method": method, "setting": setting, "level": c["level"], "task": c["task"],
                          "f1_transfer": c.pop("f1_a"), "f1_baseline": c.pop("f1_b"), **c})
    return _holm_family(tests)


def write_report(out: str | Path, *, paper: bool = False, seed: int = 0) -> dict[str, Path]:
    """Tables, figures and report.html of the grid in ``out`` (from `quadpred experiment`)."""
    out = Path(out)
    config_path = out / "experiment.json"
    if not config_path.is_file():
        raise QuadpredError(f"{out} holds no experiment.json: give the folder `quadpred experiment` wrote")
    from .config import from_dict

    config = from_dict(ExperimentConfig, json.loads(config_path.read_text()), where=str(config_path))
    runs, missing = find_runs(out, config)
    if not runs:
        raise QuadpredError(f"{out}: no finished run yet; run `quadpred experiment` first")
    summary = summarise(runs, seed=seed)
    tests = paired_tests(runs, seed=seed)
    versus_baseline = transfer_tests(runs, seed=seed)
    status = json.loads((out / "status.json").read_text()) if (out / "status.json").is_file() else {}
    failed = {name: s["reason"] for name, s in status.items() if s["state"] != "done"}
    folder = out / "report"
    files = {"json": folder / "results.json", "csv": folder / "results.csv", "markdown": folder / "results.md"}
    write_json(files["json"], {"summary": summary, "paired_tests": tests, "transfer_tests": versus_baseline,
                               "missing": missing, "failed": failed})
    write_text_atomic(files["csv"], table_csv(summary))
    histories = {f"{run.method} {run.setting}": run.folder for run in runs if run.repeat == 0}
    pictures = figures(summary, read_histories(histories), folder)
    files.update(pictures)
    parts = sections(summary, tests, versus_baseline, paper=paper, missing=missing, failed=failed)
    write_text_atomic(files["markdown"], markdown_document(config.name, parts, pictures))
    files["html"] = folder / "report.html"
    write_text_atomic(files["html"], html_document(config.name, parts, pictures))
    return files
