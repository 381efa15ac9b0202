"""Frozen-encoder probes: a pretrained encoder's representation of each clip, pooled, read by a
scikit-learn classifier (functionals.fit_predict): on music through `quadpred cv --method
probe-*`, on acted emotional speech through `quadpred probe` (speaker-disjoint folds within a
language, and across languages).

No weight of the encoder changes, so the embeddings are computed once per clip and cached; a
probe costs minutes where fine-tuning costs hours. ``random`` stands for the architecture with
random weights (seeded): the floor any pretraining must beat.

Per chunk the encoder's output (channels, mels', frames) is averaged over frames: (channels * mels');
per clip the mean and the standard deviation over its chunks (the predictor's 1-s hop):
(2 * channels * mels') values.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .batches import Batches
from .config import FeatureConfig, ModelConfig
from .device import infer, resolve_device
from .errors import TrainingError
from .files import atomic_path, write_text_atomic
from .labels import TASKS
from .manifest import Clip
from .modeldir import check_same_features, configs_of, load_encoder_state, read_config, write_json
from .models import build_encoder
from .songpool import pool_by_song
from .store import ChunkDataset, FeatureStore

log = logging.getLogger("quadpred")
RANDOM = "random"  # the encoder argument that means: random initialisation
FUNCTIONALS = ("egemaps", "compare")  # encoder arguments of the speech probe that mean: openSMILE functionals


def probe_encoder(encoder: str | Path, store: FeatureStore, *, seed: int = 0) -> tuple[torch.nn.Module, str]:
    """The frozen encoder in eval mode and a key naming it (weights digest, or 'random-<seed>').
    Refuses a model directory whose features differ from the store's."""
    features = store.config
    if not isinstance(features, FeatureConfig):
        raise TrainingError(f"{store.folder} holds hand-crafted features: a probe needs a log-mel store")
    if str(encoder) == RANDOM:
        torch.manual_seed(seed)
        return build_encoder(ModelConfig()).eval(), f"{RANDOM}-{seed}"
    from .predict import model_digest

    model_config, source_features = configs_of(read_config(encoder))
    check_same_features(encoder, source_features, store)
    module = build_encoder(model_config)
    module.load_state_dict(load_encoder_state(encoder)[0])
    return module.eval(), model_digest([encoder])


@torch.no_grad()
def clip_embeddings(encoder: torch.nn.Module, store: FeatureStore, clips: Sequence[Clip], *,
                    device: str = "auto", batch_size: int = 256) -> np.ndarray:
    """(clips, 2 * channels * mels') float32 in ``clips`` order: per-chunk encoder outputs averaged
    over frames, then mean and standard deviation over each clip's chunks."""
    config = store.config
    dataset = ChunkDataset(store, clips, hop_frames=config.predict_hop_frames, chunk_frames=config.chunk_frames)
    if len(dataset.clips) < len(clips):
        missing = sorted({c.id for c in clips} - {c.id for c in dataset.clips})
        raise TrainingError(f"{len(missing)} clips have no features in {store.folder} (first: {missing[0]}): "
                            "run `quadpred features` on their manifest")
    run_device = resolve_device(device)
    encoder.to(run_device)
    values = infer(lambda x: encoder(x).float().mean(dim=3).flatten(1),
                   (x for x, _, _ in Batches(dataset, batch_size).epoch(0)), run_device)
    return pool_by_song(values, dataset.clip_of_chunk(), len(dataset.clips))


def cached_embeddings(encoder: torch.nn.Module, key: str, store: FeatureStore, clips: Sequence[Clip],
                      cache: Path, *, device: str = "auto") -> np.ndarray:
    """(clips, values) embeddings of ``clips`` sorted by id by the encoder named ``key``
    (:func:`probe_encoder`); read from ``cache`` when it holds the same clips, encoder and
    features, else computed and written there."""
    ids = sorted(c.id for c in clips)
    stamp = json.dumps({"encoder": key, "features": store.config.spectrogram_key(), "ids": ids})
    if cache.is_file():
        with np.load(cache) as saved:
            if str(saved["stamp"]) == stamp:
                return saved["values"]
    by_id = {c.id: c for c in clips}
    values = clip_embeddings(encoder, store, [by_id[i] for i in ids], device=device)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, stamp=np.array(stamp), values=values)
    return values


# --- the speech-emotion probe: speaker-disjoint, within and across languages ---------------

