"""One explicit training loop for every stage: pretraining, transfer, baseline, CPC.

Seeded (model initialisation by the caller; dropout, noise and batch order by (seed, epoch)),
so a run resumed from its last epoch checkpoint repeats an uninterrupted run exactly. Adam (AdamW
with decoupled weight decay, when asked) with Keras's inverse-time decay per step (or warm-up and
cosine), early stopping on the validation loss or on song-level scores with the best epoch's
weights kept, optionally an exponential moving average of the weights, a progress bar with the
running loss, history as JSON and CSV.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .batches import Batches
from .config import TrainConfig, to_dict
from .device import autocast, distributed_rank_world, resolve_precision
from .errors import TrainingError
from .files import atomic_path, bar_off, write_text_atomic
from .modeldir import WEIGHTS_NAME, save_weights, write_json
from .objectives import Objective
from .selection import SongScorer, criterion

log = logging.getLogger("quadpred")

CHECKPOINT_NAME = "checkpoint.pt"


def init_distributed() -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR):
    NCCL on GPUs, gloo on CPUs. Without torchrun, nothing to do: (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return distributed_rank_world()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return distributed_rank_world()


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


@dataclass
class FitResult:
    folder: Path
    epochs_run: int
    best_epoch: int
    best_valid_loss: float
    stopped_early: bool
    history: list[dict[str, Any]]
    seconds: float

    @classmethod
    def from_folder(cls, folder: Path) -> FitResult:
        """The result of the finished run in ``folder`` (its summary.json and history.json)."""
        summary = read_summary(folder)
        history = json.loads((folder / "history.json").read_text())
        return cls(folder=folder, epochs_run=summary["epochs_run"], best_epoch=summary["best_epoch"],
                   best_valid_loss=summary["best_valid_loss"], stopped_early=summary["stopped_early"],
                   history=history, seconds=summary["seconds"])


def make_optimiser(parameters: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """Adam at ``config.lr``; with ``config.weight_decay`` > 0, AdamW decaying only the weight
    matrices and kernels (ndim > 1): decaying biases and batch-norm scales only pulls them off
    their neutral values."""
    if config.weight_decay == 0:
        return torch.optim.Adam(parameters, lr=config.lr)
    groups = [{"params": [p for p in parameters if p.ndim > 1], "weight_decay": config.weight_decay},
              {"params": [p for p in parameters if p.ndim <= 1], "weight_decay": 0.0}]
    return torch.optim.AdamW([group for group in groups if group["params"]], lr=config.lr)


def learning_rate_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at each optimiser step: linear warm-up over
    ``warmup_epochs``, then the study's inverse-time decay or a cosine decay to 0 at the end."""
    warmup = config.warmup_epochs * steps_per_epoch
    total = max(config.epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, total - warmup) / max(total - warmup, 1)))
        return 1.0 / (1.0 + config.lr_decay * step)

    return factor


def train_step(model: nn.Module, objective: Objective, batch: Sequence[torch.Tensor],
               optimiser: torch.optim.Optimizer, *, precision: str = "fp32",
               scaler: torch.amp.GradScaler | None = None) -> float:
    """One optimisation step on one batch; returns the batch's loss. ``scaler`` (fp16 on GPUs)
    scales the loss so that small gradients survive half precision."""
    with autocast(batch[0].device, precision):
        loss, _ = objective.loss(model, batch, training=True)
    optimiser.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
    else:
        loss.backward()
        optimiser.step()
    return loss.item()


