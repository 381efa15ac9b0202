"""Listener agreement: Krippendorff's alpha of emotion ratings, overall and by listener group,
emotion, quadrant and lyrics comprehension, with bootstrap intervals (SYSTEM.md, Agreement).

Ratings are long-format rows: rater, group (e.g. the listener's language), item (a music
fragment), emotion, rating (1..5), and optionally the item's quadrant and the rater's lyrics
comprehension, musical sophistication, familiarity, preference. The unit of agreement is an
(item, emotion) pair; alpha comes from the ``krippendorff`` package. Subsets where alpha is
undefined (a single rating per unit, no variation at all) get an explicit reason, not a crash.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np

from .errors import QuadpredError
from .files import write_text_atomic
from .labels import EMOTION_WORDS, normalise_quadrant

SCALE = (1, 2, 3, 4, 5)
REQUIRED = ("rater", "group", "item", "emotion", "rating")
OPTIONAL = ("quadrant", "lyrics", "sophistication", "familiarity", "preference")
STUDY_EMOTIONS = ("joy", "power", "surprise", "anger", "fear", "tension", "bitterness", "sadness", "peace",
                  "tenderness", "transcendence")


@dataclass(frozen=True)
class Rating:
    rater: str
    group: str
    item: str
    emotion: str
    rating: float
    quadrant: str | None = None
    lyrics: bool | None = None
    extra: dict[str, float] = field(default_factory=dict)


def _lyrics(value: str, where: str) -> bool | None:
    text = value.strip().lower()
    if text == "":
        return None
    if text in ("yes", "y", "true", "1"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    try:
        return float(text) >= 3  # a 1-5 comprehension scale: 3 or more counts as understood
    except ValueError:
        raise QuadpredError(f"{where}: lyrics {value!r} is not yes/no or 1-5") from None


def read_ratings(path: str | Path) -> list[Rating]:
    """Rows of a ratings CSV, checked: every bad row is reported with its line number."""
    path = Path(path)
    if not path.is_file():
        raise QuadpredError(f"ratings file {path} not found: check the path")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise QuadpredError(f"{path}: missing column(s) {', '.join(missing)}; needed: {', '.join(REQUIRED)} "
                                f"(optional: {', '.join(OPTIONAL)})")
        ratings = []
        for line, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            where = f"{path}, line {line}"
            if any(not row[c] for c in REQUIRED):
                raise QuadpredError(f"{where}: empty {', '.join(c for c in REQUIRED if not row[c])}; fill or remove the row")
            try:
                value = float(row["rating"])
            except ValueError:
                raise QuadpredError(f"{where}: rating {row['rating']!r} is not a number from 1 to 5") from None
            if not SCALE[0] <= value <= SCALE[-1]:
                raise QuadpredError(f"{where}: rating {value:g} is outside 1-5")
            try:
                quadrant = normalise_quadrant(row["quadrant"]) if row.get("quadrant") else None
            except QuadpredError as exc:
                raise QuadpredError(f"{where}: {exc}") from None
            extra = {}
            for name in ("sophistication", "familiarity", "preference"):
                if row.get(name):
                    try:
                        extra[name] = float(row[name])
                    except ValueError:
                        raise QuadpredError(f"{where}: {name} {row[name]!r} is not a number") from None
            ratings.append(Rating(row["rater"], row["group"], row["item"], row["emotion"].lower(), value, quadrant,
                                  _lyrics(row.get("lyrics", ""), where), extra))
    if not ratings:
        raise QuadpredError(f"{path}: no ratings")
    return ratings


def reliability_matrix(ratings: Sequence[Rating]) -> np.ndarray:
    """(raters, units) ratings with NaN where a rater did not rate a unit; units = (item, emotion)."""
    raters = {r: i for i, r in enumerate(sorted({x.rater for x in ratings}))}
    units = {u: i for i, u in enumerate(sorted({(x.item, x.emotion) for x in ratings}))}
    matrix = np.full((len(raters), len(units)), np.nan)
    for x in ratings:
        matrix[raters[x.rater], units[(x.item, x.emotion)]] = x.rating
    return matrix


def alpha(matrix: np.ndarray, level: str) -> tuple[float | None, str | None]:
    """Krippendorff's alpha of a (raters, units) matrix; (None, reason) when it is undefined."""
    pairable = np.sum(~np.isnan(matrix), axis=0) >= 2
    if not pairable.any():
        return None, "no unit has two or more ratings"
    values = matrix[:, pairable]
    values = values[~np.isnan(values)]
    if np.all(values == values[0]):
        return None, f"no variation: every rating is {values[0]:g}"
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level, value_domain=list(SCALE))), None


