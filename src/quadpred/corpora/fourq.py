"""4Q-Emotion (Panda et al. 2018, "MER_audio_taffc_dataset"): clips in folders ``Q1``..``Q4``
named by song id (``MT0000004637.mp3``), with ``panda_dataset_taffc_metadata.csv`` (quoted;
columns Song, Artist, Title, Quadrant, ...). The folder gives the label. Group = song,
or artist with ``group_by="artist"`` (many artists have several songs)."""

from __future__ import annotations

from pathlib import Path

from ..audio import audio_files_below
from ..errors import CorpusError
from ..labels import QUADRANTS
from ..manifest import Clip
from .common import duration_or_none, log, read_csv_rows, report_skipped, require_folder

METADATA_NAME = "panda_dataset_taffc_metadata.csv"
GROUPINGS = ("song", "artist")


def read_metadata(path: Path) -> dict[str, dict[str, str]]:
    """Song id -> row of the metadata CSV."""
    return {row["Song"]: row for _, row in read_csv_rows(path, ("Song", "Artist", "Quadrant"))}


def prepare(root: str | Path, *, group_by: str = "song", language: str = "eng") -> list[Clip]:
    """Clips of the Q1..Q4 folders below ``root``, labelled by folder."""
    if group_by not in GROUPINGS:
        raise CorpusError(f"4q: group_by {group_by!r} unknown; use one of {', '.join(GROUPINGS)}")
    root = require_folder(root, "4q")
    folders = [root / q for q in QUADRANTS if (root / q).is_dir()]
    if not folders:
        raise CorpusError(f"4q: no folders Q1..Q4 in {root}; point at the folder that holds them")
    metadata_path = next(iter(sorted(root.rglob(METADATA_NAME))), None)
    metadata = read_metadata(metadata_path) if metadata_path else {}
    if not metadata:
        if group_by == "artist":
            raise CorpusError(f"4q: {METADATA_NAME} not found in {root}; it is needed to group by artist")
        log.warning("4q: %s not found in %s; going on without titles and artists", METADATA_NAME, root)
    clips: list[Clip] = []
    skipped: list[str] = []
    disagreements = 0
    no_artist = 0
    for folder in folders:
        for path in audio_files_below(folder):
            duration = duration_or_none(path, skipped)
            if duration is None:
                continue
            row = metadata.get(path.stem, {})
            if row and row.get("Quadrant") and row["Quadrant"] != folder.name:
                disagreements += 1
            artist = row.get("Artist", "")
            group = f"song:{path.stem}"
            if group_by == "artist":
                if artist:
                    group = f"artist:{artist.casefold()}"
                else:
                    no_artist += 1
            meta = {k: row[k] for k in ("Artist", "Title") if row.get(k)}
            clips.append(Clip(id=path.stem, path=str(path.resolve()), duration=duration, language=language,
                              group=group, labels={"quadrant": folder.name}, meta=meta))
    report_skipped("4q", skipped)
    if not clips:
        raise CorpusError(f"4q: the folders Q1..Q4 in {root} hold no audio files")
    if disagreements:
        log.warning("4q: %d clip(s) lie in a folder other than their metadata quadrant; the folder wins", disagreements)
    if no_artist:
        log.warning("4q: %d clip(s) have no artist in the metadata; each is its own group", no_artist)
    log.info("4q: %d clips, %d groups (by %s)", len(clips), len({c.group for c in clips}), group_by)
    return clips
