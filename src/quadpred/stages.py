"""The study's training stages as functions: data from a manifest and a feature store in, a
model directory out.

- :func:`pretrain`: SCAE (denoising) or CPC on speech of one language or a mixture.
- :func:`transfer`: one stage on labelled music: ``feat-ext`` (pretrained encoder frozen),
  ``full`` (everything trained, continuing from feat-ext), ``baseline`` (random initialisation).
- :func:`transfer_stages`: feat-ext then full, as the study did.
- :func:`predict_split` / :func:`score_splits`: a model's chunk probabilities and scores on a split.

Every run folder is a self-describing model directory (modeldir.py); re-running a finished
folder with the same settings does nothing, an interrupted one resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import __version__
from .augment import AUGMENTERS
from .batches import Batches, TensorRows
from .config import FeatureConfig, ModelConfig, RunConfig, SmileConfig, TrainConfig, from_dict, to_dict
from .device import infer, resolve_device, resolve_precision
from .errors import TrainingError
from .evaluate import require_quadrants, score_splits
from .labels import TASKS
from .manifest import Clip, check_leakage, split_of, summary
from .methods import PRETRAININGS, TRANSFER_KINDS, TRANSFER_MODELS, chunking, feature_kind
from .modeldir import CONFIG_NAME, configs_of, is_complete, load_encoder_state, load_state, read_config, write_json
from .objectives import MultiTask, inverse_frequency_weights
from .selection import SongScorer
from .store import ChunkDataset, FeatureStore
from .train import FitResult, distributed_rank_world, fit, read_summary

log = logging.getLogger("quadpred")

TRANSFER_STAGES = ("feat-ext", "full", "baseline")
EpochHook = Callable[[int, dict], None]


def _describe(kind: str, stage: str, run: RunConfig, features: FeatureConfig | SmileConfig, clips: Sequence[Clip],
              **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "stage": stage, "model": to_dict(run.model), "train": to_dict(run.train),
            "features": to_dict(features), "labels": {t: list(n) for t, n in TASKS.items()},
            "data": summary(list(clips)), "languages": sorted({c.language for c in clips}),
            "quadpred_version": __version__, **extra}


def _comparable(info: dict[str, Any]) -> dict[str, Any]:
    """A run description as it reads back from its file, with settings a newer version added
    filled in with their defaults (a run is the same if only such defaults are new)."""
    info = json.loads(json.dumps(info))  # tuples become lists, as in the file
    info.pop("quadpred_version", None)
    for section, cls in (("model", ModelConfig), ("train", TrainConfig)):
        if isinstance(info.get(section), dict):
            info[section] = json.loads(json.dumps(to_dict(from_dict(cls, info[section], where=section))))
    return info


def _differences(saved: Any, wanted: Any, where: str = "") -> list[str]:
    """'key: saved -> wanted' for every setting that differs (nested keys joined by dots)."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return [line for key in sorted(set(saved) | set(wanted), key=str)
                for line in _differences(saved.get(key), wanted.get(key), f"{where}.{key}" if where else str(key))]
    if saved == wanted:
        return []
    shown = [json.dumps(v)[:40] for v in (saved, wanted)]
    return [f"{where or 'run'}: {shown[0]} -> {shown[1]}"]


def _with_precision(run: RunConfig, device: torch.device) -> RunConfig:
    """``run`` with its precision resolved for ``device`` ('auto' -> bf16 or fp32), as recorded."""
    return dataclasses.replace(run, train=dataclasses.replace(
        run.train, precision=resolve_precision(run.train.precision, device)))


def _open_run(folder: Path, info: dict[str, Any], force: bool) -> bool:
    """Prepare ``folder`` for a run described by ``info``; True if it is already finished.
    Under torch.distributed, rank 0 prepares it and the others wait."""
    rank, world = distributed_rank_world()
    finished = False
    config_path = folder / CONFIG_NAME
    if config_path.is_file():
        changed = _differences(_comparable(json.loads(config_path.read_text())), _comparable(info))
        if not changed and not force:
            finished = is_complete(folder)
        elif not force:
            raise TrainingError(f"{folder} holds a run with other settings or data ({'; '.join(changed[:3])}): "
                                "choose another output folder or pass --force to start afresh")
        elif rank == 0:
            shutil.rmtree(folder)
    if rank == 0 and not finished and not config_path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_json(config_path, info)
    if world > 1:
        torch.distributed.barrier()
    return finished