def _to(batch: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    return [t.to(device, non_blocking=True) for t in batch]


@torch.no_grad()
def mean_loss(model: nn.Module, objective: Objective, batches: Batches, device: torch.device,
              precision: str = "fp32") -> tuple[float, dict]:
    """Loss and extras averaged over every row of ``batches`` (model in eval mode)."""
    model.eval()
    total, rows, extras_sum = 0.0, 0, {}
    for batch in batches.epoch(0):
        batch = _to(batch, device)
        with autocast(device, precision):
            loss, extras = objective.loss(model, batch, training=False)
        n = len(batch[0])
        total += loss.float().item() * n
        rows += n
        for key, value in extras.items():
            extras_sum[key] = extras_sum.get(key, 0.0) + value * n
    return total / max(rows, 1), {k: v / max(rows, 1) for k, v in extras_sum.items()}


def fit(
    model: nn.Module,
    objective: Objective,
    train: Batches,
    valid: Batches | None,
    *,
    folder: str | Path,
    config: TrainConfig,
    device: torch.device,
    frozen: Sequence[nn.Module] = (),
    save: nn.Module | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    song_scorer: SongScorer | None = None,
) -> FitResult:
    """Train ``model`` (its parameters with requires_grad) and write weights and history to ``folder``.

    ``frozen`` modules stay in eval mode (batch-norm statistics and dropout fixed), as a frozen
    encoder should. ``save``: the module whose weights go to weights.pt (default ``model``; a
    bigger model holding it, when only a part is trained). A checkpoint of an interrupted run
    of the same folder is resumed. ``song_scorer`` scores each epoch on the validation songs
    (needed by ``config.select`` 'song-loss' and 'song-f1'; recorded in the history).

    Under torch.distributed (``torchrun``), the model is wrapped in DistributedDataParallel, each
    process takes its share of every batch (gradients are averaged, so the step equals the
    single-process step on the whole batch), every process scores the validation split, and
    rank 0 alone writes files.
    """
    folder = Path(folder)
    rank, world = distributed_rank_world()
    writer = rank == 0
    if writer:
        folder.mkdir(parents=True, exist_ok=True)
    if len(train.dataset) == 0:
        raise TrainingError(f"{folder}: the training split is empty; check the manifest's splits")
    if config.lr is None:
        raise TrainingError(f"{folder}: no learning rate; the stage gives its default (TrainConfig.with_default_lr)")
    config = replace(config, precision=resolve_precision(config.precision, device))
    # channels-last convolutions are faster on CPUs (oneDNN) and on GPUs with tensor cores
    model.to(device, memory_format=torch.channels_last)
    core = model
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    scaler = torch.amp.GradScaler(device.type) if config.precision == "fp16" else None
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimiser = make_optimiser(parameters, config)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, learning_rate_factor(config, len(train)))
    # ema: the average, not the raw weights, is validated and kept; average_last: the raw weights are
    # validated, the equal average of the last epochs' is kept
    averaged = torch.optim.swa_utils.AveragedModel(
        core, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema), use_buffers=True) \
        if config.ema > 0 else None
    average_from = first_averaged_epoch(config.epochs, config.average_last)
    # averaged weights choose no epoch, so they need no validation songs
    if config.select != "loss" and song_scorer is None and average_from is None:
        raise TrainingError(f"{folder}: train.select={config.select} scores validation songs, which only a "
                            "transfer stage with a validation split has: use train.select=loss")
    evaluated = averaged.module if averaged is not None else core
    validated = valid is not None and len(valid.dataset) > 0
    state: dict[str, Any] = {"epoch": 0, "best_loss": math.inf, "best_epoch": -1, "bad_epochs": 0,
                             "history": [], "best_weights": None, "seconds": 0.0}
    checkpoint = folder / CHECKPOINT_NAME
    if checkpoint.is_file():
        try:
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)  # never unpickle code
        except Exception as exc:  # noqa: BLE001 - a damaged, foreign or code-carrying file
            raise TrainingError(f"{checkpoint} cannot be read safely ({type(exc).__name__}); delete it to start this "
                                "run afresh") from exc
        core.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        if averaged is not None:
            averaged.load_state_dict(saved["averaged"])
        state = saved["state"]
        log.info("%s: resuming after epoch %d", folder, state["epoch"])

    stopped_early = state["bad_epochs"] >= config.patience
    for epoch in range(state["epoch"], config.epochs):
        if stopped_early:
            break
        started = time.perf_counter()
        torch.manual_seed(epoch_seed(config.seed, epoch))
        model.train()
        for module in frozen:
            module.eval()
        running, seen = 0.0, 0
        bar = tqdm(train.epoch(epoch, rank=rank, world=world), total=len(train),
                   desc=f"{folder.name} epoch {epoch + 1}/{config.epochs}", unit="batch",
                   disable=bar_off(progress and writer), leave=False)
        for batch in bar:
            batch = _to(batch, device)
            loss = train_step(model, objective, batch, optimiser, precision=config.precision, scaler=scaler)
            if not math.isfinite(loss):
                raise TrainingError(f"{folder}: the loss became {loss} in epoch {epoch + 1}; "
                                    "lower the learning rate (--set train.lr=...) or check the features")
            schedule.step()
            if averaged is not None:
                averaged.update_parameters(core)
            running += loss * len(batch[0])
            seen += len(batch[0])
            bar.set_postfix(loss=f"{running / seen:.4f}")
        bar.close()
        train_loss = running / max(seen, 1)
        if average_from is not None and epoch >= average_from:
            state["late_average"] = fold_into_average(state.get("late_average"), state.get("late_count", 0),
                                                      {k: v.detach().cpu().clone() for k, v in core.state_dict().items()})
            state["late_count"] = state.get("late_count", 0) + 1
        if validated:
            valid_loss, extras = mean_loss(evaluated, objective, valid, device, config.precision)
            if song_scorer is not None:
                extras.update(song_scorer(evaluated, device, lambda: autocast(device, config.precision)))
        else:
            valid_loss, extras = train_loss, {}
        row = {"epoch": epoch + 1, "train_loss": train_loss, "valid_loss": valid_loss,
               "lr": schedule.get_last_lr()[0], "seconds": time.perf_counter() - started,
               **{f"valid_{k}": v for k, v in extras.items()}}
        state["history"].append(row)
        state["seconds"] += row["seconds"]
        score = criterion(config.select, valid_loss, extras) if extras or config.select == "loss" else valid_loss
        if average_from is not None:  # nothing is chosen: the run goes on to the average of its last epochs
            state.update(best_loss=score, best_epoch=epoch + 1, bad_epochs=0)
        elif score < state["best_loss"] - config.min_delta:
            state.update(best_loss=score, best_epoch=epoch + 1, bad_epochs=0,
                         best_weights=copy.deepcopy({k: v.detach().cpu() for k, v in evaluated.state_dict().items()}))
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        if writer:
            with atomic_path(checkpoint) as tmp:
                torch.save({"model": core.state_dict(), "optimiser": optimiser.state_dict(),
                            "schedule": schedule.state_dict(), "state": state,
                            **({"averaged": averaged.state_dict()} if averaged is not None else {})}, tmp)
            write_history(folder, state["history"])
        if progress and writer:
            songs = f" song loss {extras['song_loss']:.4f} F {extras['song_f1']:.3f}" if "song_loss" in extras else ""
            shown = f" valid {valid_loss:.4f}" if validated else " (no validation split)"
            log.info("%s epoch %d: train %.4f%s%s%s", folder.name, epoch + 1, train_loss, shown, songs,
                     _epoch_mark(epoch, average_from, state["best_epoch"]))
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, row)
        stopped_early = state["bad_epochs"] >= config.patience

    if average_from is not None:
        core.load_state_dict(state["late_average"])
    elif state["best_weights"] is not None:
        core.load_state_dict(state["best_weights"])
    elif averaged is not None:
        core.load_state_dict(evaluated.state_dict())
    result = FitResult(folder=folder, epochs_run=state["epoch"], best_epoch=state["best_epoch"],
                       best_valid_loss=state["best_loss"], stopped_early=stopped_early,
                       history=state["history"], seconds=state["seconds"])
    if world > 1:
        torch.distributed.barrier()
    if not writer:
        return result
    save_weights(save if save is not None else core, folder)
    write_json(folder / "summary.json", {
        "epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "best_valid_loss": result.best_valid_loss,
        "stopped_early": stopped_early, "select": config.select, "seconds": round(result.seconds, 2),
        "device": str(device), "lr": config.lr,
        "train": to_dict(config), "train_rows": len(train.dataset),
        "valid_rows": len(valid.dataset) if valid is not None else 0, "weights": WEIGHTS_NAME, "processes": world,
    })
    checkpoint.unlink(missing_ok=True)
    return result


