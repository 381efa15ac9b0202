"""The feature store: one feature array per clip (log-mel, or hand-crafted), read memory-mapped.

Layout of ``<root>/<config key>/`` (the key hashes the spectrogram settings, so a
changed config writes elsewhere and never mixes arrays)::

    config.json         the FeatureConfig (or SmileConfig, with "kind": "smile")
    arrays/<id>.npy     (rows, frames) per clip, written atomically (rows: n_mels or 260)
    index.json          clip id -> {"file", "frames", "source": the audio file's path, size
                        and SHA-256, "bytes" and "crc32" of the array file}
    failures.json       clip id -> why it could not be read (skipped, not fatal)

Extraction skips clips whose array exists and is whole, so an interrupted run is finished by
running it again. A clip id is bound to its audio: the same id for another audio file is an
error naming both, and an array whose file changed since it was written is computed again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .audio import ReadLimits
from .config import FeatureConfig, save_json, to_dict
from .errors import AudioError, StoreError
from .featurekinds import DEFAULT_KIND, Features, features_from_dict, kind_of
from .features import chunk_starts
from .files import atomic_path, hash_files, map_jobs, remove_stale_temporaries, write_text_atomic
from .manifest import Clip

log = logging.getLogger("quadpred")


def array_name(clip_id: str) -> str:
    """File name of a clip's array: the id made file-safe, plus a hash if that changed it."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", clip_id)[:96]
    if safe != clip_id:
        safe += "-" + hashlib.sha1(clip_id.encode()).hexdigest()[:8]
    return safe + ".npy"


@dataclass(frozen=True)
class ExtractionResult:
    written: int
    skipped_existing: int
    failed: dict[str, str]


def audio_source(path: str | Path) -> dict[str, Any]:
    """What identifies a clip's audio: its resolved path, size and the SHA-256 of its bytes."""
    path = Path(path).resolve()
    status = path.stat()
    return {"path": str(path), "size": status.st_size, "mtime_ns": status.st_mtime_ns, "sha256": file_sha256(path)}


def file_sha256(path: Path) -> str:
    return hash_files([path]).hexdigest()


def array_entry(target: Path, data: bytes, frames: int, source: dict[str, Any]) -> dict[str, Any]:
    """The index entry of an array file written with ``data``: what whole_array checks on reuse."""
    return {"file": target.name, "frames": frames, "source": source, "bytes": len(data), "crc32": zlib.crc32(data)}


def _extract_one(job: tuple[str, str, str, Features, ReadLimits]) -> tuple[str, dict | str]:
    """Worker: decode, compute and save one clip's features; returns (id, index entry) or (id, reason)."""
    clip_id, audio_path, target, config, limits = job
    try:
        source = audio_source(audio_path)
        spec = kind_of(config).extract(audio_path, config, limits)
    except (AudioError, OSError) as exc:
        return clip_id, str(exc)
    spec = spec.astype(config.store_dtype)
    buffer = io.BytesIO()
    np.save(buffer, spec)
    data = buffer.getvalue()
    with atomic_path(Path(target)) as tmp:
        tmp.write_bytes(data)
    return clip_id, array_entry(Path(target), data, int(spec.shape[-1]), source)


def whole_array(path: Path, entry: dict[str, Any], rows: int) -> bool:
    """True if the array file at ``path`` is the one ``entry`` describes: readable, of shape
    (rows, frames) and, where the entry records them, of the same size and CRC-32."""
    try:
        if "bytes" in entry and path.stat().st_size != entry["bytes"]:
            return False
        array = np.load(path, mmap_mode="r")
        if array.shape != (rows, entry["frames"]):
            return False
        return "crc32" not in entry or zlib.crc32(path.read_bytes()) == entry["crc32"]
    except (OSError, ValueError, KeyError):
        return False


def _init_worker() -> None:
    torch.set_num_threads(1)


