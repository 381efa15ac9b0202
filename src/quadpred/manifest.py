"""The manifest: one :class:`Clip` per line of a JSONL file, plus sampling and splits.

A manifest is what every later step reads: which files, how long, which language,
which labels, which group (speaker or song or artist) and which split.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import ManifestError
from .files import write_text_atomic
from .labels import QUADRANTS, task_targets

SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclasses.dataclass
class Clip:
    """One audio clip of a corpus.

    ``labels`` holds ``quadrant`` ('Q1'..'Q4') for music, and may hold numeric
    ``arousal_value``/``valence_value``; speech clips have no labels. ``group`` is
    the unit kept on one side of a split (speaker for speech; song or artist for
    music). ``meta`` keeps corpus extras (transcript, artist, original subset).
    """

    id: str
    path: str
    duration: float
    language: str
    group: str
    labels: dict[str, Any] = dataclasses.field(default_factory=dict)
    split: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def quadrant(self) -> str | None:
        return self.labels.get("quadrant")

    def targets(self) -> dict[str, int]:
        """Class indices for quadrant, arousal and valence; raises if unlabelled."""
        if self.quadrant is None:
            raise ManifestError(f"clip {self.id} has no quadrant label: use a labelled music manifest")
        return task_targets(self.quadrant)


def write_manifest(path: str | Path, clips: Iterable[Clip]) -> None:
    """Write clips as JSONL, atomically."""
    lines = [json.dumps(dataclasses.asdict(c), ensure_ascii=False, sort_keys=True) for c in clips]
    write_text_atomic(Path(path), "\n".join(lines) + ("\n" if lines else ""))


def read_manifest(path: str | Path) -> list[Clip]:
    """Read a JSONL manifest; a malformed line raises ManifestError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} not found: create it with `quadpred prepare`")
    names = {f.name for f in dataclasses.fields(Clip)}
    required = {"id", "path", "duration", "language", "group"}
    clips = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{where}: not UTF-8 (byte {exc.start + 1}); re-create the manifest") from exc
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where}: not valid JSON ({exc.msg}); re-create the manifest") from exc
        if not isinstance(record, dict):
            raise ManifestError(f"{where}: expected a JSON object per line")
        missing = sorted(required - set(record))
        unknown = sorted(set(record) - names)
        if missing or unknown:
            raise ManifestError(
                f"{where}: missing field(s) {missing} / unknown field(s) {unknown}; re-create the manifest"
            )
        validate_record(record, where)
        clips.append(Clip(**record))
    if not clips:
        raise ManifestError(f"manifest {path} is empty: check the corpus given to `quadpred prepare`")
    ids = Counter(c.id for c in clips)
    dupes = [i for i, n in ids.items() if n > 1]
    if dupes:
        raise ManifestError(f"manifest {path}: duplicate clip id(s) {dupes[:5]}; ids must be unique")
    return clips


def validate_record(record: dict[str, Any], where: str) -> None:
    """Raise ManifestError naming the field if a manifest line's values have the wrong type or
    an unknown split or quadrant."""
    for name in ("id", "path", "language", "group"):
        if not isinstance(record[name], str) or not record[name]:
            raise ManifestError(f"{where}: '{name}' must be a non-empty string, got {record[name]!r}")
    duration = record["duration"]
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0:
        raise ManifestError(f"{where}: 'duration' must be a number of seconds, got {duration!r}")
    for name in ("labels", "meta"):
        if not isinstance(record.get(name, {}), dict):
            raise ManifestError(f"{where}: '{name}' must be an object ({{...}}), got {record[name]!r}")
    split = record.get("split")
    if split is not None and split not in SPLITS:
        raise ManifestError(f"{where}: split {split!r} unknown; use one of {', '.join(SPLITS)} (or null)")
    quadrant = record.get("labels", {}).get("quadrant")
    if quadrant is not None and quadrant not in QUADRANTS:
        raise ManifestError(f"{where}: quadrant {quadrant!r} unknown; use one of {', '.join(QUADRANTS)}")


def total_hours(clips: Iterable[Clip]) -> float:
    return sum(c.duration for c in clips) / 3600.0


def sample_hours(clips: Sequence[Clip], hours: float, *, seed: int = 0) -> list[Clip]:
    """Clips drawn at random, without replacement, until ``hours`` of audio are reached.

    Returns all clips if there are fewer hours than asked; order as in the input.
    """
    if hours <= 0:
        raise ManifestError(f"hours must be positive, got {hours}")
    order = list(range(len(clips)))
    random.Random(seed).shuffle(order)
    budget = hours * 3600.0
    chosen: list[int] = []
    used = 0.0
    for index in order:
        if used >= budget:
            break
        chosen.append(index)
        used += clips[index].duration
    return [clips[i] for i in sorted(chosen)]


def equal_hours_mix(sets: Sequence[Sequence[Clip]], *, seed: int = 0) -> list[Clip]:
    """The follow-up study's mixture: an equal share of hours from each set (language), together
    as many hours as the smallest set has; each share drawn by :func:`sample_hours`."""
    hours = min(total_hours(clips) for clips in sets)
    return [clip for clips in sets for clip in sample_hours(clips, hours / len(sets), seed=seed)]


