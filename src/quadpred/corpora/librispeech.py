"""LibriSpeech: ``LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``
with ``<speaker>-<chapter>.trans.txt`` per chapter folder. Any audio extension is read
(the copy in ../shared/data is Ogg Opus without transcripts). Group = speaker."""

from __future__ import annotations

import re
from pathlib import Path

from ..audio import audio_files_below
from ..errors import CorpusError
from ..manifest import Clip
from .common import duration_or_none, log, read_transcripts, report_skipped, require_folder

_UTTERANCE = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def prepare(root: str | Path, *, language: str = "eng") -> list[Clip]:
    """Clips of every utterance below ``root`` (the LibriSpeech folder, a subset, or above)."""
    root = require_folder(root, "librispeech")
    clips: list[Clip] = []
    skipped: list[str] = []
    transcripts: dict[str, str] = {}
    for trans in sorted(root.rglob("*.trans.txt")):
        transcripts.update(read_transcripts(trans))
    for path in audio_files_below(root):
        match = _UTTERANCE.match(path.stem)
        if not match:
            continue
        duration = duration_or_none(path, skipped)
        if duration is None:
            continue
        speaker = match.group(1)
        meta = {"subset": path.parent.parent.parent.name, "chapter": match.group(2)}
        if path.stem in transcripts:
            meta["text"] = transcripts[path.stem]
        clips.append(Clip(id=path.stem, path=str(path.resolve()), duration=duration, language=language,
                          group=f"spk{speaker}", meta=meta))
    report_skipped("librispeech", skipped)
    if not clips:
        raise CorpusError(
            f"librispeech: no files named <speaker>-<chapter>-<utt>.<audio> below {root}; "
            "point at the LibriSpeech folder"
        )
    if not transcripts:
        log.warning("librispeech: no *.trans.txt transcripts below %s; going on without them", root)
    log.info("librispeech: %d utterances, %d speakers", len(clips), len({c.group for c in clips}))
    return clips
