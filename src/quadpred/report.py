"""The results of a grid: the study's Table II (Markdown, CSV, JSON), intervals, the paired test
of intra- vs cross-linguistic transfer, figures and one static HTML page.

Reads only the run folders (metrics.json, predictions_test.npz, history.json), so a report is
rebuilt without training, and from committed metrics alone when the predictions are absent.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import QuadpredError
from .experiment import ExperimentConfig, method_folder, plan
from .files import write_text_atomic
from .labels import TASKS
from .layout import Setting
from .methods import METHODS
from .metrics import cluster_confusions, holm, interval, macro_f1_from_confusion, paired_p_value, song_level
from .modeldir import write_json
from .plots import confusion_grid, learning_curves, scores_with_intervals

log = logging.getLogger("quadpred")

LEVELS = ("chunk", "song")
MEASURES = ("precision", "recall", "f1", "accuracy")
BOOTSTRAP_SAMPLES = 2000

# Table II of Gómez-Cañón et al. 2020 (macro P, R, F over 4 runs); chunk level on their split.
PAPER_TABLE_II: dict[tuple[str, str], dict[str, tuple[float, float, float]]] = {
    ("scae-feat-ext", "quadrant"): {"man2man": (.42, .58, .49), "man2eng": (.52, .49, .46),
                                    "eng2eng": (.52, .48, .45), "eng2man": (.42, .58, .49)},
    ("scae-feat-ext", "arousal"): {"man2man": (.63, .64, .63), "man2eng": (.67, .64, .62),
                                   "eng2eng": (.65, .63, .62), "eng2man": (.63, .64, .63)},
    ("scae-feat-ext", "valence"): {"man2man": (.77, .78, .77), "man2eng": (.78, .74, .74),
                                   "eng2eng": (.77, .72, .71), "eng2man": (.78, .79, .78)},
    ("scae-full", "quadrant"): {"man2man": (.50, .58, .50), "man2eng": (.57, .55, .54),
                                "eng2eng": (.61, .58, .58), "eng2man": (.29, .51, .36)},
    ("scae-full", "arousal"): {"man2man": (.65, .64, .64), "man2eng": (.70, .66, .65),
                               "eng2eng": (.69, .67, .66), "eng2man": (.42, .60, .49)},
    ("scae-full", "valence"): {"man2man": (.80, .80, .80), "man2eng": (.82, .81, .81),
                               "eng2eng": (.83, .83, .83), "eng2man": (.51, .68, .57)},
    ("baseline", "quadrant"): {"man2man": (.29, .41, .34), "eng2man": (.29, .41, .34),
                               "man2eng": (.23, .48, .31), "eng2eng": (.23, .48, .31)},
    ("dae-classifier", "quadrant"): {"man2man": (.46, .48, .46), "man2eng": (.65, .65, .65),
                                     "eng2eng": (.64, .64, .64), "eng2man": (.46, .48, .46)},
    ("dae-sparsity", "quadrant"): {"man2man": (.46, .48, .46), "man2eng": (.64, .64, .64),
                                   "eng2eng": (.56, .54, .54), "eng2man": (.46, .48, .45)},
}


@dataclass
class Run:
    method: str
    setting: str   # "<speech>2<music>" or "baseline-<music>"
    music: str
    repeat: int
    folder: Path


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


def _load_predictions(run: Run):
    from .evaluate import SplitPredictions

    path = run.folder / "predictions_test.npz"
    return SplitPredictions.load(path) if path.is_file() else None


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


def summarise(runs: list[Run], *, seed: int = 0) -> dict[str, Any]:
    """Mean, sd over repeats and song-bootstrap 95 % interval of every score, and mean confusions."""
    cells: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        cells[(run.method, run.setting)].append(run)
    rng = np.random.default_rng(seed)
    summary = []
    for (method, setting), members in sorted(cells.items()):
        metrics = [json.loads((r.folder / "metrics.json").read_text())["test"] for r in members]
        predictions = [_load_predictions(r) for r in members]
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
                    per_song = np.stack([_confusions(p, task, level) for p in predictions])  # (repeats, songs, k, k)
                    boot = macro_f1_from_confusion(per_song[:, draws].sum(axis=2)).mean(axis=0)
                    result["f1"]["ci95"] = list(interval(boot))
                entry[level][task] = result
        ensemble = ensemble_report(predictions)
        if ensemble is not None:
            entry["ensemble"] = ensemble
        summary.append(entry)
    return {"cells": summary, "draws_seed": seed}


def ensemble_report(predictions: list) -> dict | None:
    """Scores of the repeats' mean chunk probabilities (one model: the ensemble of the repeats),
    or None with fewer than two repeats, missing predictions, or repeats scored on other chunks."""
    from .evaluate import SplitPredictions

    if len(predictions) < 2 or any(p is None for p in predictions):
        return None
    first = predictions[0]
    if any(not np.array_equal(p.targets, first.targets) or p.clip_ids != first.clip_ids for p in predictions):
        return None
    mean = {task: np.mean([p.probabilities[task] for p in predictions], axis=0) for task in TASKS}
    return SplitPredictions(mean, first.targets, first.chunk_clip, first.clip_ids).report()


def ensemble_markdown(summary: dict) -> str:
    """Quadrant F of each cell's repeat ensemble beside the mean of its repeats."""
    cells = [c for c in summary["cells"] if "ensemble" in c]
    if not cells:
        return "No ensemble: every cell has fewer than two repeats with test predictions.\n"
    lines = ["| model | setting | repeats | chunk F (mean of repeats) | chunk F (ensemble) | song F (mean of repeats) "
             "| song F (ensemble) |", "|---|---|---|---|---|---|---|"]
    for c in cells:
        scores = [f"{c[level]['quadrant']['f1']['mean']:.3f} | {c['ensemble'][level]['quadrant']['f1']:.3f}"
                  for level in LEVELS]
        lines.append(f"| {c['method']} | {c['setting']} | {c['repeats']} | " + " | ".join(scores) + " |")
    return "\n".join(lines) + "\n"


