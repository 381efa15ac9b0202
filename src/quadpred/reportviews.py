"""How a grid's results are shown: tables built as data (head and rows of text), each rendered to
Markdown and to HTML from the same rows; the CSV of every score; the figures; the two documents.

Reads the statistics that `report` computes (its summary and two families of paired tests) and
computes nothing.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .labels import TASKS
from .layout import Setting
from .methods import METHODS
from .metrics import LEVELS, MEASURES
from .plots import confusion_grid, learning_curves, scores_with_intervals

CAPTION = ("Macro precision / recall / F-score on the test split, mean over repeats; in brackets the "
           "F-score's sd over repeats and its 95 % song-bootstrap interval (and the cell's number of repeats "
           "where cells hold different numbers, as in a grid still running).")
NO_TESTS = "No paired test: the grid has no intra- and cross-linguistic pair with test predictions."
NO_TRANSFER_TESTS = "No paired test: the grid has no baseline cell beside a transfer cell with test predictions."
NO_TRAINING = "No training files (summary.json, history.json) in the run folders."
NO_ENSEMBLE = "No ensemble: every cell has fewer than two repeats with test predictions."

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


@dataclass(frozen=True)
class Table:
    """A table as data: ``head`` (columns) and ``rows`` of cell texts, rendered two ways."""

    head: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.head) + " |", "|" + "---|" * len(self.head)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in self.rows]) + "\n"

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.head)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        return f"<table><tr>{head}</tr>{body}</table>"


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


def results_table(summary: dict, level: str, *, paper: bool = False) -> Table:
    """Table II layout: rows method x task, columns settings, cells P/R/F (mean over repeats)
    with the F-score's sd and 95 % interval beneath, and each cell's number of repeats where
    cells hold different numbers; the paper's value beside when asked.
    The baseline (no speech) appears under every setting of its music language."""
    settings = _settings_order(summary)
    methods = [m for m in METHODS if any(c["method"] == m for c in summary["cells"])]
    # a grid still running (or with failed runs) holds cells of unequal repeats: each cell says its own
    uneven = len({c["repeats"] for c in summary["cells"]}) > 1
    head = ["model", "task"] + [x for s in settings for x in ([s, f"{s} (paper)"] if paper else [s])]
    rows = []
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
                    notes = [f"sd {values['f1']['sd']:.2f}", *([f"{ci[0]:.2f}-{ci[1]:.2f}"] if ci else []),
                             *([f"{cell['repeats']} repeat{'s' if cell['repeats'] > 1 else ''}"] if uneven else [])]
                    row.append(f"{_prf(values)} ({'; '.join(notes)})")
                if paper:
                    reference = PAPER_TABLE_II.get((method, task), {}).get(setting)
                    row.append("/".join(f"{v:.2f}".lstrip("0") for v in reference) if reference else "")
            rows.append(row)
    return Table(head, rows)


def tests_table(tests: list[dict]) -> Table | None:
    """The paired intra- vs cross-linguistic tests, or None without any."""
    if not tests:
        return None
    head = ["method", "level", "task", "intra", "cross", "F intra", "F cross", "difference (95 % CI)", "p", "p (Holm)"]
    rows = [[t["method"], t["level"], t["task"], t["intra"], t["cross"], f"{t['f1_intra']:.3f}", f"{t['f1_cross']:.3f}",
             *_difference_cells(t)] for t in tests]
    return Table(head, rows)


def _difference_cells(test: dict) -> list[str]:
    """A paired test's last three cells: the difference with its interval, p, and p after Holm."""
    low, high = test["ci95"]
    return [f"{test['difference']:+.3f} ({low:+.3f} to {high:+.3f})", f"{test['p_value']:.3f}",
            f"{test['p_holm']:.3f}{' *' if test['significant'] else ''}"]


def transfer_table(tests: list[dict]) -> Table | None:
    """The paired tests of each transfer cell against the baseline on the same music, or None without any."""
    if not tests:
        return None
    head = ["method", "setting", "level", "task", "F transfer", "F baseline", "difference (95 % CI)", "p", "p (Holm)"]
    rows = [[t["method"], t["setting"], t["level"], t["task"], f"{t['f1_transfer']:.3f}", f"{t['f1_baseline']:.3f}",
             *_difference_cells(t)] for t in tests]
    return Table(head, rows)


def training_table(summary: dict) -> Table | None:
    """Per cell, how its weights were kept beside what its validation preferred (the epoch its
    criterion liked best, and the validation song F there and of the kept weights), or None where
    no cell has its training files."""
    cells = [c for c in summary["cells"] if "training" in c]
    if not cells:
        return None

    def mean_f1(runs: list[dict], key: str) -> str:
        values = [r[key] for r in runs]
        return f"{np.mean(values):.3f}" if all(v is not None for v in values) else "-"

    head = ["model", "setting", "criterion", "kept weights (per repeat)", "best epoch by the criterion (per repeat)",
            "valid song F at that epoch (chosen on these songs)", "valid song F of the kept weights"]
    rows = []
    for cell in cells:
        runs = cell["training"]
        kept = [f"mean of epochs {r['averaged_epochs'][0]}-{r['averaged_epochs'][1]}" if r["averaged_epochs"]
                else str(r["kept_epoch"]) for r in runs]
        if all(r["averaged_epochs"] is None for r in runs):
            kept_text = f"epoch{'s' if len(runs) > 1 else ''} {', '.join(kept)}"
        else:
            kept_text = kept[0] if len(set(kept)) == 1 else ", ".join(kept)
        rows.append([cell["method"], cell["setting"], runs[0]["select"], kept_text,
                     ", ".join(str(r["best_epoch"] or "-") for r in runs),
                     mean_f1(runs, "valid_song_f1_best_epoch"), mean_f1(runs, "valid_song_f1_kept")])
    return Table(head, rows)


