"""Figures: confusion matrices, scores with intervals, learning curves, the tag-gram with its
path through Russell's arousal-valence plane.

Pure: arrays and labels in, a PNG file out (matplotlib's Agg backend, no screen needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .files import atomic_path  # noqa: E402
from .labels import QUADRANT_COLOURS, QUADRANT_MEANINGS  # noqa: E402


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def confusion_grid(matrices: Mapping[str, np.ndarray], labels: Sequence[str], path: str | Path, *,
                   title: str = "", row_labels: Sequence[str] | None = None) -> Path:
    """Row-normalised confusion matrices side by side, one panel per title; values in cells.
    ``row_labels`` name the rows when they are not the predicted classes (e.g. acted emotions)."""
    n = len(matrices)
    columns = min(n, 4)
    rows = -(-n // columns)
    cells = len(row_labels) if row_labels else len(labels)  # taller panels for many rows
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, max(3.0, 0.4 * cells + 1.2) * rows),
                                squeeze=False)
    for axis in axes.flat[n:]:
        axis.axis("off")
    for axis, (name, matrix) in zip(axes.flat, matrices.items()):
        matrix = np.asarray(matrix)
        axis.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        for (r, c), value in np.ndenumerate(matrix):
            axis.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7 if cells > 6 else 8,
                      color="white" if value > 0.6 else "black")
        axis.set_xticks(range(len(labels)), labels, fontsize=8)
        axis.set_yticks(range(matrix.shape[0]), list(row_labels or labels), fontsize=8)
        axis.set_xlabel("predicted", fontsize=8)
        axis.set_ylabel("true", fontsize=8)
        axis.set_title(name, fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def projections(points: Mapping[str, np.ndarray], colourings: Mapping[str, Sequence[str]], path: str | Path) -> Path:
    """2-D points of the same items, one row per {name: (items, 2)}, one column per colouring
    {what: (items,) category}: a scatter with a legend per column."""
    rows, columns = len(points), len(colourings)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), squeeze=False)
    for r, (name, xy) in enumerate(points.items()):
        for c, (what, categories) in enumerate(colourings.items()):
            axis = axes[r, c]
            kinds = sorted(set(categories))
            palette = plt.cm.tab10(np.linspace(0, 1, 10))
            for k, kind in enumerate(kinds):
                chosen = np.array([category == kind for category in categories])
                axis.scatter(xy[chosen, 0], xy[chosen, 1], s=4, alpha=0.6, color=palette[k % 10], label=kind)
            axis.set_title(f"{name}: by {what}", fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.legend(fontsize=6, markerscale=2, loc="best", frameon=False)
    figure.tight_layout()
    return _save(figure, path)


def scores_with_intervals(groups: Mapping[str, Sequence[tuple[str, float, float, float]]], path: str | Path, *,
                          ylabel: str = "macro F-score", title: str = "") -> Path:
    """Grouped bars: {group (method): [(setting, mean, low, high), ...]} with interval whiskers."""
    settings = sorted({s for bars in groups.values() for s, *_ in bars})
    width = 0.8 / max(len(groups), 1)
    figure, axis = plt.subplots(figsize=(max(5.0, 1.4 * len(settings) + 2), 3.6))
    for g, (group, bars) in enumerate(groups.items()):
        by_setting = {s: (m, lo, hi) for s, m, lo, hi in bars}
        xs = [i + (g - (len(groups) - 1) / 2) * width for i, s in enumerate(settings) if s in by_setting]
        values = [by_setting[s] for s in settings if s in by_setting]
        means = np.array([v[0] for v in values])
        errors = np.array([[m - lo for m, lo, _ in values], [hi - m for m, _, hi in values]])
        axis.bar(xs, means, width, yerr=errors, capsize=3, label=group)
    axis.set_xticks(range(len(settings)), settings)
    axis.set_ylim(0, 1)
    axis.set_ylabel(ylabel)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8, ncols=min(len(groups), 3))
    if title:
        axis.set_title(title)
    return _save(figure, path)


def learning_curves(curves: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path, *, title: str = "") -> Path:
    """Validation (solid) and training (dashed) loss by epoch, one colour per run label."""
    figure, axis = plt.subplots(figsize=(6.5, 3.8))
    for i, (label, history) in enumerate(curves.items()):
        epochs = [row["epoch"] for row in history]
        colour = f"C{i % 10}"
        axis.plot(epochs, [row["valid_loss"] for row in history], color=colour, label=label)
        axis.plot(epochs, [row["train_loss"] for row in history], color=colour, linestyle="--", alpha=0.6)
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss (solid: validation, dashed: training)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncols=2)
    if title:
        axis.set_title(title)
    return _save(figure, path)


class RussellPlane:
    """Russell's arousal-valence plane on ``axis``: its quadrants, axes and legend are made once;
    :meth:`show` puts a song's path on it. ``animated``: the path and what lies over it (the zero
    lines, the quadrant names) are left out of a full draw, to be drawn by :meth:`draw_song`."""

    def __init__(self, axis: plt.Axes, *, animated: bool = False) -> None:
        self.axis = axis
        over_path = []
        for name, (x, y) in {"Q1": (0, 0), "Q2": (-1, 0), "Q3": (-1, -1), "Q4": (0, -1)}.items():
            axis.add_patch(Rectangle((x, y), 1, 1, color=QUADRANT_COLOURS[name], alpha=0.15, linewidth=0))
            over_path.append(axis.text(x + (0.95 if x == 0 else 0.05), y + (0.92 if y == 0 else 0.05),
                                       f"{name}\n{QUADRANT_MEANINGS[name]}", fontsize=7, ha="right" if x == 0 else "left",
                                       va="top" if y == 0 else "bottom", animated=animated))
        # one collection of segments, not a line per step: an hour of music is 3,600 steps
        self.path = axis.add_collection(LineCollection([], linewidths=1.3, animated=animated))
        (self.start,) = axis.plot([], [], "o", color=plt.cm.Greys(0.3), markersize=4, label="start", animated=animated)
        (self.end,) = axis.plot([], [], "s", color="black", markersize=4, label="end", animated=animated)
        axis.legend(fontsize=6, loc="center", frameon=False, bbox_to_anchor=(0.5, -0.22), ncol=2)
        self.over_path = [axis.axhline(0, color="grey", linewidth=0.6, animated=animated),
                          axis.axvline(0, color="grey", linewidth=0.6, animated=animated), *over_path]
        axis.set(xlim=(-1.06, 1.06), ylim=(-1.06, 1.06), aspect="equal", xticks=[-1, 0, 1], yticks=[-1, 0, 1])
        axis.tick_params(labelsize=7)
        axis.set_xlabel("valence", fontsize=8)
        axis.set_ylabel("arousal", fontsize=8)

    def show(self, valence: np.ndarray, arousal: np.ndarray) -> None:
        """Put the path of (steps,) P(valence positive), P(arousal positive) on the plane: scaled
        to [-1, 1], light to dark over time."""
        points = np.stack([2 * np.asarray(valence) - 1, 2 * np.asarray(arousal) - 1], axis=1)
        shades = plt.cm.Greys(np.linspace(0.3, 1.0, max(len(points) - 1, 1)))
        self.path.set_segments(np.stack([points[:-1], points[1:]], axis=1))
        self.path.set_color(shades[:max(len(points) - 1, 0)])
        self.start.set_data(points[:1, 0], points[:1, 1])
        self.end.set_data(points[-1:, 0], points[-1:, 1])

    def draw_song(self) -> None:
        """Draw the path and what lies over it (after the rest of the plane was drawn)."""
        for artist in (self.path, self.start, self.end, *self.over_path):
            self.axis.draw_artist(artist)


def tag_gram(times: np.ndarray, probabilities: Mapping[str, np.ndarray], labels: Mapping[str, Sequence[str]],
             path: str | Path, *, title: str = "") -> Path:
    """Probabilities over time, one panel per task: (steps,) times in seconds, {task: (steps, k)};
    with arousal and valence, the song's path through Russell's plane beside them.

    Songs with the same steps and tasks share one drawn figure: its axes, ticks and colour bar are
    drawn once and each song's images, path and title are drawn over them (a batch of 30-s clips
    costs a fraction of a full matplotlib draw each)."""
    key = (len(times), round(float(times[0]), 6) if len(times) else 0.0,
           round(float(times[1] - times[0]), 6) if len(times) > 1 else 1.0,
           tuple((task, tuple(labels[task])) for task in probabilities))
    template = _TAG_GRAMS.pop(key, None) or _TagGramTemplate(np.asarray(times), labels, list(probabilities))
    _TAG_GRAMS[key] = template  # most recently used last
    while len(_TAG_GRAMS) > _TAG_GRAMS_KEPT:
        _TAG_GRAMS.pop(next(iter(_TAG_GRAMS)))
    return template.paint(probabilities, title, Path(path))


_TAG_GRAMS: dict[tuple, _TagGramTemplate] = {}
_TAG_GRAMS_KEPT = 4  # figures of different song lengths kept drawn (a few MB each)


class _TagGramTemplate:
    """A tag-gram figure for one number of steps and one set of tasks, drawn once without the
    song's data; :meth:`paint` restores that drawing and draws a song's images, title and path
    through Russell's plane over it."""

    def __init__(self, times: np.ndarray, labels: Mapping[str, Sequence[str]], tasks: list[str]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        heights = [len(labels[t]) for t in tasks]
        plane = {"arousal", "valence"} <= set(tasks)
        self.labels = labels
        width = max(6.0, min(16.0, 0.12 * len(times) + 4))
        size = (width + (3.2 if plane else 0), max(1.0 + 0.45 * sum(heights), 3.4 if plane else 0))
        self.figure = Figure(figsize=size, dpi=110)
        self.canvas = FigureCanvasAgg(self.figure)
        # margins in inches, so that the figure needs no cropping pass
        left, right = 1.5, 0.15 if plane else 0.95
        # matplotlib's wspace is a fraction of the mean cell width: a fixed 0.35 left inches of
        # blank beside a long song's plane; the gap holds the colour bar and the plane's label
        gap = 1.1
        grid = self.figure.add_gridspec(len(tasks), 2 if plane else 1, height_ratios=heights,
                                        width_ratios=[width, 3.0] if plane else None,
                                        wspace=2 * gap / (size[0] - left - right - gap),
                                        left=left / size[0], right=1 - right / size[0],
                                        bottom=0.6 / size[1], top=1 - 0.35 / size[1])
        axes = [self.figure.add_subplot(grid[row, 0]) for row in range(len(tasks))]
        for axis in axes[1:]:
            axis.sharex(axes[0])
        for axis in axes[:-1]:
            axis.tick_params(labelbottom=False)
        step = float(times[1] - times[0]) if len(times) > 1 else 1.0
        extent = (float(times[0]) - step / 2, float(times[-1]) + step / 2) if len(times) else (0.0, 1.0)
        self.images = {}
        for axis, task in zip(axes, tasks):
            blank = np.zeros((len(labels[task]), max(len(times), 1)))
            self.images[task] = axis.imshow(blank, aspect="auto", origin="lower", vmin=0, vmax=1, cmap="magma",
                                            interpolation="nearest", animated=True,
                                            extent=(*extent, -0.5, len(labels[task]) - 0.5))
            names = [f"{n} {QUADRANT_MEANINGS[n]}" if task == "quadrant" and n in QUADRANT_MEANINGS else n
                     for n in labels[task]]
            axis.set_yticks(range(len(labels[task])), names, fontsize=8)
            axis.set_ylabel(task, fontsize=9)
            for spine in axis.spines.values():  # the frame lies over the image: drawn after it
                spine.set_animated(True)
        axes[-1].set_xlabel("time (s)")
        self.figure.colorbar(self.images[tasks[0]], ax=axes, label="probability", fraction=0.03, pad=0.01)
        self.axes = axes
        self.title = axes[0].set_title(" ", animated=True)
        self.plane = RussellPlane(self.figure.add_subplot(grid[:, 1]), animated=True) if plane else None
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def paint(self, probabilities: Mapping[str, np.ndarray], title: str, path: Path) -> Path:
        """Draw one song's tag-gram over the saved drawing and write it as PNG to ``path``."""
        from PIL import Image

        self.canvas.restore_region(self.background)
        for axis, (task, image) in zip(self.axes, self.images.items()):
            image.set_data(np.asarray(probabilities[task]).T)
            axis.draw_artist(image)
            for spine in axis.spines.values():
                axis.draw_artist(spine)
        self.title.set_text(title)
        self.axes[0].draw_artist(self.title)
        if self.plane is not None:
            positive = {t: np.asarray(probabilities[t])[:, list(self.labels[t]).index("positive")]
                        for t in ("arousal", "valence")}
            self.plane.show(positive["valence"], positive["arousal"])
            self.plane.draw_song()
        with atomic_path(path) as tmp:  # zlib level 1: a quarter of the time of the default, files ~1.3x
            Image.fromarray(np.asarray(self.canvas.buffer_rgba())).save(tmp, format="png", compress_level=1)
        return path


def alphas_with_intervals(panels: Mapping[str, Sequence[tuple[str, float | None, float | None, float | None]]],
                          path: str | Path) -> Path:
    """One panel per analysis: {title: [(subset, alpha or None, low, high), ...]}; undefined alphas
    are marked 'n/a'."""
    n = max(len(panels), 1)
    figure, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    for axis, (title, rows) in zip(axes[0], panels.items()):
        for x, (name, value, low, high) in enumerate(rows):
            if value is None:
                axis.text(x, 0.02, "n/a", ha="center", fontsize=7)
                continue
            error = [[value - low], [high - value]] if low is not None else None
            axis.bar(x, value, 0.7, yerr=error, capsize=3, color="C0")
        axis.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=45, ha="right", fontsize=7)
        axis.set_ylim(min(0.0, *[r[1] for r in rows if r[1] is not None] or [0.0]) - 0.05, 1)
        axis.axhline(0, color="black", linewidth=0.5)
        axis.set_title(title, fontsize=9)
        axis.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("Krippendorff's alpha (ordinal)")
    figure.tight_layout()
    return _save(figure, path)
