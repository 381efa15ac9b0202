"""Artist-grouped, quadrant-stratified k-fold cross-validation: how methods and recipes are chosen.

Each fold's songs are held out once; the other folds train the model, an artist-grouped,
quadrant-stratified share of them (``valid``) choosing its epoch. The held-out fold never
decides anything inside its fold, so the pooled out-of-fold scores estimate how a recipe does
on songs by unseen artists, and the k fold models together are an ensemble for prediction.

    <out>/folds.json       {clip id: fold} with k and the seed (a re-run must find the same)
    <out>/method.json      the method, its recipe and teachers (likewise)
    <out>/fold<k>/         the fold's run: transfer stage folders (modeldir.py), or for a
                           hand-crafted method or a probe its songs' probabilities only
    <out>/fold<k>/songs.npz   held-out songs: ids, quadrant probabilities (songs, 4), targets
    <out>/cv.json, cv.md   per-fold and pooled out-of-fold song-level scores
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import RunConfig, as_written, to_dict
from .errors import TrainingError
from .files import atomic_path, write_text_atomic
from .labels import QUADRANTS, TASKS
from .manifest import Clip, check_leakage, split_by_group
from .metrics import interval, macro_scores, paired_p_value, resampled_macro_f1, song_level
from .modeldir import write_json
from .selection import song_log_loss

log = logging.getLogger("quadpred")

# network methods: the transfer stages each fold runs (the last is scored); None: the baseline
NETWORK_METHODS: dict[str, tuple[str, ...] | None] = {
    "baseline": None, "feat-ext": ("feat-ext",), "full": ("feat-ext", "full"),
}
HANDCRAFTED_METHODS = ("egemaps-svm", "egemaps-logreg", "compare-svm", "compare-logreg", "music-svm", "music-logreg")
# a frozen encoder's pooled clip embeddings (probe.py) read by the same classifiers
PROBE_METHODS = ("probe-svm", "probe-logreg")
CV_METHODS = (*NETWORK_METHODS, *HANDCRAFTED_METHODS, *PROBE_METHODS)
VALID_SHARE = 0.15
BOOTSTRAP = 2000


def assign_folds(clips: Sequence[Clip], k: int = 5, *, seed: int = 0) -> dict[str, int]:
    """{clip id: fold in [0, k)}: every group (artist) in one fold, quadrants balanced across folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    if k < 2:
        raise TrainingError(f"cross-validation needs at least 2 folds, got {k}")
    groups = {c.group for c in clips}
    if len(groups) < k:
        raise TrainingError(f"{len(groups)} groups cannot fill {k} folds: lower --folds or group by song")
    labels = [QUADRANTS.index(c.quadrant) for c in clips]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds: dict[str, int] = {}
    for fold, (_, held) in enumerate(splitter.split(np.zeros(len(clips)), labels, [c.group for c in clips])):
        folds.update({clips[i].id: fold for i in held})
    return folds


def fold_clips(clips: Sequence[Clip], folds: dict[str, int], fold: int, *, seed: int = 0,
               valid_share: float = VALID_SHARE, train_fraction: float = 1.0) -> list[Clip]:
    """The clips of one fold's run: its held-out fold as split 'test', the others split by group
    into 'train' and 'valid' (``valid_share`` of them, stratified by quadrant; 0: all 'train').
    ``train_fraction`` < 1 first keeps that share of the other folds' artists (stratified, seeded
    per fold) and leaves the rest out: the held-out songs stay the same, for a learning curve."""
    held = [dataclasses.replace(c, split="test") for c in clips if folds[c.id] == fold]
    others = [c for c in clips if folds[c.id] != fold]
    if train_fraction < 1:
        shares = {"kept": train_fraction, "left out": 1.0 - train_fraction}
        others = [c for c in split_by_group(others, shares, seed=seed + fold, stratify=True) if c.split == "kept"]
    rest = [dataclasses.replace(c, split="train") for c in others] if valid_share == 0 else \
        split_by_group(others, {"train": 1.0 - valid_share, "valid": valid_share}, seed=seed + fold, stratify=True)
    chosen = rest + held
    check_leakage(chosen)
    return chosen


@dataclasses.dataclass
class FoldSongs:
    """A fold's held-out songs: ids, quadrant probabilities (songs, 4), true quadrants (songs,)."""

    ids: list[str]
    probabilities: np.ndarray
    targets: np.ndarray

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, ids=np.array(self.ids), probabilities=self.probabilities, targets=self.targets)

    @classmethod
    def load(cls, path: Path) -> FoldSongs:
        with np.load(path) as data:
            return cls([str(i) for i in data["ids"]], data["probabilities"], data["targets"])

    def scores(self) -> dict[str, float]:
        f1 = macro_scores(self.targets, self.probabilities.argmax(axis=1), len(QUADRANTS))["f1"]
        return {"songs": len(self.ids), "song_f1": f1, "song_loss": song_log_loss(self.probabilities, self.targets)}


def fold_songs_path(out: str | Path, fold: int) -> Path:
    """Where a cross-validation keeps fold ``fold``'s held-out songs (its :class:`FoldSongs`)."""
    return Path(out) / f"fold{fold}" / "songs.npz"