class FeatureStore:
    """Read access to one store folder (``<root>/<config key>``)."""

    def __init__(self, folder: Path, config: Features, index: dict[str, dict], failures: dict[str, str]):
        self.folder = folder
        self.config = config
        self.index = index
        self.failures = failures

    @staticmethod
    def folder_for(root: str | Path, config: Features) -> Path:
        return Path(root) / config.spectrogram_key()

    @classmethod
    def open(cls, root: str | Path, config: Features | None = None, *, kind: str | None = None) -> FeatureStore:
        """Open the store under ``root`` for ``config``, or if None the only store there (of
        ``kind``: 'logmel' or 'smile', when given)."""
        root = Path(root)
        if config is None:
            candidates = sorted(p.parent for p in root.glob("*/config.json")
                                if kind is None or json.loads(p.read_text()).get("kind", DEFAULT_KIND) == kind)
            if (root / "config.json").is_file():
                candidates = [root]
            if len(candidates) != 1:
                raise StoreError(
                    f"feature store {root}: found {len(candidates)} configurations; "
                    "create it with `quadpred features` or name the configuration"
                )
            folder = candidates[0]
        else:
            folder = cls.folder_for(root, config)
        config_path, index_path = folder / "config.json", folder / "index.json"
        if not config_path.is_file() or not index_path.is_file():
            raise StoreError(f"feature store {folder} is missing or incomplete: run `quadpred features` on it")
        stored = features_from_dict(json.loads(config_path.read_text()), where=str(config_path))
        if config is not None and stored.spectrogram_key() != config.spectrogram_key():
            raise StoreError(f"feature store {folder} was built with another configuration; re-run `quadpred features`")
        failures_path = folder / "failures.json"
        failures = json.loads(failures_path.read_text()) if failures_path.is_file() else {}
        return cls(folder, stored, json.loads(index_path.read_text()), failures)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self.index

    def __len__(self) -> int:
        return len(self.index)

    def frames(self, clip_id: str) -> int:
        return int(self.index[clip_id]["frames"])

    def load(self, clip_id: str) -> np.ndarray:
        """The clip's (n_mels, frames) array, memory-mapped (read-only)."""
        if clip_id not in self.index:
            reason = self.failures.get(clip_id, "it is not in the store")
            raise StoreError(f"clip {clip_id} has no features ({reason}); run `quadpred features` with its manifest")
        return np.load(self.folder / "arrays" / self.index[clip_id]["file"], mmap_mode="r")

    def verify(self) -> list[str]:
        """Problems found: arrays missing, unreadable, or of another shape, size or checksum than
        the index records."""
        return [f"{clip_id}: {entry['file']} is missing or damaged; re-run `quadpred features`"
                for clip_id, entry in self.index.items()
                if not whole_array(self.folder / "arrays" / entry["file"], entry, self.config.rows)]

    def check_distinct_audio(self, clips: Sequence[Clip]) -> None:
        """Raise StoreError if two clips have the same audio bytes (by the SHA-256 recorded at
        extraction): in two splits it leaks, in one it counts twice."""
        owner: dict[str, Clip] = {}
        for clip in clips:
            digest = self.index.get(clip.id, {}).get("source", {}).get("sha256")
            if digest is None:
                continue
            first = owner.setdefault(digest, clip)
            if first.id != clip.id:
                raise StoreError(f"clips {first.id} ({first.split}) and {clip.id} ({clip.split}) have the same "
                                 "audio; keep one of them in the manifest")


def extract(
    clips: Sequence[Clip],
    root: str | Path,
    config: Features = FeatureConfig(),
    *,
    workers: int = 1,
    progress: bool = True,
    dask: str | None = None,
    limits: ReadLimits = ReadLimits(),
) -> ExtractionResult:
    """Compute and store the features of every clip not yet in the store under ``root``.

    Unreadable clips, and clips over ``limits`` (hours of audio, seconds of work), are recorded
    in failures.json and skipped. ``workers`` > 1 uses that many
    local processes; ``dask`` (a scheduler address) runs the clips on a Dask cluster whose workers
    see the same paths; either way the store written is the same.
    """
    folder = FeatureStore.folder_for(root, config)
    arrays = folder / "arrays"
    arrays.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    save_json(config, folder / "config.json")
    index_path, failures_path = folder / "index.json", folder / "failures.json"
    index: dict[str, dict] = json.loads(index_path.read_text()) if index_path.is_file() else {}
    failures: dict[str, str] = json.loads(failures_path.read_text()) if failures_path.is_file() else {}

    check_one_audio_per_id(clips)
    jobs = []
    existing = 0
    for clip in clips:
        target = arrays / array_name(clip.id)
        entry = index.get(clip.id)
        if entry is not None and "source" in entry:
            stored = entry["source"]["path"]
            if stored != str(Path(clip.path).resolve()):
                raise StoreError(f"clip id {clip.id} names two audio files: {stored} (in the store {folder}) and "
                                 f"{clip.path}; give them distinct ids, or use another store (-o)")
        if entry is None and target.is_file():  # written by a run killed before its index was saved
            entry = _adopt(target, clip.path, config.rows)
            if entry is not None:
                index[clip.id] = entry
        if entry is not None and _current(entry, clip.path) and whole_array(target, entry, config.rows):
            existing += 1
            continue
        if entry is not None:
            log.info("features: %s changed or its array is damaged; computing it again", clip.id)
            index.pop(clip.id)
        target.unlink(missing_ok=True)  # an array of an interrupted run, or one no longer trusted
        jobs.append((clip.id, clip.path, str(target), config, limits))

    failed: dict[str, str] = {}
    try:
        desc = kind_of(config).description
        for number, (clip_id, outcome) in enumerate(
                map_jobs(_extract_one, jobs, workers=workers, desc=desc, unit="clip", progress=progress,
                         initializer=_init_worker, dask=dask), start=1):
            _record(clip_id, outcome, index, failed)
            if number % INDEX_EVERY == 0:  # a killed run then loses the index of a few clips at most
                write_text_atomic(index_path, json.dumps(index, indent=0, sort_keys=True))
    finally:
        failures = {k: v for k, v in failures.items() if k not in index} | failed
        write_text_atomic(index_path, json.dumps(index, indent=0, sort_keys=True))
        write_text_atomic(failures_path, json.dumps(failures, indent=1, sort_keys=True))
    if failed:
        log.warning("features: skipped %d unreadable clip(s), e.g. %s", len(failed), next(iter(failed.values())))
    return ExtractionResult(written=len(jobs) - len(failed), skipped_existing=existing, failed=failed)