PROBE_TASKS = ("quadrant", "arousal", "valence")
OUTER_FOLDS = 5


@dataclasses.dataclass
class ProbeScore:
    """Macro F of one probe (encoder, task, training language -> test language) with its 95 %
    utterance-bootstrap interval; ``predicted`` and ``truth`` per test utterance, for pairing."""

    f1: float
    interval: tuple[float, float]
    truth: np.ndarray
    predicted: np.ndarray


def emotional(clips: Sequence[Clip]) -> list[Clip]:
    """The utterances with a quadrant (neutral has none: it is not a point of Russell's plane)."""
    return [c for c in clips if c.quadrant is not None]


def _targets(clips: Sequence[Clip], task: str) -> np.ndarray:
    return np.array([c.targets()[task] for c in clips], dtype=np.int64)


def _score(truth: np.ndarray, predicted: np.ndarray, classes: int, seed: int) -> ProbeScore:
    """Macro F over the classes present in ``truth`` (CASIA has no calm utterance, hence no Q4:
    a class a language cannot show must not count as a failure on it) and its bootstrap interval."""
    from .metrics import interval

    everything = np.arange(len(truth))[None]  # one "resample" holding every utterance once: the estimate
    return ProbeScore(float(_resampled_f1(truth, predicted, everything, classes)[0]),
                      interval(_resampled_f1(truth, predicted, _draws(len(truth), seed), classes)), truth, predicted)


def _draws(items: int, seed: int) -> np.ndarray:
    """(2000, items) utterance indices of the bootstrap resamples."""
    return np.random.default_rng(seed).integers(0, items, size=(2000, items))


def _resampled_f1(truth: np.ndarray, predicted: np.ndarray, draws: np.ndarray, classes: int) -> np.ndarray:
    from .metrics import resampled_macro_f1

    return resampled_macro_f1(truth, predicted, draws, classes, present_only=True)


def speaker_folds(clips: Sequence[Clip], k: int = OUTER_FOLDS, *, seed: int = 0) -> np.ndarray:
    """(clips,) fold of each clip: whole speakers per fold, k = min(k, speakers)."""
    from sklearn.model_selection import GroupKFold

    speakers = [c.group for c in clips]
    k = min(k, len(set(speakers)))
    if k < 2:
        raise TrainingError("a speaker-disjoint probe needs utterances of at least 2 speakers per language")
    folds = np.zeros(len(clips), dtype=np.int64)
    for fold, (_, held) in enumerate(GroupKFold(k, shuffle=True, random_state=seed).split(clips, groups=speakers)):
        folds[held] = fold
    return folds


def probe_scores(values: np.ndarray, clips: Sequence[Clip], *, task: str, seed: int = 0) -> dict[str, ProbeScore]:
    """{'<train language>-><test language>': score} of a linear probe (logistic regression, C by
    inner speaker-grouped CV) on ``values`` (clips, features) of emotional ``clips``: within a
    language by leave-speakers-out folds, across languages by training on all of one and testing
    on all of the other."""
    from .functionals import fit_predict

    classes = len(TASKS[task])
    targets = _targets(clips, task)
    languages = sorted({c.language for c in clips})
    speakers = np.array([c.group for c in clips])
    scores: dict[str, ProbeScore] = {}
    for source in languages:
        rows = np.array([i for i, c in enumerate(clips) if c.language == source])
        folds = speaker_folds([clips[i] for i in rows], seed=seed)
        predicted = np.zeros(len(rows), dtype=np.int64)
        for fold in np.unique(folds):
            train, test = rows[folds != fold], rows[folds == fold]
            probabilities = fit_predict(values[train], targets[train], list(speakers[train]), values[test],
                                        classifier="logreg", seed=seed, classes=classes)
            predicted[folds == fold] = probabilities.argmax(axis=1)
        scores[f"{source}->{source}"] = _score(targets[rows], predicted, classes, seed)
        for target in languages:
            if target == source:
                continue
            test = np.array([i for i, c in enumerate(clips) if c.language == target])
            probabilities = fit_predict(values[rows], targets[rows], list(speakers[rows]), values[test],
                                        classifier="logreg", seed=seed, classes=classes)
            scores[f"{source}->{target}"] = _score(targets[test], probabilities.argmax(axis=1), classes, seed)
    return scores