def paired_tests(runs: list[Run], *, seed: int = 0) -> list[dict[str, Any]]:
    """Intra- vs cross-linguistic, per method, level and task: for music language M, M2M against
    every S2M (S another speech language or the mix), on the same test songs; paired song
    bootstrap of the difference of macro F-scores (mean over repeats); Holm-adjusted p-values."""
    by_cell: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        by_cell[(run.method, run.setting)].append(run)
    tests = []
    rng = np.random.default_rng(seed)
    for (method, setting), intra_runs in sorted(by_cell.items()):
        cell = Setting.parse(setting)
        if method == "baseline" or not cell.intra:
            continue
        for (other_method, other), cross_runs in sorted(by_cell.items()):
            if other_method != method or other == setting or Setting.parse(other).music != cell.music:
                continue
            a = [_load_predictions(r) for r in intra_runs]
            b = [_load_predictions(r) for r in cross_runs]
            if any(p is None for p in a + b) or a[0].clip_ids != b[0].clip_ids:
                continue
            songs = len(a[0].clip_ids)
            draws = rng.integers(0, songs, (BOOTSTRAP_SAMPLES, songs))
            for level in LEVELS:
                for task in TASKS:
                    def f1(group: list) -> tuple[float, np.ndarray]:
                        per_song = np.stack([_confusions(p, task, level) for p in group])
                        return (float(macro_f1_from_confusion(per_song.sum(axis=1)).mean()),
                                macro_f1_from_confusion(per_song[:, draws].sum(axis=2)).mean(axis=0))
                    f1_a, boot_a = f1(a)
                    f1_b, boot_b = f1(b)
                    difference = boot_a - boot_b
                    tests.append({"method": method, "level": level, "task": task, "intra": setting, "cross": other,
                                  "f1_intra": f1_a, "f1_cross": f1_b, "difference": f1_a - f1_b,
                                  "ci95": list(interval(difference)), "p_value": paired_p_value(difference),
                                  "repeats": [len(a), len(b)], "songs": songs})
    adjusted = holm([t["p_value"] for t in tests]) if tests else []
    for test, p in zip(tests, adjusted):
        test["p_holm"] = p
        test["significant"] = p < 0.05
    return tests


def _music_then_intra(name: str) -> tuple[str, bool, str]:
    """Sort key of a setting: by music language, the intra-linguistic one first."""
    setting = Setting.parse(name)
    return setting.music, not setting.intra, name