def bootstrap_alpha(matrix: np.ndarray, level: str, *, samples: int, seed: int) -> tuple[float, float] | None:
    """95 % percentile interval of alpha over resamplings of the units (columns)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        value, _ = alpha(matrix[:, rng.integers(0, matrix.shape[1], matrix.shape[1])], level)
        if value is not None:
            values.append(value)
    if len(values) < samples // 2:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def quadrant_of(rating: Rating) -> str | None:
    """The item's quadrant if given, else the quadrant of the rated emotion word."""
    return rating.quadrant or EMOTION_WORDS.get(rating.emotion)


def analyse(ratings: Sequence[Rating], *, samples: int = 500, seed: int = 0) -> dict[str, Any]:
    """Alpha (ordinal and interval) with intervals: overall, per group, emotion, quadrant, and
    understood lyrics vs not (overall and per quadrant)."""
    def entry(subset: Iterable[Rating], name: str) -> dict[str, Any]:
        subset = list(subset)
        matrix = reliability_matrix(subset) if subset else np.zeros((0, 0))
        result: dict[str, Any] = {"subset": name, "ratings": len(subset), "raters": len({x.rater for x in subset}),
                                  "units": matrix.shape[1]}
        for level in ("ordinal", "interval"):
            value, reason = alpha(matrix, level) if subset else (None, "no ratings")
            result[level] = {"alpha": value, "reason": reason,
                             "ci95": bootstrap_alpha(matrix, level, samples=samples, seed=seed) if value is not None else None}
        return result

    groups = sorted({x.group for x in ratings})
    emotions = sorted({x.emotion for x in ratings})
    quadrants = sorted({q for q in map(quadrant_of, ratings) if q})
    report: dict[str, Any] = {
        "overall": entry(ratings, "all"),
        "by_group": [entry((x for x in ratings if x.group == g), g) for g in groups],
        "by_emotion": [entry((x for x in ratings if x.emotion == e), e) for e in emotions],
        "by_quadrant": [entry((x for x in ratings if quadrant_of(x) == q), q) for q in quadrants],
    }
    if any(x.lyrics is not None for x in ratings):
        report["lyrics"] = [entry((x for x in ratings if x.lyrics is understood and (q is None or quadrant_of(x) == q)),
                                  f"{'understood' if understood else 'not understood'}{'' if q is None else ' ' + q}")
                            for q in [None, *quadrants] for understood in (True, False)]
    return report


def _rows(report: dict[str, Any]) -> list[tuple[str, str, dict]]:
    rows = [("overall", "all", report["overall"])]
    for section in ("by_group", "by_emotion", "by_quadrant", "lyrics"):
        rows += [(section, e["subset"], e) for e in report.get(section, [])]
    return rows


def to_markdown(report: dict[str, Any]) -> str:
    lines = ["| section | subset | ratings | raters | units | alpha ordinal (95 % CI) | alpha interval (95 % CI) |",
             "|---|---|---|---|---|---|---|"]
    for section, name, e in _rows(report):
        cells = []
        for level in ("ordinal", "interval"):
            value = e[level]
            if value["alpha"] is None:
                cells.append(f"undefined: {value['reason']}")
            else:
                ci = value["ci95"]
                cells.append(f"{value['alpha']:.3f}" + (f" ({ci[0]:.3f} to {ci[1]:.3f})" if ci else ""))
        lines.append(f"| {section} | {name} | {e['ratings']} | {e['raters']} | {e['units']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def to_csv(report: dict[str, Any]) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["section", "subset", "ratings", "raters", "units", "level", "alpha", "ci95_low", "ci95_high",
                     "reason"])
    for section, name, e in _rows(report):
        for level in ("ordinal", "interval"):
            value = e[level]
            ci = value["ci95"] or ("", "")
            writer.writerow([section, name, e["ratings"], e["raters"], e["units"], level,
                             "" if value["alpha"] is None else f"{value['alpha']:.4f}", *ci, value["reason"] or ""])
    return text.getvalue()