def _check_folds(out: Path, folds: dict[str, int], k: int, seed: int, method: str, recipe: Any,
                 teachers: Sequence[str | Path] = (), valid_share: float = VALID_SHARE,
                 train_fraction: float = 1.0) -> None:
    """Record the folds, the method, its recipe, teachers, validation share and training fraction
    in ``out``; a re-run must find the same, since finished folds are reused as they are."""
    described = {"method": method, "recipe": recipe, **({"teachers": [str(t) for t in teachers]} if teachers else {}),
                 **({"valid_share": valid_share} if valid_share != VALID_SHARE else {}),
                 **({"train_fraction": train_fraction} if train_fraction != 1 else {})}
    for name, record in (("folds.json", {"k": k, "seed": seed, "folds": folds}),
                         ("method.json", json.loads(json.dumps(described)))):
        path = out / name
        if not path.is_file():
            write_json(path, record)
        elif _comparable_record(json.loads(path.read_text())) != _comparable_record(record):
            what = "other folds (other clips, k or seed)" if name == "folds.json" else "another method or recipe"
            raise TrainingError(f"{path} holds {what}: choose another output folder")


def _comparable_record(record: dict[str, Any]) -> dict[str, Any]:
    """A folds.json or method.json as this version writes it: a network recipe read as a
    RunConfig (settings renamed since, or added with their defaults, are the same recipe)."""
    recipe = record.get("recipe")
    if isinstance(recipe, dict) and "model" in recipe:
        record = {**record, "recipe": as_written(RunConfig, recipe, where="method.json recipe")}
    return record


def run_cv(clips: Sequence[Clip], out: str | Path, *, method: str, store: Any = None,
           encoder: str | Path | None = None, run: RunConfig = RunConfig(), k: int = 5, seed: int = 0,
           device: str = "auto", progress: bool = True, keep_epochs: bool = False,
           teachers: Sequence[str | Path] = (), valid_share: float = VALID_SHARE, train_fraction: float = 1.0,
           workers: int = 1) -> dict[str, Any]:
    """Cross-validate ``method`` (CV_METHODS) on labelled music ``clips``; resumable (finished folds
    are kept). ``keep_epochs``: a network keeps every epoch's weights (for :func:`epoch_rules`).
    ``teachers``: network cross-validation folders on the same folds; each fold's network also
    learns their fold models' mean probabilities (distillation, train.distil). ``valid_share``:
    the share of each fold's training artists held out to validate its network's epochs; 0 trains
    on all of them, which only a recipe that chooses no epoch allows (train.average_last).
    ``train_fraction``: the share of each fold's training artists used at all (a learning curve;
    the held-out songs are the same at every share). Returns the summary written to cv.json."""
    if method not in CV_METHODS:
        raise TrainingError(f"cross-validation method {method!r} unknown: use one of {', '.join(CV_METHODS)}")
    if not 0 <= valid_share < 1:
        raise TrainingError(f"validation share {valid_share} is not in [0, 1): give e.g. --valid-share 0.15")
    if not 0 < train_fraction <= 1:
        raise TrainingError(f"training fraction {train_fraction} is not in (0, 1]: give e.g. --train-fraction 0.5")
    if valid_share != VALID_SHARE and method not in NETWORK_METHODS:
        raise TrainingError(f"{method} already fits on all of a fold's other songs (its own inner folds choose its "
                            "settings): give no --valid-share")
    if valid_share == 0 and not run.train.average_last:  # only networks get here with a share of 0
        raise TrainingError("--valid-share 0 leaves no songs to choose an epoch: use a recipe that averages the "
                            "last epochs' weights (--recipe cv, or --set train.average_last=0.5)")
    stages = NETWORK_METHODS.get(method)
    if method in (*NETWORK_METHODS, *PROBE_METHODS) and store is None:
        raise TrainingError(f"method {method} reads log-mels: give the feature store (--features)")
    if (stages or method in PROBE_METHODS) and encoder is None:
        raise TrainingError(f"method {method} starts from a pretrained encoder: give --encoder"
                            + (" (or 'random')" if method in PROBE_METHODS else ""))
    if method == "baseline" and encoder is not None:
        raise TrainingError("the baseline starts from random weights: give no encoder")
    if teachers and method not in NETWORK_METHODS:
        raise TrainingError(f"teachers teach networks; {method} is not one: give no --teachers")
    unlabelled = [c.id for c in clips if c.quadrant is None]
    if unlabelled:
        raise TrainingError(f"cross-validation needs a quadrant on every clip; {unlabelled[0]} has none")
    if method in NETWORK_METHODS:
        require_whole_chunks(clips, store, run)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folds = assign_folds(clips, k, seed=seed)
    recipe = to_dict(run) if method in NETWORK_METHODS else None
    values = None
    if method in PROBE_METHODS:
        from .probe import probe_encoder

        module, key = probe_encoder(encoder, store, seed=seed)
        recipe = {"encoder": key}
    _check_folds(out, folds, k, seed, method, recipe, teachers, valid_share, train_fraction)
    started = time.perf_counter()
    # clip features are computed once for every fold, timed apart from the folds' fits
    cache = None if method in NETWORK_METHODS else _clip_values_cache(out, method, recipe)
    if method in HANDCRAFTED_METHODS:
        values = _timed_clip_values(cache, len(clips), lambda: _functionals(clips, method, cache, progress, workers))
    elif method in PROBE_METHODS:
        from .probe import cached_embeddings

        values = _timed_clip_values(cache, len(clips),
                                    lambda: cached_embeddings(module, key, store, clips, cache, device=device))
    rows = {c.id: i for i, c in enumerate(sorted(clips, key=lambda c: c.id))}  # the order of ``values``
    results = []
    for fold in range(k):
        folder = out / f"fold{fold}"
        songs_path = fold_songs_path(out, fold)
        part = fold_clips(clips, folds, fold, seed=seed, valid_share=valid_share, train_fraction=train_fraction)
        fold_started = time.perf_counter()
        if not songs_path.is_file():
            log.info("%s: fold %d of %d", out, fold + 1, k)
            taught = fold_teachers(teachers, fold, folds, k, seed) if teachers else ()
            songs = _network_fold(part, store, folder, encoder, stages, run, device, progress, keep_epochs, taught) \
                if values is None else _classifier_fold(part, values, rows, method, seed)
            folder.mkdir(parents=True, exist_ok=True)
            songs.save(songs_path)
            write_json(folder / "fold.json", {"seconds": round(time.perf_counter() - fold_started, 1)})
        songs = FoldSongs.load(songs_path)
        results.append({"fold": fold, **songs.scores(), **_fold_extras(folder, stages, method)})
    summary = summarise(method, [FoldSongs.load(fold_songs_path(out, f)) for f in range(k)], results,
                        recipe=recipe, seed=seed)
    summary["seconds_this_call"] = round(time.perf_counter() - started, 1)
    if cache is not None and cache.with_suffix(".json").is_file():
        summary["features_seconds"] = json.loads(cache.with_suffix(".json").read_text())["seconds"]
    write_json(out / "cv.json", summary)
    write_text_atomic(out / "cv.md", markdown(summary))
    return summary