def split_by_group(
    clips: Sequence[Clip],
    fractions: dict[str, float],
    *,
    seed: int = 0,
    stratify: bool = False,
) -> list[Clip]:
    """Assign every clip a split so that each group lies in one split only.

    ``fractions`` maps split names to shares of clips (summing to 1). With
    ``stratify`` each group is filed under its most common quadrant and the shares
    are met per quadrant. Groups are shuffled with ``seed`` and filled greedily,
    the split furthest below its target (in its stratum and overall) taking the
    next group. Returns copies.
    """
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ManifestError(f"split fractions {fractions} do not sum to 1")
    members: dict[str, list[int]] = defaultdict(list)
    for index, clip in enumerate(clips):
        members[clip.group].append(index)
    strata: dict[str, list[str]] = defaultdict(list)
    for group, indices in sorted(members.items()):
        key = "all"
        if stratify:
            counts = Counter(clips[i].quadrant for i in indices)
            key = str(max(sorted(counts, key=str), key=lambda q: counts[q]))
        strata[key].append(group)
    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    overall = dict.fromkeys(fractions, 0)
    for key in sorted(strata):
        groups = strata[key]
        rng.shuffle(groups)
        filled = dict.fromkeys(fractions, 0)
        total = sum(len(members[g]) for g in groups)
        for group in groups:
            # The stratum's own shortfall, plus the overall one so that small strata
            # that cannot meet every share still leave the overall shares right.
            done = sum(overall.values()) + len(members[group])
            deficit = {s: fractions[s] * total - filled[s] + fractions[s] * done - overall[s] for s in fractions}
            target = max(fractions, key=lambda s: deficit[s])
            assignment[group] = target
            filled[target] += len(members[group])
            overall[target] += len(members[group])
    return [dataclasses.replace(c, split=assignment[c.group]) for c in clips]


def split_speech(clips: Sequence[Clip], *, valid: float = 0.15, seed: int = 0) -> list[Clip]:
    """Speech: train/valid by speaker (the study: 85/15)."""
    return split_by_group(clips, {"train": 1.0 - valid, "valid": valid}, seed=seed)


def split_music(clips: Sequence[Clip], *, test: float = 0.30, valid: float = 0.15, seed: int = 0) -> list[Clip]:
    """Music: test share, then valid share inside the rest, stratified by quadrant, by group.

    The study: 70 % train (85/15 train/valid inside it), 30 % test.
    """
    train = (1.0 - test) * (1.0 - valid)
    return split_by_group(
        clips, {"train": train, "valid": (1.0 - test) * valid, "test": test}, seed=seed, stratify=True
    )


def split_study(clips: Sequence[Clip], *, seed: int = 0) -> list[Clip]:
    """The study's split for a corpus: music's if every clip has a quadrant, else speech's."""
    if all(c.quadrant for c in clips):
        return split_music(clips, seed=seed)
    return split_speech(clips, seed=seed)


def split_of(clips: Sequence[Clip], split: str) -> list[Clip]:
    """The clips of one split ('train', 'valid' or 'test'), in order."""
    return [c for c in clips if c.split == split]


def check_leakage(clips: Iterable[Clip]) -> None:
    """Raise ManifestError if a clip could leak between splits or count twice: a group (song,
    artist, speaker) in two splits, a clip id twice (e.g. a manifest given twice), or one audio
    file under two ids. (Identical bytes under two paths: FeatureStore.check_distinct_audio.)"""
    clips = list(clips)
    ids = Counter(c.id for c in clips)
    repeated = sorted(i for i, n in ids.items() if n > 1)
    if repeated:
        raise ManifestError(f"clip id(s) {repeated[:5]} appear more than once: a manifest given twice, or two "
                            "manifests sharing ids; give each manifest once and keep ids unique")
    owner: dict[str, Clip] = {}
    for clip in clips:
        first = owner.setdefault(str(Path(clip.path).resolve()), clip)
        if first is not clip:
            raise ManifestError(f"clips {first.id} ({first.split}) and {clip.id} ({clip.split}) are the same audio "
                                f"file {clip.path}; keep one of them")
    seen: dict[str, set[str | None]] = defaultdict(set)
    for clip in clips:
        seen[clip.group].add(clip.split)
    leaking = sorted(g for g, s in seen.items() if len(s) > 1)
    if leaking:
        raise ManifestError(
            f"group(s) {leaking[:5]} lie in more than one split: re-split the manifest by group"
        )


def summary(clips: Sequence[Clip]) -> dict[str, Any]:
    """Counts per split and quadrant, hours, groups and languages: for printing and data cards."""
    per_split: dict[str, dict[str, Any]] = {}
    for split in sorted({str(c.split) for c in clips}):
        part = [c for c in clips if str(c.split) == split]
        per_split[split] = {
            "clips": len(part),
            "hours": round(total_hours(part), 3),
            "groups": len({c.group for c in part}),
            "quadrants": {q: sum(c.quadrant == q for c in part) for q in QUADRANTS if any(c.quadrant == q for c in part)},
        }
    return {
        "clips": len(clips),
        "hours": round(total_hours(clips), 3),
        "groups": len({c.group for c in clips}),
        "languages": dict(Counter(c.language for c in clips)),
        "splits": per_split,
    }
