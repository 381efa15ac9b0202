"""AISHELL-1: ``data_aishell/wav/{train,dev,test}/<S0002>/<BAC009S0002W0122>.wav`` plus
``data_aishell/transcript/aishell_transcript_v0.8.txt``. Group = speaker."""

from __future__ import annotations

import re
from pathlib import Path

from ..manifest import Clip
from .common import read_transcripts, require_folder, utterance_clips

_UTTERANCE = re.compile(r"^BAC009(S\d{4})W\d{4}$")


def prepare(root: str | Path, *, language: str = "man") -> list[Clip]:
    """Clips of every utterance below ``root`` (data_aishell, or a folder above it)."""
    root = require_folder(root, "aishell")
    transcripts: dict[str, str] = {}
    for trans in sorted(root.rglob("aishell_transcript*.txt")):
        transcripts.update(read_transcripts(trans))
    return utterance_clips(
        root, corpus="aishell", language=language, pattern=_UTTERANCE,
        speaker_of=lambda m: m.group(1),
        meta_of=lambda path, m: {"subset": path.parent.parent.name},
        transcripts=transcripts, expected="BAC009S<4 digits>W<4 digits>.<audio>",
    )