def require_whole_chunks(clips: Sequence[Clip], store: Any, run: RunConfig) -> None:
    """Refuse clips without features or too short for one network input: they would drop out of
    the held-out songs, and the pooled score would silently cover fewer songs than the manifest."""
    from .featurekinds import chunking

    missing = [c.id for c in clips if c.id not in store]
    if missing:
        raise TrainingError(f"{len(missing)} clip(s) have no features, e.g. {missing[0]}: run `quadpred features` "
                            "with this manifest, or remove clips whose audio cannot be read from it")
    frames = chunking(store.config, run.model)[0]
    short = [c.id for c in clips if store.frames(c.id) < frames]
    if short:
        seconds = frames * store.config.hop_length / store.config.sample_rate
        raise TrainingError(f"{len(short)} clip(s) are shorter than the network's {seconds:.2f}-s input "
                            f"({frames} frames), e.g. {short[0]} ({store.frames(short[0])} frames): they would give "
                            "no chunk and drop out of the scores; remove them from the manifest or set a shorter "
                            "model.chunk_seconds")


def stage_folder(folder: Path, stages: tuple[str, ...] | None) -> Path:
    """The model directory of a network fold ``folder``: its last transfer stage's folder."""
    return folder / (stages[-1] if stages else "baseline")


def _network_fold(part: list[Clip], store: Any, folder: Path, encoder: str | Path | None,
                  stages: tuple[str, ...] | None, run: RunConfig, device: str, progress: bool,
                  keep_epochs: bool, teachers: Sequence[Path]) -> FoldSongs:
    from .evaluate import SplitPredictions
    from .stages import transfer_stages

    transfer_stages(part, store, folder, encoder=encoder, stages=stages or (), run=run, device=device,
                    progress=progress, keep_epochs=keep_epochs, teachers=teachers)
    return held_out_songs(SplitPredictions.load(stage_folder(folder, stages) / "predictions_test.npz"))


def held_out_songs(predictions: Any, how: str = "mean") -> FoldSongs:
    """The songs of a split's chunk predictions (stages.SplitPredictions): each song's quadrant
    probabilities from its chunks' by 'mean' (what `predict` reports) or 'log-mean' (normalised
    geometric mean)."""
    chunks = predictions.probabilities["quadrant"]
    if how == "log-mean":
        chunks = np.log(np.clip(chunks, 1e-7, 1.0))
    column = list(TASKS).index("quadrant")
    songs, targets = song_level(chunks, predictions.chunk_clip, predictions.targets[:, column])
    if how == "log-mean":
        songs = np.exp(songs - songs.max(axis=1, keepdims=True))
        songs /= songs.sum(axis=1, keepdims=True)
    ids = [predictions.clip_ids[i] for i in np.unique(predictions.chunk_clip)]
    return FoldSongs(ids, songs, targets)


def _clip_values_cache(out: Path, method: str, recipe: dict[str, Any] | None) -> Path:
    """Where the clip features of a classifier method are cached: beside ``out``, shared by the
    methods of one feature set or encoder."""
    if method in PROBE_METHODS:
        return out.parent / f"embeddings-{recipe['encoder']}.npz"  # type: ignore[index]
    return out.parent / f"functionals-{method.split('-')[0]}.npz"