def _settings_order(summary: dict) -> list[str]:
    transfer = sorted({c["setting"] for c in summary["cells"] if not c["setting"].startswith("baseline-")},
                      key=_music_then_intra)
    return transfer or sorted({f"baseline-{c['music']}" for c in summary["cells"]})


def _cell_for(summary: dict, method: str, setting: str) -> dict | None:
    for cell in summary["cells"]:
        if cell["method"] == method and (cell["setting"] == setting or
                                         (method == "baseline" and setting.endswith(f"2{cell['music']}"))):
            return cell
    return None


def _prf(values: dict) -> str:
    return "/".join(f"{values[m]['mean']:.2f}".lstrip("0") for m in ("precision", "recall", "f1"))


def table_markdown(summary: dict, level: str, *, paper: bool = False) -> str:
    """Table II layout: rows method x task, columns settings, cells P/R/F (mean over repeats)
    with the F-score's sd and 95 % interval beneath; the paper's value beside when asked.
    The baseline (no speech) appears under every setting of its music language."""
    settings = _settings_order(summary)
    methods = [m for m in METHODS if any(c["method"] == m for c in summary["cells"])]
    head = ["model", "task"] + [x for s in settings for x in ([s, f"{s} (paper)"] if paper else [s])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method in methods:
        for task in TASKS:
            row = [method, task]
            for setting in settings:
                cell = _cell_for(summary, method, setting)
                if cell is None:
                    row.append("")
                else:
                    values = cell[level][task]
                    ci = values["f1"].get("ci95")
                    extra = f" (sd {values['f1']['sd']:.2f}" + (f"; {ci[0]:.2f}-{ci[1]:.2f}" if ci else "") + ")"
                    row.append(_prf(values) + extra)
                if paper:
                    reference = PAPER_TABLE_II.get((method, task), {}).get(setting)
                    row.append("/".join(f"{v:.2f}".lstrip("0") for v in reference) if reference else "")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def table_csv(summary: dict) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["method", "setting", "level", "task", "measure", "mean", "sd", "ci95_low", "ci95_high",
                     "repeats", "paper"])
    for cell in summary["cells"]:
        for level in LEVELS:
            for task in TASKS:
                values = cell[level][task]
                for index, measure in enumerate(MEASURES):
                    ci = values[measure].get("ci95", ["", ""])
                    reference = PAPER_TABLE_II.get((cell["method"], task), {}).get(cell["setting"])
                    writer.writerow([cell["method"], cell["setting"], level, task, measure,
                                     f"{values[measure]['mean']:.4f}", f"{values[measure]['sd']:.4f}",
                                     *(f"{v:.4f}" if v != "" else "" for v in ci), cell["repeats"],
                                     reference[index] if reference and index < 3 and level == "chunk" else ""])
    return text.getvalue()