def _finished(folder: Path) -> FitResult:
    summary_ = read_summary(folder)
    history = json.loads((folder / "history.json").read_text())
    return FitResult(folder=folder, epochs_run=summary_["epochs_run"], best_epoch=summary_["best_epoch"],
                     best_valid_loss=summary_["best_valid_loss"], stopped_early=summary_["stopped_early"],
                     history=history, seconds=summary_["seconds"])


def _check_splits(clips: Sequence[Clip], what: str, store: FeatureStore) -> None:
    check_leakage(clips)
    store.check_distinct_audio(clips)
    if not split_of(clips, "train"):
        raise TrainingError(f"{what}: no clip has split 'train'; prepare the manifest with `quadpred prepare`")


def pretrain(clips: Sequence[Clip], store: FeatureStore, folder: str | Path, *, method: str = "scae",
             run: RunConfig = RunConfig(), device: str = "auto", progress: bool = True, force: bool = False,
             on_epoch_end: EpochHook | None = None) -> FitResult:
    """Pretrain an encoder on (speech) clips by ``method``, an entry of methods.PRETRAININGS:
    'scae' denoising autoencoder or 'cpc' (log-mel store), or 'dae', the LSTM denoising
    autoencoder of the baseline (hand-crafted store).

    Several languages in ``clips`` make the follow-up study's mixture. Uses the train and valid
    splits; test clips are ignored.
    """
    if method not in PRETRAININGS:
        raise TrainingError(f"pretraining method {method!r} unknown: use one of {', '.join(PRETRAININGS)}")
    recipe = PRETRAININGS[method]
    folder = Path(folder)
    _check_splits(clips, "pretraining", store)
    features = store.config
    if recipe.features != feature_kind(features):
        wanted = {"smile": "hand-crafted", "logmel": "log-mel"}[recipe.features]
        raise TrainingError(f"method {method} needs a {wanted} feature store; {store.folder} holds other features")
    run_device = resolve_device(device)
    run = _with_precision(run, run_device)
    info = _describe(method, recipe.stage, run, features, [c for c in clips if c.split in ("train", "valid")])
    if _open_run(folder, info, force):
        return _finished(folder)
    torch.manual_seed(run.train.seed)
    model = recipe.build(run.model, features)
    data = recipe.data(model, split_of(clips, "train"), split_of(clips, "valid"), store, run)
    train, valid = _batches(data.train, run, None, training=True), _batches(data.valid, run, None, training=False)
    lr = run.train.lr if run.train.lr is not None else recipe.learning_rate
    return fit(model, data.objective, train, valid, folder=folder, config=run.train, lr=lr,
               device=run_device, progress=progress, on_epoch_end=on_epoch_end)


def check_same_features(model_dir: str | Path, source: FeatureConfig | SmileConfig, store: FeatureStore) -> None:
    """TrainingError unless the model directory's features ``source`` are those of ``store``
    (same spectrogram settings and chunk), so that its encoder reads what it was trained on."""
    if type(source) is not type(store.config) or source.spectrogram_key() != store.config.spectrogram_key() or \
            source.chunk_frames != store.config.chunk_frames:
        raise TrainingError(f"{model_dir} was trained on other features than the store {store.folder}: "
                            "extract the clips with the same feature settings")


def _encoder_config(run: RunConfig, source: dict[str, Any]) -> RunConfig:
    """``run`` with the encoder settings of a pretrained model (the weights decide the shape)."""
    pretrained, _ = configs_of(source)
    inherited = {name: getattr(pretrained, name) for name in ENCODER_FIELDS}
    default = ModelConfig()
    overridden = [f"model.{name}={json.dumps(to_dict(run.model)[name])} -> {json.dumps(to_dict(pretrained)[name])}"
                  for name, value in inherited.items()
                  if getattr(run.model, name) != value and getattr(run.model, name) != getattr(default, name)]
    if overridden:  # a setting the user gave that the pretrained weights cannot follow
        log.warning("the pretrained encoder decides its shape; ignored: %s", ", ".join(overridden))
    return RunConfig(model=ModelConfig(**{**to_dict(run.model), **inherited}), train=run.train)


ENCODER_FIELDS = ("channels", "pools", "dae_hidden", "dae_seconds")


def _emotion_model(run: RunConfig, features: FeatureConfig | SmileConfig) -> nn.Module:
    return TRANSFER_MODELS[feature_kind(features)][1](run.model, features)