def _paired(same: ProbeScore, other: ProbeScore, classes: int, seed: int) -> tuple[float, tuple[float, float], float]:
    """Macro F of ``same`` minus that of ``other`` on the same utterances, its 95 % interval and
    two-sided p from one utterance bootstrap shared by both."""
    from .metrics import interval, paired_p_value

    draws = _draws(len(same.truth), seed)
    differences = (_resampled_f1(same.truth, same.predicted, draws, classes)
                   - _resampled_f1(other.truth, other.predicted, draws, classes))
    return same.f1 - other.f1, interval(differences), paired_p_value(differences)


def encoder_languages(encoder: str | Path) -> tuple[str | None, tuple[str, ...]]:
    """(pretraining kind, speech languages) of a model directory; (None, ()) for 'random' and functionals."""
    if str(encoder) == RANDOM or str(encoder) in FUNCTIONALS:
        return None, ()
    info = read_config(encoder)
    return info["kind"], tuple(sorted(info.get("languages") or ()))


def language_tests(scores: dict[tuple[str, str, str], ProbeScore], meta: dict[str, tuple[str | None, tuple[str, ...]]],
                   *, seed: int = 0) -> list[dict[str, Any]]:
    """Does the encoder pretrained on the speech's own language beat the one pretrained on the other?
    For every pretraining kind, task and test language L with encoders pretrained on L alone and on
    another single language: the paired difference of within-language F (same utterances and folds),
    with Holm-adjusted p over all these tests. ``scores``: (encoder, task, 'L->L') -> score."""
    from .metrics import holm

    tests: list[dict[str, Any]] = []
    single = {name: (kind, langs[0]) for name, (kind, langs) in meta.items() if kind and len(langs) == 1}
    for (name, task, pair), score in sorted(scores.items()):
        source, _, target = pair.partition("->")
        if source != target or single.get(name, (None, None))[1] != target:
            continue
        kind = single[name][0]
        for other, (other_kind, other_language) in sorted(single.items()):
            if other_kind != kind or other_language == target or (other, task, pair) not in scores:
                continue
            difference, bounds, p = _paired(score, scores[(other, task, pair)], len(TASKS[task]), seed)
            tests.append({"kind": kind, "task": task, "speech": target, "same": name, "other": other,
                          "difference": difference, "ci95": list(bounds), "p": p})
    for test, adjusted in zip(tests, holm([t["p"] for t in tests])):
        test["p_holm"] = adjusted
    return tests


def run_probe(clips: Sequence[Clip], store: FeatureStore, encoders: dict[str, str | Path], out: str | Path, *,
              seed: int = 0, device: str = "auto") -> dict[str, Any]:
    """The speech-emotion probe of every encoder (name -> model directory, 'random', or 'egemaps' /
    'compare' for openSMILE functionals, the hand-crafted reference) on the emotional utterances of
    ``clips``: probe.json and probe.md in ``out``, with the same-vs-other-language tests, and the
    figures emotion_confusions.png (per emotion, the quadrants the within-language quadrant probe
    predicts) and projection.png (the utterances' 2-D PCA, by emotion and by language); embeddings
    and functionals cached there."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = sorted(emotional(clips), key=lambda c: c.id)
    if not chosen:
        raise TrainingError("no utterance has a quadrant: prepare an emotional-speech manifest")
    unreadable = [c.id for c in chosen if c.id not in store]
    if unreadable:  # `features` reported why (store failures.json); the probe goes on without them
        log.warning("probe: %d utterance(s) have no features and are left out, e.g. %s", len(unreadable), unreadable[0])
        chosen = [c for c in chosen if c.id in store]
    results: dict[str, Any] = {"seed": seed, "utterances": Counter(c.language for c in chosen), "encoders": {}}
    scores: dict[tuple[str, str, str], ProbeScore] = {}
    embedded: dict[str, np.ndarray] = {}
    for name, encoder in encoders.items():
        if str(encoder) in FUNCTIONALS:  # the hand-crafted reference: openSMILE functionals of each utterance
            from .functionals import clip_functionals

            key = str(encoder)
            values = clip_functionals([c.path for c in chosen], [c.id for c in chosen], key,
                                      out / f"functionals-{key}.npz", progress=False)
        else:
            module, key = probe_encoder(encoder, store, seed=seed)
            values = cached_embeddings(module, key, store, chosen, out / f"embeddings-{key}.npz", device=device)
        embedded[name] = values
        results["encoders"][name] = {"encoder": str(encoder), "key": key, "tasks": {}}
        for task in PROBE_TASKS:
            by_pair = probe_scores(values, chosen, task=task, seed=seed)
            scores.update({(name, task, pair): score for pair, score in by_pair.items()})
            results["encoders"][name]["tasks"][task] = {
                pair: {"f1": s.f1, "ci95": list(s.interval), "utterances": len(s.truth)} for pair, s in by_pair.items()}
    results["language_tests"] = language_tests(scores, {n: encoder_languages(e) for n, e in encoders.items()}, seed=seed)
    _figures(out, chosen, scores, embedded)
    write_json(out / "probe.json", results)
    write_text_atomic(out / "probe.md", probe_markdown(results))
    return results


def emotion_confusion(clips: Sequence[Clip], scores: dict[tuple[str, str, str], ProbeScore],
                      encoder: str) -> tuple[np.ndarray, list[str]]:
    """(emotions, 4) row-normalised: per acted emotion, the share of its utterances that the
    encoder's within-language quadrant probes (all languages together) put in each quadrant."""
    emotions = sorted({str(c.labels.get("emotion")) for c in clips})
    counts = np.zeros((len(emotions), 4))
    for language in sorted({c.language for c in clips}):
        rows = [c for c in clips if c.language == language]
        score = scores.get((encoder, "quadrant", f"{language}->{language}"))
        if score is None:
            continue
        for clip, predicted in zip(rows, score.predicted):
            counts[emotions.index(str(clip.labels.get("emotion"))), predicted] += 1
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1), emotions


