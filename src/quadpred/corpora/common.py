"""What the corpus readers share: finding audio files, reading durations, CSV rows."""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from ..audio import audio_duration, audio_files_below
from ..errors import AudioError, CorpusError
from ..manifest import Clip

log = logging.getLogger("quadpred")


def require_folder(root: str | Path, corpus: str) -> Path:
    """``root`` as a Path, or CorpusError if it is not an existing folder."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{corpus}: folder {root} not found; give the corpus root folder")
    return root


def duration_or_none(path: Path, skipped: list[str]) -> float | None:
    """Duration from the header; on failure the reason is appended to ``skipped``."""
    try:
        return audio_duration(path)
    except AudioError as exc:
        skipped.append(str(exc))
        return None


def report_skipped(corpus: str, skipped: list[str]) -> None:
    """Log once how many files were unreadable, with the first few reasons."""
    if skipped:
        log.warning("%s: skipped %d unreadable file(s), e.g. %s", corpus, len(skipped), "; ".join(skipped[:3]))


def read_csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV with a header; CorpusError if a required column is missing."""
    if not path.is_file():
        raise CorpusError(f"table {path} not found; check the path")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise CorpusError(
                f"{path}: missing column(s) {', '.join(missing)} (found {', '.join(header) or 'no header'}); "
                "add a header line naming them"
            )
        for row in reader:
            yield reader.line_num, {(k or "").strip(): (v or "").strip() for k, v in row.items()}


def read_transcripts(path: Path) -> dict[str, str]:
    """Utterance id -> text of a Kaldi-style transcript file ('<id> <text>' per line)."""
    texts: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split(maxsplit=1)
        if parts:
            texts[parts[0]] = parts[1] if len(parts) > 1 else ""
    return texts


def utterance_clips(
    root: Path,
    *,
    corpus: str,
    language: str,
    pattern: re.Pattern[str],
    speaker_of: Callable[[re.Match[str]], str],
    meta_of: Callable[[Path, re.Match[str]], dict],
    transcripts: dict[str, str],
    expected: str,
) -> list[Clip]:
    """Clips of the speech files below ``root`` whose stem matches ``pattern``.

    Group = ``speaker_of(match)``; transcripts go into ``meta["text"]``. Raises CorpusError
    naming ``expected`` (the file naming) when no file matches; warns once without transcripts.
    """
    clips: list[Clip] = []
    skipped: list[str] = []
    for path in audio_files_below(root):
        match = pattern.match(path.stem)
        if not match:
            continue
        duration = duration_or_none(path, skipped)
        if duration is None:
            continue
        meta = meta_of(path, match)
        if path.stem in transcripts:
            meta["text"] = transcripts[path.stem]
        clips.append(Clip(id=path.stem, path=str(path.resolve()), duration=duration, language=language,
                          group=speaker_of(match), meta=meta))
    report_skipped(corpus, skipped)
    if not clips:
        raise CorpusError(f"{corpus}: no files named {expected} below {root}; point at the corpus folder")
    if not transcripts:
        log.warning("%s: no transcripts below %s; going on without them", corpus, root)
    log.info("%s: %d utterances, %d speakers", corpus, len(clips), len({c.group for c in clips}))
    return clips
