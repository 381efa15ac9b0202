"""The study's training stages as functions: data from a manifest and a feature store in, a
model directory out.

- :func:`pretrain`: SCAE (denoising) or CPC on speech of one language or a mixture.
- :func:`transfer`: one stage on labelled music: ``feat-ext`` (pretrained encoder frozen),
  ``full`` (everything trained, continuing from feat-ext), ``baseline`` (random initialisation).
- :func:`transfer_stages`: feat-ext then full, as the study did.

Every run folder is a self-describing model directory (`modeldir.open_run` prepares it and
refuses one of other settings); re-running a finished folder with the same settings does
nothing, an interrupted one resumes. Scoring is in `evaluate`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .augment import AUGMENTERS
from .batches import Batches, TensorRows
from .config import STAGE_LEARNING_RATES, ModelConfig, RunConfig, setting, with_settings
from .device import distributed_rank_world, infer, resolve_device, resolve_precision
from .errors import TrainingError
from .evaluate import require_quadrants, score_splits
from .featurekinds import FEATURE_KINDS, Features, chunking, kind_of
from .files import atomic_path
from .manifest import Clip, check_leakage, split_of
from .methods import PRETRAININGS, TRANSFER_KINDS, transfer_model
from .modeldir import check_same_features, configs_of, describe_run, load_encoder_state, load_state, open_run, read_config
from .objectives import MultiTask, inverse_frequency_weights
from .selection import SongScorer
from .store import ChunkDataset, FeatureStore
from .teachers import WithTeacherTargets, teacher_probabilities
from .train import CHECKPOINT_NAME, FitResult, fit

log = logging.getLogger("quadpred")

TRANSFER_STAGES = ("feat-ext", "full", "baseline")
EpochHook = Callable[[int, dict], None]


def _with_precision(run: RunConfig, device: torch.device) -> RunConfig:
    """``run`` with its precision resolved for ``device`` ('auto' -> bf16 or fp32), as recorded."""
    return dataclasses.replace(run, train=dataclasses.replace(
        run.train, precision=resolve_precision(run.train.precision, device)))


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
    if recipe.features != kind_of(features).name:
        wanted = FEATURE_KINDS[recipe.features].description
        raise TrainingError(f"method {method} needs a store of {wanted}; {store.folder} holds "
                            f"{kind_of(features).description}")
    run_device = resolve_device(device)
    run = _with_precision(run, run_device)
    info = describe_run(method, recipe.stage, run, features, [c for c in clips if c.split in ("train", "valid")])
    if open_run(folder, info, force):
        return FitResult.from_folder(folder)
    torch.manual_seed(run.train.seed)
    model = recipe.build(run.model, features)
    data = recipe.data(model, split_of(clips, "train"), split_of(clips, "valid"), store, run)
    train, valid = _batches(data.train, run, None, training=True), _batches(data.valid, run, None, training=False)
    config = run.train.with_default_lr(recipe.learning_rate)
    return fit(model, data.objective, train, valid, folder=folder, config=config, device=run_device,
               progress=progress, on_epoch_end=on_epoch_end)


def _encoder_config(run: RunConfig, source: dict[str, Any]) -> RunConfig:
    """``run`` with the encoder settings of a pretrained model (the weights decide the shape)."""
    pretrained, _ = configs_of(source)
    inherited = {key: setting(pretrained, key) for key in ENCODER_SETTINGS}
    default = ModelConfig()

    def shown(value: Any) -> str:
        return json.dumps(list(value) if isinstance(value, tuple) else value)

    overridden = [f"model.{key}={shown(setting(run.model, key))} -> {shown(value)}"
                  for key, value in inherited.items()
                  if setting(run.model, key) != value and setting(run.model, key) != setting(default, key)]
    if overridden:  # a setting the user gave that the pretrained weights cannot follow
        log.warning("the pretrained encoder decides its shape; ignored: %s", ", ".join(overridden))
    return RunConfig(model=with_settings(run.model, inherited), train=run.train)


# the model settings a pretrained encoder's weights fix
ENCODER_SETTINGS = ("encoder.channels", "encoder.pools", "dae.hidden", "dae.seconds")


def _emotion_model(run: RunConfig, features: Features) -> nn.Module:
    return transfer_model(features).build(run.model, features)


def _embed(model: nn.Module, dataset: ChunkDataset, device: torch.device, precision: str,
           batch_size: int = 256) -> torch.Tensor:
    """(chunks, embedding) encoder outputs, in the precision the uncached training would compute them."""
    model.eval()
    inputs = (x for x, _, _ in Batches(dataset, batch_size).epoch(0))
    return torch.from_numpy(infer(model.embed, inputs, device, precision=precision))


def transfer(clips: Sequence[Clip], store: FeatureStore, folder: str | Path, *, stage: str,
             init: str | Path | None = None, run: RunConfig = RunConfig(), device: str = "auto",
             progress: bool = True, force: bool = False, on_epoch_end: EpochHook | None = None,
             teachers: Sequence[str | Path] = ()) -> FitResult:
    """One transfer stage on labelled music clips (train/valid splits; test is scored at the end).

    ``init``: for 'feat-ext' a pretrained model directory (its encoder is loaded and frozen);
    for 'full' the feat-ext directory (all weights) or a pretrained one (encoder only);
    for 'baseline' nothing (random initialisation). ``teachers``: transfer model directories
    trained on the same training clips, whose mean probabilities the model also learns, with
    the weight train.distil (teachers.py).
    """
    if stage not in TRANSFER_STAGES:
        raise TrainingError(f"transfer stage {stage!r} unknown: use one of {', '.join(TRANSFER_STAGES)}")
    if stage == "baseline" and init is not None:
        raise TrainingError("the baseline starts from random weights: give no encoder")
    if stage != "baseline" and init is None:
        raise TrainingError(f"stage {stage} needs a pretrained model directory (--encoder)")
    if bool(teachers) != (run.train.distil > 0):
        raise TrainingError("teachers were given but train.distil is 0: add --set train.distil=0.5 (their share of "
                            "the loss)" if teachers else
                            f"train.distil is {run.train.distil:g} but no teachers were given: add --teachers")
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
    kind = transfer_model(features).kind
    info = describe_run(kind, stage, run, features, clips,
                     init={"folder": str(init), "kind": source["kind"], "stage": source["stage"],
                           "languages": source.get("languages")} if source else None,
                     **({"teachers": [str(t) for t in teachers]} if teachers else {}))
    if open_run(folder, info, force):
        result = FitResult.from_folder(folder)
    else:
        result = _train_transfer(clips, store, folder, stage=stage, init=init, source=source, run=run,
                                 device=run_device, progress=progress, on_epoch_end=on_epoch_end,
                                 teachers=teachers)
    rank, world = distributed_rank_world()
    if rank == 0 and not (folder / "metrics.json").is_file():
        score_splits(folder, store, clips, device=device)
    if world > 1:
        torch.distributed.barrier()
    return result


def _train_transfer(clips: Sequence[Clip], store: FeatureStore, folder: Path, *, stage: str, init: Any,
                    source: dict | None, run: RunConfig, device: torch.device, progress: bool,
                    on_epoch_end: EpochHook | None, teachers: Sequence[str | Path]) -> FitResult:
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
                          mixup=run.train.mixup, distil=run.train.distil)
    balance_by = targets[:, 0] if run.train.balance == "sampler" else None
    config = run.train.with_default_lr(STAGE_LEARNING_RATES[stage])
    common = dict(folder=folder, config=config, device=device, progress=progress, on_epoch_end=on_epoch_end)
    taught = _teacher_targets(teachers, train_set, store, folder, device, run.train.precision, previous_stage=init)
    if stage != "feat-ext":
        valid, scorer = _validation(valid_set, valid_set, run)
        training = train_set if taught is None else WithTeacherTargets(train_set, taught)
        return fit(model, objective, _batches(training, run, balance_by, training=True), valid,
                   song_scorer=scorer, **common)
    for parameter in model.encoder.parameters():
        parameter.requires_grad_(False)
    embedding_bytes = (len(train_set) + len(valid_set)) * transfer_model(store.config).embedding_size(run.model, store.config) * 4
    if run.train.cache_embeddings and embedding_bytes > EMBEDDING_CACHE_LIMIT:
        log.info("%s: %.1f GB of embeddings is too much to cache; the frozen encoder runs every epoch",
                 folder, embedding_bytes / 1e9)
    # augmented inputs differ every epoch, so their embeddings cannot be computed once
    if not run.train.cache_embeddings or embedding_bytes > EMBEDDING_CACHE_LIMIT or augment is not None:
        valid, scorer = _validation(valid_set, valid_set, run)
        training = train_set if taught is None else WithTeacherTargets(train_set, taught)
        return fit(model, objective, _batches(training, run, balance_by, training=True), valid,
                   frozen=[model.encoder], song_scorer=scorer, **common)
    # the frozen encoder in eval mode is a fixed function: run it once per chunk, train the head on its outputs
    model.to(device)
    precision = run.train.precision
    train_rows = TensorRows(_embed(model, train_set, device, precision), train_set.targets,
                            *([] if taught is None else [torch.from_numpy(taught)]))
    valid_rows = TensorRows(_embed(model, valid_set, device, precision), valid_set.targets) if len(valid_set) else None
    valid, scorer = _validation(valid_rows, valid_set, run)
    return fit(model.head, objective, _batches(train_rows, run, balance_by, training=True), valid,
               save=model, song_scorer=scorer, **common)


TEACHERS_NAME = "teacher_probabilities.npy"


def _teacher_targets(teachers: Sequence[str | Path], train_set: ChunkDataset, store: FeatureStore, folder: Path,
                     device: torch.device, precision: str, previous_stage: str | Path | None = None) -> np.ndarray | None:
    """(chunks, classes of all tasks) the teachers' mean probabilities of the training chunks, or
    None without teachers; kept in the run folder, so a resumed run does not compute them again.
    ``previous_stage``: the stage this one starts from; when it is the stage before in the same
    output folder (feat-ext before full) and was taught by the same teachers on the same data,
    its kept probabilities are reused."""
    if not teachers:
        return None
    path = folder / TEACHERS_NAME
    probabilities = _kept_rows(path, len(train_set))
    if probabilities is not None:
        return probabilities
    if previous_stage is not None and _taught_alike(Path(previous_stage), folder):
        probabilities = _kept_rows(Path(previous_stage) / TEACHERS_NAME, len(train_set))
    if probabilities is None:
        log.info("%s: the %d teachers' probabilities of %d training chunks", folder, len(teachers), len(train_set))
        probabilities = teacher_probabilities(teachers, train_set, store, device, precision)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, probabilities)
    return probabilities


def _kept_rows(path: Path, rows: int) -> np.ndarray | None:
    """The array kept at ``path`` if it exists and has ``rows`` rows, else None."""
    if not path.is_file():
        return None
    kept = np.load(path)
    return kept if len(kept) == rows else None


def _taught_alike(previous_stage: Path, folder: Path) -> bool:
    """Whether ``previous_stage`` is a sibling stage of ``folder`` that kept teachers' probabilities
    and had the same teachers and data."""
    if previous_stage.parent != folder.parent or not (previous_stage / TEACHERS_NAME).is_file():
        return False
    before, now = read_config(previous_stage), read_config(folder)
    return (before.get("teachers"), before["data"]) == (now.get("teachers"), now["data"])


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
    return FitResult.from_folder(folder)


def transfer_stages(clips: Sequence[Clip], store: FeatureStore, out: str | Path, *, encoder: str | Path | None,
                    stages: Sequence[str] = ("feat-ext", "full"), run: RunConfig = RunConfig(),
                    device: str = "auto", progress: bool = True, force: bool = False,
                    trials: int = 0, keep_epochs: bool = False,
                    teachers: Sequence[str | Path] = ()) -> dict[str, FitResult]:
    """The study's sequence: ``out/feat-ext`` from the pretrained encoder, then ``out/full`` from
    feat-ext; or ``out/baseline`` when ``encoder`` is None. ``trials`` > 0 tunes each stage.
    ``keep_epochs``: the last stage keeps every epoch's weights in ``epochs/epoch<n>.pt`` (to
    study how the epoch is chosen, crossval.epoch_rules). ``teachers``: every stage also learns
    their mean probabilities (:func:`transfer`)."""
    out = Path(out)
    plan = [("baseline", None)] if encoder is None else []
    previous: Path | None = Path(encoder) if encoder is not None else None
    for stage in ([] if encoder is None else stages):
        plan.append((stage, previous))
        previous = out / stage
    results: dict[str, FitResult] = {}
    for stage, init in plan:
        def train(config: RunConfig, folder: Path, stage: str = stage, init: Path | None = init) -> FitResult:
            hook = keep_epoch_weights(folder) if keep_epochs and stage == plan[-1][0] else None
            return transfer(clips, store, folder, stage=stage, init=init, run=config, device=device,
                            progress=progress, force=force, on_epoch_end=hook, teachers=teachers)
        results[stage] = tuned(train, run, out / stage, trials=trials, stage=stage)
    return results


EPOCHS_FOLDER = "epochs"


def keep_epoch_weights(folder: Path) -> EpochHook:
    """An epoch hook that copies the weights just checkpointed and validated in ``folder`` (the
    averaged ones under train.ema, the only average a checkpoint holds; the raw ones otherwise) to
    ``folder/epochs/epoch<n>.pt``."""
    def keep(epoch: int, row: dict) -> None:
        if distributed_rank_world()[0] != 0:
            return
        saved = torch.load(folder / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
        weights = saved["model"]
        if "averaged" in saved:  # AveragedModel keys: module.<name>, and its counter
            weights = {k.removeprefix("module."): v for k, v in saved["averaged"].items() if k.startswith("module.")}
        (folder / EPOCHS_FOLDER).mkdir(exist_ok=True)
        with atomic_path(folder / EPOCHS_FOLDER / f"epoch{epoch}.pt") as tmp:
            torch.save(weights, tmp)
    return keep


