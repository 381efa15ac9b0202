"""Corpus readers: one module per on-disk layout, each with ``prepare(root, ...) -> list[Clip]``.

``CORPORA`` maps the names used on the command line to the reader and the kind of
corpus ("speech" or "music"), which decides the default split.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..manifest import Clip
from . import aishell, ch818, emotional_speech, fourq, librispeech, table


class Corpus(NamedTuple):
    prepare: Callable[..., list[Clip]]
    kind: str
    default_language: str | None


CORPORA: dict[str, Corpus] = {
    "librispeech": Corpus(librispeech.prepare, "speech", "eng"),
    "aishell": Corpus(aishell.prepare, "speech", "man"),
    "4q": Corpus(fourq.prepare, "music", "eng"),
    "ch818": Corpus(ch818.prepare, "music", "man"),
    "table": Corpus(table.prepare, "speech", None),
    "emotional-speech": Corpus(emotional_speech.prepare, "speech", None),
}

__all__ = ["CORPORA", "Corpus"]