def ensemble_table(summary: dict) -> Table | None:
    """Quadrant F of each cell's repeat ensemble beside the mean of its repeats, or None without any."""
    cells = [c for c in summary["cells"] if "ensemble" in c]
    if not cells:
        return None
    head = ["model", "setting", "repeats", "chunk F (mean of repeats)", "chunk F (ensemble)",
            "song F (mean of repeats)", "song F (ensemble)"]
    rows = [[c["method"], c["setting"], str(c["repeats"])] +
            [x for level in LEVELS for x in (f"{c[level]['quadrant']['f1']['mean']:.3f}",
                                             f"{c['ensemble'][level]['quadrant']['f1']:.3f}")] for c in cells]
    return Table(head, rows)


def table_csv(summary: dict) -> str:
    """Every score of every cell, one row per (cell, level, task, measure)."""
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


def figures(summary: dict, histories: dict[str, list[dict[str, Any]]], folder: Path) -> dict[str, Path]:
    """Title -> PNG in ``folder``: quadrant F with intervals and confusions per level, and the
    learning curves of ``histories`` (run name -> history rows)."""
    written: dict[str, Path] = {}
    for level in LEVELS:
        groups: dict[str, list] = defaultdict(list)
        for cell in summary["cells"]:
            f1 = cell[level]["quadrant"]["f1"]
            low, high = f1.get("ci95", (f1["mean"], f1["mean"]))
            groups[cell["method"]].append((cell["setting"], f1["mean"], low, high))
        written[f"quadrant F-score ({level} level)"] = scores_with_intervals(
            groups, folder / f"f1_{level}.png", title=f"Quadrant macro F-score, {level} level, 95 % song bootstrap")
        matrices = {c["setting"] if c["method"] == "baseline" else f"{c['method']} {c['setting']}":
                    np.array(c[level]["quadrant"]["confusion"]) for c in summary["cells"]}
        written[f"quadrant confusion ({level} level)"] = confusion_grid(
            matrices, TASKS["quadrant"], folder / f"confusion_{level}.png",
            title=f"Quadrant confusion (rows: true, normalised), {level} level, mean over repeats")
    if histories:
        written["learning curves"] = learning_curves(histories, folder / "learning_curves.png",
                                                     title="Transfer runs (repeat 0)")
    return written


@dataclass(frozen=True)
class Section:
    """One section of the documents: a title and a table, or a sentence when there is none."""

    title: str
    table: Table | None = None
    text: str = ""
    items: tuple[str, ...] = ()


def sections(summary: dict, tests: list[dict], versus_baseline: list[dict], *, paper: bool, missing: list[str],
             failed: dict[str, str]) -> list[Section]:
    """The report's sections, in order, as data (``tests``: intra vs cross; ``versus_baseline``:
    transfer vs the baseline; each family Holm-adjusted on its own)."""
    parts = [Section(f"{level.capitalize()} level", results_table(summary, level, paper=paper)) for level in LEVELS]
    parts.append(Section("Intra- vs cross-linguistic transfer (paired song bootstrap)", tests_table(tests), NO_TESTS))
    parts.append(Section("Transfer vs the baseline (paired song bootstrap, Holm within this family)",
                         transfer_table(versus_baseline), NO_TRANSFER_TESTS))
    parts.append(Section("Training: the weights each cell kept beside what its validation preferred (quadrant, "
                         "validation split; F means over repeats)", training_table(summary), NO_TRAINING))
    parts.append(Section("Ensemble of the repeats (quadrant, mean probabilities of the repeats' models)",
                         ensemble_table(summary), NO_ENSEMBLE))
    if missing or failed:
        parts.append(Section("Not finished", items=tuple([f"{m}: missing" for m in missing] +
                                                         [f"{name}: {reason}" for name, reason in failed.items()])))
    return parts


def markdown_document(name: str, parts: list[Section], pictures: dict[str, Path]) -> str:
    text = [f"# Results: {name}\n\n{CAPTION}\n"]
    for part in parts:
        body = part.table.markdown() if part.table else "".join(f"- {item}\n" for item in part.items) or part.text + "\n"
        text.append(f"\n## {part.title}\n\n{body}")
    text.append("\n## Figures\n\n" + "".join(f"![{title}]({path.name})\n\n" for title, path in pictures.items()))
    return "".join(text)


def html_document(name: str, parts: list[Section], pictures: dict[str, Path]) -> str:
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>quadpred: {html.escape(name)}</title>",
           "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
           "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}</style></head><body>",
           f"<h1>Results: {html.escape(name)}</h1><p>{html.escape(CAPTION)}</p>"]
    for part in parts:
        if part.table:
            body = part.table.html()
        elif part.items:
            body = "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in part.items) + "</ul>"
        else:
            body = f"<p>{html.escape(part.text)}</p>"
        out.append(f"<h2>{html.escape(part.title)}</h2>{body}")
    for title, path in pictures.items():
        out.append(f"<h2>{html.escape(title)}</h2><img src='{path.name}' alt='{html.escape(title)}'>")
    out.append("</body></html>")
    return "\n".join(out)


def read_histories(folders: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """Run name -> its history.json rows, for the runs that have one."""
    return {name: json.loads((folder / "history.json").read_text())
            for name, folder in folders.items() if (folder / "history.json").is_file()}
