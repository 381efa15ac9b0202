"""Any corpus given as a CSV table: one row per clip.

Columns: ``file`` (or ``path``; relative to the table's folder, and inside it unless
``allow_outside``) is required; optional ``id`` (default: the file's stem, or its path below
the table's folder where two files share a stem), ``language``, ``speaker``/``group``/``artist``,
``quadrant`` (Q1..Q4), numeric ``arousal`` and ``valence`` (the quadrant follows from their
signs), ``split``. Other columns are kept in ``meta``. The Mandarin table in ../shared/data has
this form.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import CorpusError, QuadpredError
from ..labels import normalise_quadrant, quadrant_from_av
from ..manifest import SPLITS, Clip
from .common import duration_or_none, log, read_csv_rows, report_skipped

_KNOWN = {"file", "path", "id", "language", "speaker", "group", "artist", "quadrant", "arousal", "valence", "split"}


def find_table(root: str | Path) -> Path:
    """``root`` if it is a CSV file, else the only CSV file directly inside the folder."""
    root = Path(root)
    if root.is_file():
        return root
    if not root.is_dir():
        raise CorpusError(f"table: {root} not found; give a CSV file or the folder holding one")
    tables = sorted(root.glob("*.csv"))
    if len(tables) != 1:
        raise CorpusError(f"table: found {len(tables)} CSV files in {root}; give the table's path itself")
    return tables[0]


def prepare(
    root: str | Path,
    *,
    language: str | None = None,
    require_av: bool = False,
    av_range: tuple[float, float] | None = None,
    corpus: str = "table",
    allow_outside: bool = False,
) -> list[Clip]:
    """Clips of a CSV table (see the module docstring).

    ``language`` fills rows without a language column; ``require_av`` demands numeric
    arousal and valence columns, each within ``av_range`` when given; ``allow_outside`` accepts
    audio files outside the table's folder (absolute or ``../`` paths).
    """
    path = find_table(root)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = [h.strip() for h in next(csv.reader(handle), [])]
    file_column = "file" if "file" in header else "path"
    required = (file_column, "arousal", "valence") if require_av else (file_column,)
    clips: list[Clip] = []
    skipped: list[str] = []
    for line, row in read_csv_rows(path, required):
        where = f"{path}:{line}"
        if not row.get(file_column):
            raise CorpusError(f"{where}: empty '{file_column}' cell; give the audio file of every row")
        audio = Path(row[file_column])
        audio = audio if audio.is_absolute() else path.parent / audio
        if not allow_outside and not audio.resolve().is_relative_to(path.parent.resolve()):
            raise CorpusError(f"{where}: {row[file_column]} lies outside the table's folder {path.parent}; move the "
                              "audio below it, or pass --allow-outside if that is meant")
        if row.get("id") and (".." in Path(row["id"]).parts or row["id"].startswith(("/", "."))):
            raise CorpusError(f"{where}: id {row['id']!r} looks like a path out of its folder; give a plain id")
        lang = row.get("language") or language
        if not lang:
            raise CorpusError(f"{where}: no language; add a 'language' column or pass --language")
        labels = _labels(row, where, require_av, av_range)
        split = row.get("split") or None
        if split is not None and split not in SPLITS:
            raise CorpusError(f"{where}: split {split!r} unknown; use one of {', '.join(SPLITS)} or leave it empty")
        duration = duration_or_none(audio, skipped)
        if duration is None:
            continue
        clip_id = row.get("id") or ""
        group = row.get("group") or row.get("speaker") or (f"artist:{row['artist']}" if row.get("artist") else "")
        meta = {k: v for k, v in row.items() if k not in _KNOWN and v}
        clips.append(Clip(id=clip_id, path=str(audio.resolve()), duration=duration, language=lang,
                          group=group or f"clip:{clip_id}", labels=labels, split=split, meta=meta))
    report_skipped(corpus, skipped)
    _default_ids(clips, path.parent)
    if not clips:
        raise CorpusError(f"{corpus}: {path} lists no readable audio file; check the '{file_column}' column")
    log.info("%s: %d clips, %d groups", corpus, len(clips), len({c.group for c in clips}))
    return clips


def _default_ids(clips: list[Clip], folder: Path) -> None:
    """Give rows without an id their file's stem, or, where two files share a stem, their path
    below ``folder`` without the extension (a/song1, b/song1)."""
    stems = Counter(Path(c.path).stem for c in clips if not c.id)
    for clip in clips:
        if clip.id:
            continue
        audio = Path(clip.path)
        if stems[audio.stem] == 1:
            clip.id = audio.stem
        else:
            try:
                clip.id = str(audio.relative_to(folder.resolve()).with_suffix(""))
            except ValueError:  # outside the folder (allow_outside)
                clip.id = str(audio.with_suffix("")).lstrip("/")
        if clip.group == "clip:":
            clip.group = f"clip:{clip.id}"


def _labels(row: dict[str, str], where: str, require_av: bool, av_range: tuple[float, float] | None) -> dict[str, Any]:
    labels: dict[str, Any] = {}
    if row.get("arousal") or row.get("valence") or require_av:
        try:
            arousal, valence = float(row["arousal"]), float(row["valence"])
        except (KeyError, ValueError) as exc:
            raise CorpusError(
                f"{where}: arousal {row.get('arousal')!r} / valence {row.get('valence')!r} are not numbers; fix the row"
            ) from exc
        if av_range and not all(av_range[0] <= v <= av_range[1] for v in (arousal, valence)):
            raise CorpusError(f"{where}: arousal/valence ({arousal}, {valence}) outside {list(av_range)}; fix the row")
        labels.update(arousal_value=arousal, valence_value=valence, quadrant=quadrant_from_av(arousal, valence))
    if row.get("quadrant"):
        try:
            quadrant = normalise_quadrant(row["quadrant"])
        except QuadpredError as exc:
            raise CorpusError(f"{where}: {exc}") from exc
        if "quadrant" in labels and labels["quadrant"] != quadrant:
            raise CorpusError(f"{where}: quadrant {quadrant} contradicts the signs of arousal and valence")
        labels["quadrant"] = quadrant
    return labels