def write_agreement(ratings: Sequence[Rating], out: str | Path, *, samples: int = 500, seed: int = 0) -> dict[str, Path]:
    """agreement.json, .md, .csv and agreement.png (ordinal alpha with intervals per subset)."""
    from .plots import alphas_with_intervals

    out = Path(out)
    report = analyse(ratings, samples=samples, seed=seed)
    files = {"json": out / "agreement.json", "markdown": out / "agreement.md", "csv": out / "agreement.csv"}
    write_text_atomic(files["json"], json.dumps(report, indent=1) + "\n")
    write_text_atomic(files["markdown"], "# Listener agreement (Krippendorff's alpha)\n\n" + to_markdown(report))
    write_text_atomic(files["csv"], to_csv(report))
    panels = {}
    for section in ("by_group", "by_quadrant", "by_emotion", "lyrics"):
        if report.get(section):
            panels[section.replace("by_", "by ").replace("lyrics", "lyrics understood?")] = [
                (e["subset"], e["ordinal"]["alpha"], *(e["ordinal"]["ci95"] or (None, None))) for e in report[section]]
    files["figure"] = alphas_with_intervals(panels, out / "agreement.png")
    return files


# --- a synthetic ratings set with a known agreement structure ---------------------------------

def synthetic_ratings(*, group_noise: dict[str, float] | None = None, raters_per_group: int = 12, items: int = 22,
                      emotions: Sequence[str] = STUDY_EMOTIONS, lyrics_help: float = 0.5,
                      seed: int = 0) -> list[Rating]:
    """Ratings whose agreement is known by construction.

    Every (item, emotion) has a latent value in 1..5; a rater gives it plus Gaussian noise of
    their group's size (``group_noise``, e.g. {"eng": 0.5, "man": 1.5}: smaller noise, higher
    alpha), rounded and clipped to 1..5. Half the raters of each group understand the lyrics;
    for Q1 and Q3 items their noise shrinks by ``lyrics_help`` (the study's finding).
    """
    group_noise = group_noise or {"eng": 0.4, "spa": 0.8, "deu": 1.2, "man": 1.8}
    rng = np.random.default_rng(seed)
    quadrants = [("Q1", "Q2", "Q3", "Q4")[i % 4] for i in range(items)]
    latent = rng.uniform(1, 5, (items, len(emotions)))
    ratings = []
    for group, noise in group_noise.items():
        for r in range(raters_per_group):
            understands = r % 2 == 0
            sophistication = float(rng.integers(1, 8))
            for i in range(items):
                helped = understands and quadrants[i] in ("Q1", "Q3")
                sd = noise * (1 - lyrics_help) if helped else noise
                values = np.clip(np.rint(latent[i] + rng.normal(0, sd, len(emotions))), 1, 5)
                ratings += [Rating(f"{group}-{r:02d}", group, f"item{i:02d}", e, float(v), quadrants[i], understands,
                                   {"sophistication": sophistication}) for e, v in zip(emotions, values)]
    return ratings


def write_ratings_csv(ratings: Sequence[Rating], path: str | Path) -> Path:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*REQUIRED, "quadrant", "lyrics", "sophistication"])
    for x in ratings:
        writer.writerow([x.rater, x.group, x.item, x.emotion, f"{x.rating:g}", x.quadrant or "",
                         "" if x.lyrics is None else ("yes" if x.lyrics else "no"), x.extra.get("sophistication", "")])
    write_text_atomic(Path(path), text.getvalue())
    return Path(path)