def _figures(out: Path, clips: Sequence[Clip], scores: dict[tuple[str, str, str], ProbeScore],
             embedded: dict[str, np.ndarray]) -> None:
    from sklearn.decomposition import PCA

    from .labels import QUADRANTS
    from .plots import confusion_grid, projections

    matrices, emotions = {}, []
    for name in embedded:
        matrices[name], emotions = emotion_confusion(clips, scores, name)
    confusion_grid(matrices, list(QUADRANTS), out / "emotion_confusions.png", row_labels=emotions,
                   title="acted emotion (rows) -> quadrant of the within-language probe")
    points = {}
    for name, values in embedded.items():
        scaled = (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-8)
        points[name] = PCA(n_components=2, random_state=0).fit_transform(scaled)
    projections(points, {"emotion": [str(c.labels.get("emotion")) for c in clips],
                         "language": [c.language for c in clips]}, out / "projection.png")


def probe_markdown(results: dict[str, Any]) -> str:
    """One table per task: encoders as rows, training -> test language as columns."""
    lines = ["# Speech-emotion probe: frozen encoders, linear classifier, speaker-disjoint\n",
             "Utterances: " + ", ".join(f"{n} {lang}" for lang, n in sorted(results["utterances"].items())) + "\n"]
    for task in PROBE_TASKS:
        pairs = sorted({p for e in results["encoders"].values() for p in e["tasks"][task]})
        lines += [f"## {task}: macro F over the classes the test language has (95 % utterance bootstrap)\n",
                  "| encoder | " + " | ".join(pairs) + " |",
                  "|---|" + "---|" * len(pairs)]
        for name, entry in results["encoders"].items():
            cells = [f"{entry['tasks'][task][p]['f1']:.3f} ({entry['tasks'][task][p]['ci95'][0]:.2f}-"
                     f"{entry['tasks'][task][p]['ci95'][1]:.2f})" for p in pairs]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    tests = results.get("language_tests", [])
    if tests:
        lines += ["## Same vs other language: encoder pretrained on the speech's language minus the one "
                  "pretrained on the other (within-language F; utterance bootstrap, Holm over all rows)\n",
                  "| kind | task | speech | same | other | difference (95 %) | p | p (Holm) |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {t['kind']} | {t['task']} | {t['speech']} | {t['same']} | {t['other']} | {t['difference']:+.3f} "
                  f"({t['ci95'][0]:+.3f} to {t['ci95'][1]:+.3f}) | {t['p']:.3f} | {t['p_holm']:.3f} |" for t in tests]
        lines.append("")
    lines += ["Figures: emotion_confusions.png (per acted emotion, the quadrants the within-language probe "
              "predicts), projection.png (2-D PCA of the standardised embeddings, by emotion and by language).\n"]
    return "\n".join(lines)