def tests_markdown(tests: list[dict]) -> str:
    if not tests:
        return "No paired test: the grid has no intra- and cross-linguistic pair with test predictions.\n"
    lines = ["| method | level | task | intra | cross | F intra | F cross | difference (95 % CI) | p | p (Holm) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for t in tests:
        lines.append(f"| {t['method']} | {t['level']} | {t['task']} | {t['intra']} | {t['cross']} | {t['f1_intra']:.3f} | "
                     f"{t['f1_cross']:.3f} | {t['difference']:+.3f} ({t['ci95'][0]:+.3f} to {t['ci95'][1]:+.3f}) | "
                     f"{t['p_value']:.3f} | {t['p_holm']:.3f}{' *' if t['significant'] else ''} |")
    return "\n".join(lines) + "\n"


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
    status = json.loads((out / "status.json").read_text()) if (out / "status.json").is_file() else {}
    failed = {name: s["reason"] for name, s in status.items() if s["state"] != "done"}
    folder = out / "report"
    files = {"json": folder / "results.json", "csv": folder / "results.csv", "markdown": folder / "results.md"}
    write_json(files["json"], {"summary": summary, "paired_tests": tests, "missing": missing, "failed": failed})
    write_text_atomic(files["csv"], table_csv(summary))
    markdown = [f"# Results: {config.name}\n",
                "Macro precision / recall / F-score on the test split, mean over repeats; in brackets the "
                "F-score's sd over repeats and its 95 % song-bootstrap interval.\n"]
    for level in LEVELS:
        markdown += [f"\n## {level.capitalize()} level\n\n", table_markdown(summary, level, paper=paper)]
    markdown += ["\n## Intra- vs cross-linguistic transfer (paired song bootstrap)\n\n", tests_markdown(tests)]
    markdown += ["\n## Ensemble of the repeats (quadrant, mean probabilities of the repeats' models)\n\n",
                 ensemble_markdown(summary)]
    if missing or failed:
        markdown += ["\n## Not finished\n\n"] + [f"- {m}: missing\n" for m in missing] + \
                    [f"- {name}: {reason}\n" for name, reason in failed.items()]
    figures = _figures(summary, runs, folder)
    files.update(figures)
    markdown += ["\n## Figures\n\n"] + [f"![{name}]({path.name})\n\n" for name, path in figures.items()]
    write_text_atomic(files["markdown"], "".join(markdown))
    files["html"] = _html(folder, config.name, summary, tests, figures, paper=paper, missing=missing, failed=failed)
    return files


def _figures(summary: dict, runs: list[Run], folder: Path) -> dict[str, Path]:
    figures: dict[str, Path] = {}
    for level in LEVELS:
        groups: dict[str, list] = defaultdict(list)
        for cell in summary["cells"]:
            f1 = cell[level]["quadrant"]["f1"]
            low, high = f1.get("ci95", (f1["mean"], f1["mean"]))
            groups[cell["method"]].append((cell["setting"], f1["mean"], low, high))
        figures[f"quadrant F-score ({level} level)"] = scores_with_intervals(
            groups, folder / f"f1_{level}.png", title=f"Quadrant macro F-score, {level} level, 95 % song bootstrap")
        matrices = {c["setting"] if c["method"] == "baseline" else f"{c['method']} {c['setting']}":
                    np.array(c[level]["quadrant"]["confusion"]) for c in summary["cells"]}
        figures[f"quadrant confusion ({level} level)"] = confusion_grid(
            matrices, TASKS["quadrant"], folder / f"confusion_{level}.png",
            title=f"Quadrant confusion (rows: true, normalised), {level} level, mean over repeats")
    curves = {}
    for run in runs:
        if run.repeat == 0 and (run.folder / "history.json").is_file():
            curves[f"{run.method} {run.setting}"] = json.loads((run.folder / "history.json").read_text())
    if curves:
        figures["learning curves"] = learning_curves(curves, folder / "learning_curves.png",
                                                     title="Transfer runs (repeat 0)")
    return figures


def _html(folder: Path, name: str, summary: dict, tests: list[dict], figures: dict[str, Path], *, paper: bool,
          missing: list[str], failed: dict[str, str]) -> Path:
    def table(markdown: str) -> str:
        rows = [line.strip("|").split("|") for line in markdown.strip().splitlines() if not line.startswith("|---")]
        head, body = rows[0], rows[1:]
        return ("<table><tr>" + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head) + "</tr>" +
                "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>" for r in body) +
                "</table>")

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>quadpred: {html.escape(name)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}</style></head><body>",
             f"<h1>Results: {html.escape(name)}</h1><p>Macro precision / recall / F-score on the test split, mean "
             "over repeats; in brackets the F-score's sd over repeats and its 95 % song-bootstrap interval.</p>"]
    for level in LEVELS:
        parts.append(f"<h2>{level.capitalize()} level</h2>" + table(table_markdown(summary, level, paper=paper)))
    parts.append("<h2>Intra- vs cross-linguistic transfer</h2>")
    parts.append(table(tests_markdown(tests)) if tests else f"<p>{html.escape(tests_markdown(tests))}</p>")
    ensembles = ensemble_markdown(summary)
    parts.append("<h2>Ensemble of the repeats (quadrant)</h2>")
    parts.append(table(ensembles) if ensembles.startswith("|") else f"<p>{html.escape(ensembles)}</p>")
    if missing or failed:
        parts.append("<h2>Not finished</h2><ul>" + "".join(f"<li>{html.escape(m)}: missing</li>" for m in missing) +
                     "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in failed.items()) + "</ul>")
    for title, path in figures.items():
        parts.append(f"<h2>{html.escape(title)}</h2><img src='{path.name}' alt='{html.escape(title)}'>")
    parts.append("</body></html>")
    path = folder / "report.html"
    write_text_atomic(path, "\n".join(parts))
    return path