def _embed(model: nn.Module, dataset: ChunkDataset, device: torch.device, precision: str,
           batch_size: int = 256) -> torch.Tensor:
    """(chunks, embedding) encoder outputs, in the precision the uncached training would compute them."""
    model.eval()
    inputs = (x for x, _, _ in Batches(dataset, batch_size).epoch(0))
    return torch.from_numpy(infer(model.embed, inputs, device, precision=precision))


def transfer(clips: Sequence[Clip], store: FeatureStore, folder: str | Path, *, stage: str,
             init: str | Path | None = None, run: RunConfig = RunConfig(), device: str = "auto",
             progress: bool = True, force: bool = False, on_epoch_end: EpochHook | None = None) -> FitResult:
    """One transfer stage on labelled music clips (train/valid splits; test is scored at the end).

    ``init``: for 'feat-ext' a pretrained model directory (its encoder is loaded and frozen);
    for 'full' the feat-ext directory (all weights) or a pretrained one (encoder only);
    for 'baseline' nothing (random initialisation).
    """
    if stage not in TRANSFER_STAGES:
        raise TrainingError(f"transfer stage {stage!r} unknown: use one of {', '.join(TRANSFER_STAGES)}")
    if stage == "baseline" and init is not None:
        raise TrainingError("the baseline starts from random weights: give no encoder")
    if stage != "baseline" and init is None:
        raise TrainingError(f"stage {stage} needs a pretrained model directory (--encoder)")
    folder = Path(folder)
    _check_splits(clips, "transfer", store)
    require_quadrants(clips)
    features = store.config
    source = read_config(init) if init is not None else None
    run_device = resolve_device(device)
    run = _with_precision(run, run_device)
    if source is not None:
        run = _encoder_config(run, source)
        check_same_features(init, configs_of(source)[1], store)
    kind = TRANSFER_MODELS[feature_kind(features)][0]
    info = _describe(kind, stage, run, features, clips,
                     init={"folder": str(init), "kind": source["kind"], "stage": source["stage"],
                           "languages": source.get("languages")} if source else None)
    if _open_run(folder, info, force):
        result = _finished(folder)
    else:
        result = _train_transfer(clips, store, folder, stage=stage, init=init, source=source, run=run,
                                 device=run_device, progress=progress, on_epoch_end=on_epoch_end)
    rank, world = distributed_rank_world()
    if rank == 0 and not (folder / "metrics.json").is_file():
        score_splits(folder, store, clips, device=device)
    if world > 1:
        torch.distributed.barrier()
    return result


def _train_transfer(clips: Sequence[Clip], store: FeatureStore, folder: Path, *, stage: str, init: Any,
                    source: dict | None, run: RunConfig, device: torch.device, progress: bool,
                    on_epoch_end: EpochHook | None) -> FitResult:
    torch.manual_seed(run.train.seed)
    model = _emotion_model(run, store.config)
    continues = source is not None and source["kind"] in TRANSFER_KINDS and stage == "full"
    if continues:
        model.load_state_dict(load_state(init))
    elif source is not None:
        model.encoder.load_state_dict(load_encoder_state(init)[0])
    steps, hop, _ = chunking(store.config, run.model)
    train_set, valid_set = (ChunkDataset(store, split_of(clips, s), chunk_frames=steps, hop_frames=hop)
                            for s in ("train", "valid"))
    if getattr(model, "norm", None) is not None and not continues:
        sample = np.random.default_rng(run.train.seed).permutation(len(train_set))[:NORM_SAMPLE]
        model.norm.fit(train_set.gather(np.sort(sample))[0])
    targets = train_set.targets.numpy()
    weights = inverse_frequency_weights(targets) if run.train.balance == "weights" else None
    augment = AUGMENTERS.get(run.train.augment)
    objective = MultiTask(run.train.loss_weights, weights, augment, label_smoothing=run.train.label_smoothing,
                          mixup=run.train.mixup)
    balance_by = targets[:, 0] if run.train.balance == "sampler" else None
    lr = run.train.learning_rate(stage)
    common = dict(folder=folder, config=run.train, lr=lr, device=device, progress=progress, on_epoch_end=on_epoch_end)
    if stage != "feat-ext":
        valid, scorer = _validation(valid_set, valid_set, run)
        return fit(model, objective, _batches(train_set, run, balance_by, training=True), valid,
                   song_scorer=scorer, **common)
    for parameter in model.encoder.parameters():
        parameter.requires_grad_(False)
    embedding_bytes = (len(train_set) + len(valid_set)) * _embedding_size(store.config, run.model) * 4
    if run.train.cache_embeddings and embedding_bytes > EMBEDDING_CACHE_LIMIT:
        log.info("%s: %.1f GB of embeddings is too much to cache; the frozen encoder runs every epoch",
                 folder, embedding_bytes / 1e9)
    # augmented inputs differ every epoch, so their embeddings cannot be computed once
    if not run.train.cache_embeddings or embedding_bytes > EMBEDDING_CACHE_LIMIT or augment is not None:
        valid, scorer = _validation(valid_set, valid_set, run)
        return fit(model, objective, _batches(train_set, run, balance_by, training=True), valid,
                   frozen=[model.encoder], song_scorer=scorer, **common)
    # the frozen encoder in eval mode is a fixed function: run it once per chunk, train the head on its outputs
    model.to(device)
    precision = run.train.precision
    train_rows = TensorRows(_embed(model, train_set, device, precision), train_set.targets)
    valid_rows = TensorRows(_embed(model, valid_set, device, precision), valid_set.targets) if len(valid_set) else None
    valid, scorer = _validation(valid_rows, valid_set, run)
    return fit(model.head, objective, _batches(train_rows, run, balance_by, training=True), valid,
               save=model, song_scorer=scorer, **common)


