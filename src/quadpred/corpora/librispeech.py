"""LibriSpeech: ``LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``
with ``<speaker>-<chapter>.trans.txt`` per chapter folder. Any audio extension is read
(the copy in ../shared/data is Ogg Opus without transcripts). Group = speaker."""

from __future__ import annotations

import re
from pathlib import Path

from ..manifest import Clip
from .common import read_transcripts, require_folder, utterance_clips

_UTTERANCE = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def prepare(root: str | Path, *, language: str = "eng") -> list[Clip]:
    """Clips of every utterance below ``root`` (the LibriSpeech folder, a subset, or above)."""
    root = require_folder(root, "librispeech")
    transcripts: dict[str, str] = {}
    for trans in sorted(root.rglob("*.trans.txt")):
        transcripts.update(read_transcripts(trans))
    return utterance_clips(
        root, corpus="librispeech", language=language, pattern=_UTTERANCE,
        speaker_of=lambda m: f"spk{m.group(1)}",
        meta_of=lambda path, m: {"subset": path.parent.parent.parent.name, "chapter": m.group(2)},
        transcripts=transcripts, expected="<speaker>-<chapter>-<utt>.<audio>",
    )