def _record(clip_id: str, outcome: dict | str, index: dict, failed: dict) -> None:
    if isinstance(outcome, str):
        failed[clip_id] = outcome
    else:
        index[clip_id] = outcome


INDEX_EVERY = 64  # clips between index writes during an extraction


def _adopt(target: Path, audio: str, rows: int) -> dict[str, Any] | None:
    """An index entry for an array file that has none (atomic writes leave only whole files), if
    it reads back with ``rows`` rows; None if it does not (it is then computed again)."""
    try:
        shape = np.load(target, mmap_mode="r").shape
        if len(shape) != 2 or shape[0] != rows:
            return None
        return array_entry(target, target.read_bytes(), int(shape[1]), audio_source(audio))
    except (OSError, ValueError):
        return None


def _current(entry: dict[str, Any], audio: str) -> bool:
    """True unless the entry records an audio file whose size has changed since (then its
    features are stale). Entries of stores written before sources were recorded are trusted."""
    source = entry.get("source")
    if source is None:
        return True
    try:
        status = Path(audio).stat()
        if status.st_size != source["size"]:
            return False
        # a touched or copied file is hashed again; only changed bytes make the features stale
        return status.st_mtime_ns == source.get("mtime_ns") or file_sha256(Path(audio)) == source["sha256"]
    except OSError:
        return True  # the audio is gone; the features stay usable


def check_one_audio_per_id(clips: Sequence[Clip]) -> None:
    """Raise StoreError if two clips share an id but name different audio files."""
    seen: dict[str, str] = {}
    for clip in clips:
        path = str(Path(clip.path).resolve())
        if seen.setdefault(clip.id, path) != path:
            raise StoreError(f"clip id {clip.id} names two audio files: {seen[clip.id]} and {clip.path}; "
                             "give them distinct ids (or prepare them into one manifest)")


class OpenArrays:
    """Memory maps of the clips in use, at most ``limit`` open at once (least recently used
    closed first): a corpus of any size streams from disk with a bounded number of open files
    and pages the OS can reclaim."""

    def __init__(self, store: FeatureStore, clips: Sequence[Clip], limit: int = 256) -> None:
        self.store, self.clips, self.limit = store, clips, limit
        self.open: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getitem__(self, row: int) -> np.ndarray:
        if row in self.open:
            self.open.move_to_end(row)
        else:
            self.open[row] = self.store.load(self.clips[row].id)
            if len(self.open) > self.limit:
                self.open.popitem(last=False)
        return self.open[row]