def _validation(rows: Any, chunks: ChunkDataset, run: RunConfig) -> tuple[Batches | None, SongScorer | None]:
    """Validation batches of ``rows`` (the chunks themselves, or their cached embeddings in the
    same order) and the scorer of their songs, or (None, None) without a validation split."""
    valid = _batches(rows, run, None, training=False)
    if valid is None:
        return None, None
    songs = np.array([c.targets()["quadrant"] for c in chunks.clips], dtype=np.int64)
    return valid, SongScorer(valid, chunks.clip_of_chunk(), songs)


NORM_SAMPLE = 4096  # training chunks whose statistics standardise the inputs (model.input_norm)
EMBEDDING_CACHE_LIMIT = 4e9  # bytes of cached encoder outputs in feat-ext; larger corpora stream instead


def _embedding_size(features: FeatureConfig | SmileConfig, config: ModelConfig) -> int:
    """Values per chunk of the frozen encoder's output."""
    if isinstance(features, SmileConfig):
        return chunking(features, config)[0] * config.dae_hidden
    from .models import latent_features

    return latent_features(config, features)


def _batches(dataset: Any, run: RunConfig, balance_by: np.ndarray | None, *, training: bool) -> Batches | None:
    """Shuffled (or balanced), capped batches for training; every row in order for validation."""
    if dataset is None or len(dataset) == 0:
        return None
    if not training:
        return Batches(dataset, run.train.batch_size)
    return Batches(dataset, run.train.batch_size, shuffle=True, seed=run.train.seed, balance_by=balance_by,
                   max_batches=run.train.max_batches)


def tuned(train: Callable[[RunConfig, Path], FitResult], run: RunConfig, folder: str | Path, *, trials: int,
          stage: str) -> FitResult:
    """``train(run, folder)`` as is when ``trials`` is 0, else after an Optuna search of lr and decay
    over ``trials`` runs (tune.py); the best run is copied into ``folder``."""
    folder = Path(folder)
    if trials <= 0:
        return train(run, folder)
    from .tune import tune

    tune(lambda config, trial_folder: train(RunConfig(model=run.model, train=config), trial_folder),
         run.train, folder, trials=trials, stage=stage)
    return _finished(folder)


def transfer_stages(clips: Sequence[Clip], store: FeatureStore, out: str | Path, *, encoder: str | Path | None,
                    stages: Sequence[str] = ("feat-ext", "full"), run: RunConfig = RunConfig(),
                    device: str = "auto", progress: bool = True, force: bool = False,
                    trials: int = 0) -> dict[str, FitResult]:
    """The study's sequence: ``out/feat-ext`` from the pretrained encoder, then ``out/full`` from
    feat-ext; or ``out/baseline`` when ``encoder`` is None. ``trials`` > 0 tunes each stage."""
    out = Path(out)
    plan = [("baseline", None)] if encoder is None else []
    previous: Path | None = Path(encoder) if encoder is not None else None
    for stage in ([] if encoder is None else stages):
        plan.append((stage, previous))
        previous = out / stage
    results: dict[str, FitResult] = {}
    for stage, init in plan:
        def train(config: RunConfig, folder: Path, stage: str = stage, init: Path | None = init) -> FitResult:
            return transfer(clips, store, folder, stage=stage, init=init, run=config, device=device,
                            progress=progress, force=force)
        results[stage] = tuned(train, run, out / stage, trials=trials, stage=stage)
    return results


