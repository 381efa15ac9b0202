"""CH-818 (Chinese pop, Hu & Yang): its layout is not public, so a CSV table of
``file, arousal, valence`` with both values in [-10, 10]; the quadrant follows from the
signs (zero counts as positive). Optional columns as in :mod:`quadpred.corpora.table`
(``artist`` or ``group`` to group songs)."""

from __future__ import annotations

from pathlib import Path

from ..manifest import Clip
from . import table

AV_RANGE = (-10.0, 10.0)


def prepare(root: str | Path, *, language: str = "man", allow_outside: bool = False) -> list[Clip]:
    """Clips of a CH-818 table (a CSV file, or the folder holding exactly one)."""
    return table.prepare(root, language=language, require_av=True, av_range=AV_RANGE, corpus="ch818",
                         allow_outside=allow_outside)