class ChunkDataset(torch.utils.data.Dataset):
    """Chunks of stored log-mels with their labels: item i is (x, y, group).

    x: (1, n_mels, chunk_frames) float32; y: (3,) int64 class indices of quadrant,
    arousal, valence (-1 for unlabelled speech); group: int index into ``groups``.
    Clips missing from the store (unreadable audio) or shorter than one chunk are left out with
    a warning.
    """

    def __init__(self, store: FeatureStore, clips: Sequence[Clip], *, hop_frames: int | None = None,
                 chunk_frames: int | None = None):
        config = store.config
        self.store = store
        self.chunk_frames = chunk_frames or config.chunk_frames
        hop = hop_frames or config.train_hop_frames
        present = [c for c in clips if c.id in store]
        if len(present) < len(clips):
            log.warning("dataset: %d of %d clips have no features and are left out", len(clips) - len(present), len(clips))
        self.clips = present
        self.groups = sorted({c.group for c in present})
        group_index = {g: i for i, g in enumerate(self.groups)}
        clip_rows, starts, targets, groups = [], [], [], []
        short = []
        for row, clip in enumerate(present):
            clip_starts = chunk_starts(store.frames(clip.id), chunk_frames=self.chunk_frames, hop_frames=hop)
            if len(clip_starts) == 0:
                short.append(clip.id)
            labels = clip.targets() if clip.quadrant else {"quadrant": -1, "arousal": -1, "valence": -1}
            clip_rows.append(np.full(len(clip_starts), row))
            starts.append(clip_starts)
            targets.append(np.tile([labels["quadrant"], labels["arousal"], labels["valence"]], (len(clip_starts), 1)))
            groups.append(np.full(len(clip_starts), group_index[clip.group]))
        if short:
            log.warning("dataset: %d clip(s) shorter than one %d-frame chunk give no chunk and are left out: %s",
                        len(short), self.chunk_frames, ", ".join(short[:5]) + (" ..." if len(short) > 5 else ""))
        self.clip_rows = np.concatenate(clip_rows) if clip_rows else np.zeros(0, np.int64)
        self.starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        self.targets = torch.from_numpy(np.concatenate(targets).astype(np.int64)) if targets else torch.zeros(0, 3, dtype=torch.long)
        self.group_ids = torch.from_numpy(np.concatenate(groups).astype(np.int64)) if groups else torch.zeros(0, dtype=torch.long)
        self.arrays = OpenArrays(store, self.clips)

    def __len__(self) -> int:
        return len(self.starts)

    def _array(self, row: int) -> np.ndarray:
        return self.arrays[row]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y, group = self.gather(np.array([i]))
        return x[0], y[0], group[0]

    def gather(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A whole batch at once: x (n, 1, n_mels, chunk_frames) float32, y (n, 3), groups (n,)."""
        out = np.empty((len(indices), 1, self.store.config.rows, self.chunk_frames), dtype=np.float32)
        for slot, i in enumerate(indices):
            start = int(self.starts[i])
            out[slot, 0] = self._array(int(self.clip_rows[i]))[:, start:start + self.chunk_frames]
        index = torch.as_tensor(indices, dtype=torch.long)
        return torch.from_numpy(out), self.targets[index], self.group_ids[index]

    def clip_of_chunk(self) -> np.ndarray:
        """(chunks,) index into ``clips`` of each chunk, for song-level scores."""
        return self.clip_rows.copy()


class SegmentDataset(torch.utils.data.Dataset):
    """Runs of consecutive, non-overlapping chunks for CPC: item i is (segments, 1, n_mels, chunk_frames).

    Each clip gives as many whole runs as fit; clips too short for one run are left out.
    """

    def __init__(self, store: FeatureStore, clips: Sequence[Clip], *, segments: int):
        self.store = store
        self.chunk_frames = store.config.chunk_frames
        self.segments = segments
        span = segments * self.chunk_frames
        self.clips = [c for c in clips if c.id in store]
        rows, starts = [], []
        for row, clip in enumerate(self.clips):
            for start in range(0, store.frames(clip.id) - span + 1, span):
                rows.append(row)
                starts.append(start)
        if not rows:
            seconds = span * store.config.hop_length / store.config.sample_rate
            raise StoreError(f"no clip is long enough for {segments} CPC segments (~{seconds:.0f} s): "
                             "lower model.cpc.segments or use longer recordings")
        self.clip_rows = np.asarray(rows)
        self.starts = np.asarray(starts)
        self.arrays = OpenArrays(store, self.clips)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor]:
        return (self.gather(np.array([i]))[0][0],)

    def gather(self, indices: np.ndarray) -> tuple[torch.Tensor]:
        """x (n, segments, 1, n_mels, chunk_frames) float32."""
        n_mels, width = self.store.config.rows, self.chunk_frames
        out = np.empty((len(indices), self.segments, 1, n_mels, width), dtype=np.float32)
        for slot, i in enumerate(indices):
            row = int(self.clip_rows[i])
            start = int(self.starts[i])
            run = self.arrays[row][:, start:start + self.segments * width]
            out[slot, :, 0] = run.reshape(n_mels, self.segments, width).transpose(1, 0, 2)
        return (torch.from_numpy(out),)


def store_summary(store: FeatureStore) -> dict:
    """Clips, frames and config of a store, for printing."""
    return {
        "folder": str(store.folder),
        "clips": len(store),
        "frames": sum(int(e["frames"]) for e in store.index.values()),
        "failures": len(store.failures),
        "config": to_dict(store.config),
    }