def _timed_clip_values(cache: Path, clips: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``, which reads its values from ``cache`` or writes them there; the first time,
    the seconds it took are recorded beside the cache (cv.json reports them as the features' cost)."""
    computed_before = cache.is_file()
    started = time.perf_counter()
    values = compute()
    if not computed_before:
        write_json(cache.with_suffix(".json"), {"seconds": round(time.perf_counter() - started, 1), "clips": clips})
    return values


def _functionals(clips: Sequence[Clip], method: str, cache: Path, progress: bool, workers: int) -> np.ndarray:
    """(clips sorted by id, values): the functionals of every clip (in ``workers`` processes),
    cached in ``cache``."""
    from .functionals import clip_functionals

    ordered = sorted(clips, key=lambda c: c.id)
    return clip_functionals([c.path for c in ordered], [c.id for c in ordered], method.split("-")[0], cache,
                            progress=progress, workers=workers)


def _classifier_fold(part: list[Clip], values: np.ndarray, row: dict[str, int], method: str, seed: int) -> FoldSongs:
    """A classifier method's fold: fitted on the fold's train and valid clips' ``values`` (clips,
    features; clip id -> its ``row``), applied to its held-out clips. ``part`` may leave clips out
    (a training fraction), so rows are looked up among all the clips', not the part's."""
    from .functionals import fit_predict

    classifier = method.split("-")[1]
    train = [c for c in part if c.split in ("train", "valid")]
    test = [c for c in part if c.split == "test"]
    probabilities = fit_predict(values[[row[c.id] for c in train]], np.array([QUADRANTS.index(c.quadrant) for c in train]),
                                [c.group for c in train], values[[row[c.id] for c in test]],
                                classifier=classifier, seed=seed)
    return FoldSongs([c.id for c in test], probabilities, np.array([QUADRANTS.index(c.quadrant) for c in test]))


def _fold_extras(folder: Path, stages: tuple[str, ...] | None, method: str) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    timing = folder / "fold.json"
    if timing.is_file():
        extras["seconds"] = json.loads(timing.read_text())["seconds"]
    if method in NETWORK_METHODS:
        summary = stage_folder(folder, stages) / "summary.json"
        if summary.is_file():
            data = json.loads(summary.read_text())
            extras.update(best_epoch=data["best_epoch"], epochs_run=data["epochs_run"])
    return extras


def bootstrap_f1(songs: FoldSongs, draws: np.ndarray) -> np.ndarray:
    """(resamples,) macro F of the songs drawn in each row of ``draws`` (resamples, songs)."""
    return resampled_macro_f1(songs.targets, songs.probabilities.argmax(axis=1), draws, len(QUADRANTS))


def song_draws(songs: int, seed: int, resamples: int) -> np.ndarray:
    """(resamples, songs) song indices drawn with replacement: one bootstrap resample per row."""
    return np.random.default_rng(seed).integers(0, songs, size=(resamples, songs))


def pooled_interval(songs: FoldSongs, *, seed: int = 0, resamples: int = BOOTSTRAP) -> tuple[float, float]:
    """95 % song-bootstrap interval of the macro F of pooled out-of-fold predictions."""
    return interval(bootstrap_f1(songs, song_draws(len(songs.ids), seed, resamples)))


def pool(folds: Sequence[FoldSongs]) -> FoldSongs:
    return FoldSongs([i for f in folds for i in f.ids], np.concatenate([f.probabilities for f in folds]),
                     np.concatenate([f.targets for f in folds]))


def summarise(method: str, folds: Sequence[FoldSongs], results: list[dict[str, Any]], *,
              recipe: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    """Mean and sd over folds of song F and log-loss; pooled out-of-fold F with its interval."""
    f1 = np.array([r["song_f1"] for r in results])
    loss = np.array([r["song_loss"] for r in results])
    pooled = pool(folds)
    return {
        "method": method, "k": len(folds), "seed": seed, "recipe": recipe, "folds": results,
        "song_f1_mean": float(f1.mean()), "song_f1_sd": float(f1.std(ddof=1)) if len(f1) > 1 else 0.0,
        "song_loss_mean": float(loss.mean()), "song_loss_sd": float(loss.std(ddof=1)) if len(loss) > 1 else 0.0,
        "pooled": {**pooled.scores(), "song_f1_interval": list(pooled_interval(pooled, seed=seed))},
        "seconds": round(sum(r.get("seconds", 0.0) for r in results), 1),
    }


AGGREGATIONS = ("mean", "log-mean")


def reaggregate(folder: Path, how: str = "log-mean", *, seed: int = 0) -> dict[str, Any]:
    """A network cross-validation's summary with each held-out song's quadrant probabilities
    aggregated from its chunks anew: 'mean' of the probabilities (what `predict` reports) or
    'log-mean' (normalised geometric mean). Costs no training."""
    if how not in AGGREGATIONS:
        raise TrainingError(f"aggregation {how!r} unknown: use {' or '.join(AGGREGATIONS)}")
    folds = [held_out_songs(predictions, how) for predictions in held_out_predictions(folder)]
    results = [{"fold": fold, **songs.scores()} for fold, songs in enumerate(folds)]
    method = json.loads((folder / "cv.json").read_text())["method"]
    return summarise(f"{method} ({how})", folds, results, recipe=None, seed=seed)


def aligned_folds(folders: Sequence[Path]) -> list[list[FoldSongs]]:
    """Per fold, each folder's held-out songs in the first folder's song order; the folders must
    have been cross-validated on the same folds."""
    records = [json.loads((Path(f) / "folds.json").read_text()) for f in folders]
    if any(r != records[0] for r in records):
        raise TrainingError("fusion needs cross-validations on the same folds (same clips, k and seed)")
    aligned = []
    for fold in range(records[0]["k"]):
        parts = [FoldSongs.load(fold_songs_path(f, fold)) for f in folders]
        for folder, part in zip(folders[1:], parts[1:]):
            if set(part.ids) != set(parts[0].ids):
                odd = sorted(set(part.ids) ^ set(parts[0].ids))
                raise TrainingError(f"fold {fold} of {folder} and of {folders[0]} hold out different songs "
                                    f"({len(odd)} differ, e.g. {odd[0]}): a song without a chunk drops out of "
                                    "a network's scores; compare cross-validations that scored the same songs")
        order = {song: i for i, song in enumerate(parts[0].ids)}
        rows = []
        for part in parts:
            probabilities = np.zeros_like(parts[0].probabilities)
            probabilities[[order[s] for s in part.ids]] = part.probabilities
            rows.append(FoldSongs(parts[0].ids, probabilities, parts[0].targets))
        aligned.append(rows)
    return aligned


def mean_songs(parts: Sequence[FoldSongs], shares: np.ndarray | None = None) -> FoldSongs:
    """One fold's aligned songs of several methods as one: the (``shares``-weighted) mean of their
    quadrant probabilities."""
    stacked = np.stack([p.probabilities for p in parts])
    mean = stacked.mean(axis=0) if shares is None else np.tensordot(shares, stacked, axes=1)
    return FoldSongs(parts[0].ids, mean, parts[0].targets)


def _fused_summary(name: str, fused: list[FoldSongs], seed: int) -> dict[str, Any]:
    results = [{"fold": fold, **songs.scores()} for fold, songs in enumerate(fused)]
    return summarise(name, fused, results, recipe=None, seed=seed)


Fusion = Path | str | Sequence[Path] | Mapping[Path, float]  # a folder, folders (equal shares) or folder -> weight


def parse_fusion(text: str) -> Fusion:
    """'A' -> a folder; 'A+B' -> their mean; 'A:3+B:2' -> their weighted mean (as scripts take them)."""
    parts = [part.rpartition(":") if ":" in part else (part, "", "1") for part in text.split("+")]
    if len(parts) == 1:
        return Path(parts[0][0])
    if all(weight == "1" for _, _, weight in parts):
        return [Path(folder) for folder, _, _ in parts]
    return {Path(folder): float(weight) for folder, _, weight in parts}


def fusion_parts(fusion: Fusion) -> tuple[list[Path], np.ndarray, str]:
    """The folders of a fusion, their shares (summing to 1) and its name."""
    if isinstance(fusion, (str, Path)):
        return [Path(fusion)], np.ones(1), Path(fusion).name
    folders = [Path(f) for f in fusion]
    weights = np.asarray([fusion[f] for f in fusion] if isinstance(fusion, Mapping) else [1.0] * len(folders),
                         dtype=np.float64)
    if len(folders) == 0 or weights.min() < 0 or weights.sum() <= 0:
        raise TrainingError(f"fusion weights {weights.tolist()}: give one non-negative weight per folder")
    shares = weights / weights.sum()
    names = [f.name if len(set(shares)) == 1 else f"{share:.2f} x {f.name}" for f, share in zip(folders, shares)]
    return folders, shares, " + ".join(names)


def fuse(folders: Sequence[Path], *, weights: Sequence[float] | None = None, seed: int = 0) -> dict[str, Any]:
    """Late fusion of cross-validations run on the same folds: per held-out song, the mean of the
    methods' quadrant probabilities, or their mean weighted by fixed ``weights`` (e.g. the shares
    of an ensemble's members; nothing is fitted, so no fold is used twice). Returns a summary like
    :func:`run_cv`'s."""
    if weights is not None and len(weights) != len(folders):
        raise TrainingError(f"fusion weights {list(weights)}: give one non-negative weight per folder")
    chosen, shares, name = fusion_parts(list(folders) if weights is None else dict(zip(map(Path, folders), weights)))
    fused = [mean_songs(parts, shares) for parts in aligned_folds(chosen)]
    return _fused_summary("mean of " + name, fused, seed)


def nested_fusion(folders: Sequence[Path], *, max_size: int = 2, seed: int = 0) -> dict[str, Any]:
    """An honest estimate of choosing a fusion by cross-validation: for each held-out fold, the
    mean of the method subset (1 to ``max_size`` of ``folders``) with the best pooled song F on
    the other folds' out-of-fold songs, scored on this fold's songs. Choosing among many fusions
    by their pooled F on all folds is optimistic; this is not. The summary is :func:`run_cv`'s
    with ``chosen`` (the subset picked per fold) and ``chosen_on_all`` (what all folds pick)."""
    aligned = aligned_folds(folders)
    names = [Path(f).name for f in folders]
    subsets = [c for size in range(1, max_size + 1) for c in itertools.combinations(range(len(folders)), size)]

    def mean_of(fold: int, subset: tuple[int, ...]) -> FoldSongs:
        return mean_songs([aligned[fold][i] for i in subset])

    def best(folds: Sequence[int]) -> tuple[int, ...]:
        scores = [pool([mean_of(f, subset) for f in folds]).scores()["song_f1"] for subset in subsets]
        return subsets[int(np.argmax(scores))]  # the first of ties, in the order given

    picks = [best([g for g in range(len(aligned)) if g != fold]) for fold in range(len(aligned))]
    summary = _fused_summary(f"nested choice of a mean of up to {max_size} of {len(folders)} methods",
                             [mean_of(fold, pick) for fold, pick in enumerate(picks)], seed)
    return {**summary, "chosen": [[names[i] for i in pick] for pick in picks],
            "chosen_on_all": [names[i] for i in best(range(len(aligned)))]}


OFFSET_GRID = np.linspace(-1.0, 1.0, 41)  # candidate log-probability offsets of one class


def class_offsets(folders: Sequence[Path], *, how: str = "fitted", seed: int = 0) -> dict[str, Any]:
    """The mean of the folders' song probabilities with a per-class offset on the log-probabilities,
    chosen for each held-out fold on the other folds' out-of-fold songs: ``fitted`` maximises their
    macro F (coordinate search over :data:`OFFSET_GRID`, class Q1 fixed at 0, three sweeps);
    ``prior`` divides by their mean probability of each class (no labels: predicted classes as
    frequent as the model's own lean allows). A check of whether a model that leans to some
    quadrants gains from correcting the lean; the summary is :func:`run_cv`'s."""
    if how not in ("fitted", "prior"):
        raise TrainingError(f"class offsets {how!r} unknown: use fitted or prior")
    aligned = [mean_songs(parts) for parts in aligned_folds(folders)]

    def fitted(songs: FoldSongs) -> np.ndarray:
        logs, offsets = np.log(np.clip(songs.probabilities, 1e-9, 1.0)), np.zeros(len(QUADRANTS))

        def f1(candidate: np.ndarray) -> float:
            return macro_scores(songs.targets, (logs + candidate).argmax(axis=1), len(QUADRANTS))["f1"]

        for _ in range(3):
            for cls in range(1, len(QUADRANTS)):
                trials = [np.where(np.arange(len(QUADRANTS)) == cls, value, offsets) for value in OFFSET_GRID]
                offsets = trials[int(np.argmax([f1(t) for t in trials]))]
        return offsets

    corrected = []
    for fold, songs in enumerate(aligned):
        others = pool([s for f, s in enumerate(aligned) if f != fold])
        offsets = fitted(others) if how == "fitted" else -np.log(others.probabilities.mean(axis=0))
        weights = songs.probabilities * np.exp(offsets)
        corrected.append(FoldSongs(songs.ids, weights / weights.sum(axis=1, keepdims=True), songs.targets))
    names = " + ".join(Path(f).name for f in folders)
    return _fused_summary(f"mean of {names}, class offsets {how} on the other folds", corrected, seed)


STACK_C = 1.0  # the stacker's inverse regularisation: fixed, since no fold is left to choose it


def stack(folders: Sequence[Path], *, seed: int = 0) -> dict[str, Any]:
    """Stacked late fusion: for each fold, a multinomial logistic regression on the methods'
    quadrant log-probabilities (songs, 4 * methods), fitted on the other folds' out-of-fold songs
    and applied to the fold's own. (The other folds' probabilities come from models that trained
    on this fold's songs, as in any cross-validated stacking; their labels never reach the stacker.)"""
    from sklearn.linear_model import LogisticRegression

    aligned = aligned_folds(folders)

    def inputs(parts: list[FoldSongs]) -> np.ndarray:
        return np.concatenate([np.log(np.clip(p.probabilities, 1e-6, 1.0)) for p in parts], axis=1)

    stacked = []
    for fold, parts in enumerate(aligned):
        others = [p for f, p in enumerate(aligned) if f != fold]
        x = np.concatenate([inputs(p) for p in others])
        y = np.concatenate([p[0].targets for p in others])
        model = LogisticRegression(C=STACK_C, max_iter=2000).fit(x, y)
        probabilities = np.zeros_like(parts[0].probabilities)
        probabilities[:, model.classes_] = model.predict_proba(inputs(parts))
        stacked.append(FoldSongs(parts[0].ids, probabilities, parts[0].targets))
    return _fused_summary("stack of " + " + ".join(Path(f).name for f in folders), stacked, seed)


def paired(a: Fusion, b: Fusion, *, seed: int = 0, resamples: int = BOOTSTRAP) -> dict[str, Any]:
    """Pooled out-of-fold song F of ``a`` minus that of ``b`` (cross-validated on the same folds),
    with its 95 % paired song-bootstrap interval and two-sided p-value. Each side is a folder or a
    fusion of folders (a list: their mean; {folder: weight}: their weighted mean)."""
    (first_folders, first_shares, first_name), (second_folders, second_shares, second_name) = map(fusion_parts, (a, b))
    aligned = aligned_folds([*first_folders, *second_folders])
    split = len(first_folders)
    first = pool([mean_songs(parts[:split], first_shares) for parts in aligned])
    second = pool([mean_songs(parts[split:], second_shares) for parts in aligned])
    return {"a": first_name, "b": second_name, **paired_songs(first, second, seed=seed, resamples=resamples)}


def paired_songs(first: FoldSongs, second: FoldSongs, *, seed: int = 0, resamples: int = BOOTSTRAP) -> dict[str, Any]:
    """Macro F of ``first`` minus that of ``second`` (the same songs in the same order), with its
    95 % paired song-bootstrap interval and two-sided p-value."""
    if list(first.ids) != list(second.ids):
        raise TrainingError("a paired comparison needs the same songs in the same order on both sides")
    draws = song_draws(len(first.ids), seed, resamples)  # the same songs for both: a paired bootstrap
    difference = bootstrap_f1(first, draws) - bootstrap_f1(second, draws)
    return {"difference": first.scores()["song_f1"] - second.scores()["song_f1"],
            "ci95": list(interval(difference)), "p_value": paired_p_value(difference)}


# how a run's epoch can be chosen from its validation history (history rows as fit writes them):
# the index of the chosen epoch; the first of equals, as fit keeps the first improvement
EPOCH_RULES: dict[str, Callable[[list[dict[str, Any]]], int]] = {
    "loss (validation chunk loss, the study's)": lambda rows: int(np.argmin([r["valid_loss"] for r in rows])),
    "song-loss (validation songs' log-loss)": lambda rows: int(np.argmin([r["valid_song_loss"] for r in rows])),
    "song-f1 (validation songs' macro F)": lambda rows: int(np.argmax([r["valid_song_f1"] for r in rows])),
    "song-loss from epoch 2": lambda rows: 1 + int(np.argmin([r["valid_song_loss"] for r in rows[1:]])),
    "last epoch": lambda rows: len(rows) - 1,
}
LATE_MEAN = "mean of the last half of the epochs' probabilities"
LATE_AVERAGE = "one model: the last half of the epochs' weights averaged (batch-norm statistics too)"
ORACLE = "best epoch on the held-out songs (not a rule: the ceiling)"


def _network_records(folder: Path) -> tuple[dict[str, Any], tuple[str, ...] | None]:
    """The fold record (folds.json) and the transfer stages of the network method cross-validated
    in ``folder``; TrainingError for a folder that is no cross-validation, or one of a method that
    keeps no fold models."""
    if not (folder / "folds.json").is_file() or not (folder / "method.json").is_file():
        raise TrainingError(f"{folder} is not a cross-validation folder (no folds.json, method.json): give the -o "
                            "folder of a `quadpred cv` run")
    record = json.loads((folder / "folds.json").read_text())
    method = json.loads((folder / "method.json").read_text())["method"]
    if method not in NETWORK_METHODS:
        raise TrainingError(f"{folder} is not the cross-validation of a network ({method}): it kept no fold models")
    return record, NETWORK_METHODS[method]


def _network_cross_validation(folder: Path, clips: Sequence[Clip]) -> tuple[dict[str, Any], tuple[str, ...] | None]:
    """:func:`_network_records`, checked to be of these clips (the kept fold models are scored
    again on them)."""
    record, stages = _network_records(folder)
    if assign_folds(clips, record["k"], seed=record["seed"]) != record["folds"]:
        raise TrainingError(f"the clips given are not the ones cross-validated in {folder}: give its manifest")
    return record, stages


def _fold_model(folder: Path, fold: int, stages: tuple[str, ...] | None) -> Path:
    """Fold ``fold``'s model directory of a network cross-validation, which must be trained."""
    model_dir = stage_folder(folder / f"fold{fold}", stages)
    if not (model_dir / "weights.pt").is_file():
        raise TrainingError(f"{model_dir} holds no trained model: finish the cross-validation first")
    return model_dir


def fold_teachers(cross_validations: Sequence[str | Path], fold: int, folds: dict[str, int], k: int,
                  seed: int) -> list[Path]:
    """Fold ``fold``'s model directory in each network cross-validation folder, for the teachers of
    the same fold of a cross-validation on ``folds`` (k, seed): refused when the folds differ, as
    those models were trained on the student's held-out songs."""
    found = []
    for folder in map(Path, cross_validations):
        record, stages = _network_records(folder)
        if (record["k"], record["seed"], record["folds"]) != (k, seed, folds):
            raise TrainingError(f"teacher {folder} has other folds than this cross-validation (clips, --folds "
                                "or --seed differ): its fold models would have seen the held-out songs")
        found.append(_fold_model(folder, fold, stages))
    return found


def epoch_rules(folder: str | Path, clips: Sequence[Clip], store: Any, *, device: str = "auto") -> dict[str, Any]:
    """How the choice of epoch moves the held-out score, on the very same training runs: each fold
    of a network cross-validation run with ``keep_epochs`` is scored on its held-out songs with
    every epoch's weights, and each rule of EPOCH_RULES (which sees the validation history only)
    picks one; also the mean of the last half of the epochs, and the held-out best as a ceiling.
    The folds finished so far are used. Returns {rule: run_cv-like summary with 'epochs' (chosen
    per fold), 'songs' (the folds' FoldSongs), 'fold_numbers' and 'curves' (per fold, the held-out
    and the validation song F of every epoch)}."""
    import torch

    from .device import resolve_device
    from .evaluate import scoring_chunks, split_predictions
    from .modeldir import load_model
    from .stages import EPOCHS_FOLDER
    from .train import fold_into_average

    folder = Path(folder)
    record, stages = _network_cross_validation(folder, clips)
    finished = [fold for fold in range(record["k"]) if fold_songs_path(folder, fold).is_file()]
    if not finished:
        raise TrainingError(f"{folder} has no finished fold yet")
    run_device = resolve_device(device)
    chosen: dict[str, list[FoldSongs]] = {}
    epochs: dict[str, list[int]] = {}
    curves: list[dict[str, list[float]]] = []  # per fold: held-out and validation song F by epoch
    for fold in finished:
        model_dir = stage_folder(folder / f"fold{fold}", stages)
        kept = sorted((model_dir / EPOCHS_FOLDER).glob("epoch*.pt"), key=lambda p: int(p.stem.removeprefix("epoch")))
        history = json.loads((model_dir / "history.json").read_text()) if (model_dir / "history.json").is_file() else []
        if not kept or len(kept) != len(history):
            raise TrainingError(f"{model_dir} has {len(kept)} kept epochs for {len(history)} trained: run the "
                                "cross-validation with --keep-epochs (into a new folder)")
        model, info = load_model(model_dir)
        dataset = scoring_chunks(store, info, fold_clips(clips, record["folds"], fold, seed=record["seed"]), "test")

        def songs_of(weights: dict[str, torch.Tensor]) -> FoldSongs:
            # a frozen encoder's head trained on cached embeddings checkpoints the head alone
            (model if set(weights) == set(model.state_dict()) else model.head).load_state_dict(weights)
            return held_out_songs(split_predictions(model, dataset, run_device))

        states = [torch.load(path, map_location="cpu", weights_only=True) for path in kept]
        per_epoch = [songs_of(state) for state in states]
        averaged = None  # the last half's weights, averaged as train.average_last=0.5 averages them
        for count, state in enumerate(states[len(states) // 2:]):
            averaged = fold_into_average(averaged, count, state)
        late_average = songs_of(averaged)
        curves.append({"held_out_f1": [songs.scores()["song_f1"] for songs in per_epoch],
                       "valid_f1": [row["valid_song_f1"] for row in history]})
        picks = {name: rule(history) for name, rule in EPOCH_RULES.items()}
        picks[ORACLE] = int(np.argmax(curves[-1]["held_out_f1"]))
        for name, index in picks.items():
            chosen.setdefault(name, []).append(per_epoch[index])
            epochs.setdefault(name, []).append(index + 1)
        chosen.setdefault(LATE_MEAN, []).append(mean_songs(per_epoch[len(per_epoch) // 2:]))
        chosen.setdefault(LATE_AVERAGE, []).append(late_average)
    return {name: {**summarise(name, parts, [{"fold": f, **p.scores()} for f, p in zip(finished, parts)], recipe=None,
                               seed=record["seed"]), "epochs": epochs.get(name), "songs": parts, "fold_numbers": finished,
                   "curves": curves} for name, parts in chosen.items()}


def rescored_songs(folder: str | Path, clips: Sequence[Clip], store: Any, *, hop_frames: int | None = None,
                   device: str = "auto") -> list[FoldSongs]:
    """A network cross-validation's held-out songs scored again by its kept fold models, with the
    chunks taken every ``hop_frames`` frames (None: the model's prediction hop, which reproduces
    ``fold<k>/songs.npz``; a smaller hop averages overlapping chunks). One FoldSongs per fold."""
    from .device import resolve_device
    from .evaluate import scoring_chunks, split_predictions
    from .modeldir import load_model

    folder = Path(folder)
    record, stages = _network_cross_validation(folder, clips)
    run_device = resolve_device(device)
    folds = []
    for fold in range(record["k"]):
        model, info = load_model(_fold_model(folder, fold, stages))
        dataset = scoring_chunks(store, info, fold_clips(clips, record["folds"], fold, seed=record["seed"]), "test",
                                 hop_frames=hop_frames)
        folds.append(held_out_songs(split_predictions(model, dataset, run_device)))
    return folds


def held_out_predictions(folder: str | Path) -> list[Any]:
    """The chunk predictions (evaluate.SplitPredictions, every task) that each fold model of a
    network cross-validation kept for its held-out songs, one per fold."""
    from .evaluate import SplitPredictions

    folder = Path(folder)
    record, stages = _network_records(folder)
    return [SplitPredictions.load(_fold_model(folder, fold, stages) / "predictions_test.npz")
            for fold in range(record["k"])]


def markdown(summary: dict[str, Any]) -> str:
    """A short Markdown table of one cross-validation."""
    pooled = summary["pooled"]
    low, high = pooled["song_f1_interval"]
    lines = [f"# Cross-validation: {summary['method']} ({summary['k']} artist-grouped folds, seed {summary['seed']})\n",
             "| fold | songs | song F | song log-loss | best epoch | seconds |", "|---|---|---|---|---|---|"]
    for r in summary["folds"]:
        lines.append(f"| {r['fold']} | {r['songs']} | {r['song_f1']:.3f} | {r['song_loss']:.3f} | "
                     f"{r.get('best_epoch', '-')} | {r.get('seconds', '-')} |")
    lines += ["", f"Mean over folds: song F {summary['song_f1_mean']:.3f} (sd {summary['song_f1_sd']:.3f}), "
                  f"log-loss {summary['song_loss_mean']:.3f} (sd {summary['song_loss_sd']:.3f}).",
              f"Pooled out-of-fold: song F {pooled['song_f1']:.3f} (95 % song bootstrap {low:.3f}-{high:.3f}) "
              f"over {pooled['songs']} songs; {summary['seconds']:.0f} s of training in all.", ""]
    return "\n".join(lines)
