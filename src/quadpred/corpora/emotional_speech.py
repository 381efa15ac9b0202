"""Acted emotional speech as one table, ``emotional_speech.csv`` (the layout of
../shared/data/emotional-speech: RAVDESS English and CASIA Mandarin): columns ``file``
(relative to the table's folder), ``language``, ``speaker``, ``emotion`` and ``quadrant``
(1..4 for Russell's quadrants, 0 for neutral, which has none).

Every utterance keeps its emotion (``labels["emotion"]``); the quadrant is set for the
emotional ones only: neutral stays its own class, never a quadrant. Group = speaker, so
folds and splits keep each speaker on one side.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CorpusError
from ..labels import QUADRANTS
from ..manifest import Clip
from .common import duration_or_none, read_csv_rows, report_skipped

TABLE_NAME = "emotional_speech.csv"
COLUMNS = ("file", "language", "speaker", "emotion", "quadrant")
NEUTRAL = "0"


def find_table(root: str | Path) -> Path:
    """``root`` if it is the table, else ``root/emotional_speech.csv``."""
    root = Path(root)
    path = root if root.is_file() else root / TABLE_NAME
    if not path.is_file():
        raise CorpusError(f"emotional-speech: {path} not found; give the folder holding {TABLE_NAME} or the table")
    return path


def prepare(root: str | Path, *, language: str | None = None) -> list[Clip]:
    """Clips of the table's rows whose audio is readable (``language``: keep only that language)."""
    table = find_table(root)
    folder = table.parent.resolve()
    clips: list[Clip] = []
    skipped: list[str] = []
    seen: dict[str, int] = {}
    for line, row in read_csv_rows(table, COLUMNS):
        where = f"{table}:{line}"
        if row["quadrant"] != NEUTRAL and row["quadrant"] not in {q[1:] for q in QUADRANTS}:
            raise CorpusError(f"{where}: quadrant {row['quadrant']!r} unknown; use 1-4, or 0 for neutral")
        if not row["file"] or not row["speaker"] or not row["emotion"] or not row["language"]:
            raise CorpusError(f"{where}: file, language, speaker and emotion must all be given")
        path = (folder / row["file"]).resolve()
        if not path.is_relative_to(folder):
            raise CorpusError(f"{where}: {row['file']} lies outside the table's folder {folder}; move the audio there")
        if language is not None and row["language"] != language:
            continue
        clip_id = row["file"].rsplit(".", 1)[0].replace("/", "-")
        if clip_id in seen:
            raise CorpusError(f"{where}: {row['file']} is listed twice (first on line {seen[clip_id]}); remove one")
        seen[clip_id] = line
        duration = duration_or_none(path, skipped)
        if duration is None:
            continue
        labels = {"emotion": row["emotion"]}
        if row["quadrant"] != NEUTRAL:
            labels["quadrant"] = f"Q{row['quadrant']}"
        clips.append(Clip(id=clip_id, path=str(path), duration=duration, language=row["language"],
                          group=row["speaker"], labels=labels, meta={"corpus": "emotional-speech"}))
    report_skipped("emotional-speech", skipped)
    if not clips:
        raise CorpusError(f"emotional-speech: no readable utterance in {table}"
                          + (f" for language {language}" if language else ""))
    return clips