def first_averaged_epoch(epochs: int, average_last: float) -> int | None:
    """The 0-based epoch from which the weights join the kept average (train.average_last: the last
    ``ceil(epochs * average_last)`` epochs, at least one), or None when nothing is averaged."""
    return epochs - max(1, math.ceil(epochs * average_last)) if average_last else None


def _epoch_mark(epoch: int, average_from: int | None, best_epoch: int) -> str:
    """The log line's note on 0-based ``epoch``: whether its weights join the kept average
    (train.average_last), or whether it is the best so far (the epoch chosen)."""
    if average_from is not None:
        return " (in the average)" if epoch >= average_from else ""
    return " (best)" if best_epoch == epoch + 1 else ""


def fold_into_average(average: dict[str, torch.Tensor] | None, count: int,
                      weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The equal average of ``count`` state dicts (``average``; None when ``count`` is 0) and
    ``weights``: the running average of train.average_last. Integer buffers (batch-norm's counter)
    are taken from ``weights`` as they are."""
    if average is None or count == 0:
        return dict(weights)
    return {key: average[key] + (value - average[key]) / (count + 1) if value.is_floating_point() else value
            for key, value in weights.items()}


def write_history(folder: Path, history: list[dict[str, Any]]) -> None:
    """history.json and history.csv (one row per epoch)."""
    write_json(folder / "history.json", history)
    if history:
        columns = sorted({key for row in history for key in row}, key=lambda k: (k != "epoch", k))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
        write_text_atomic(folder / "history.csv", text.getvalue())


def read_summary(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "summary.json").read_text())
