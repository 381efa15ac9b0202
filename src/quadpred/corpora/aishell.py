"""AISHELL-1: ``data_aishell/wav/{train,dev,test}/<S0002>/<BAC009S0002W0122>.wav`` plus
``data_aishell/transcript/aishell_transcript_v0.8.txt``. Group = speaker."""

from __future__ import annotations

import re
from pathlib import Path

from ..audio import audio_files_below
from ..errors import CorpusError
from ..manifest import Clip
from .common import duration_or_none, log, read_transcripts, report_skipped, require_folder

_UTTERANCE = re.compile(r"^BAC009(S\d{4})W\d{4}$")


def prepare(root: str | Path, *, language: str = "man") -> list[Clip]:
    """Clips of every utterance below ``root`` (data_aishell, or a folder above it)."""
    root = require_folder(root, "aishell")
    transcripts: dict[str, str] = {}
    for trans in sorted(root.rglob("aishell_transcript*.txt")):
        transcripts.update(read_transcripts(trans))
    clips: list[Clip] = []
    skipped: list[str] = []
    for path in audio_files_below(root):
        match = _UTTERANCE.match(path.stem)
        if not match:
            continue
        duration = duration_or_none(path, skipped)
        if duration is None:
            continue
        meta = {"subset": path.parent.parent.name}
        if path.stem in transcripts:
            meta["text"] = transcripts[path.stem]
        clips.append(Clip(id=path.stem, path=str(path.resolve()), duration=duration, language=language,
                          group=match.group(1), meta=meta))
    report_skipped("aishell", skipped)
    if not clips:
        raise CorpusError(
            f"aishell: no files named BAC009S<4 digits>W<4 digits>.<audio> below {root}; "
            "point at the data_aishell folder"
        )
    if not transcripts:
        log.warning("aishell: no transcript/aishell_transcript_v0.8.txt below %s; going on without it", root)
    log.info("aishell: %d utterances, %d speakers", len(clips), len({c.group for c in clips}))
    return clips
