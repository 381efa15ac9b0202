"""What each training stage minimises, given a model and one batch.

Every objective maps (model, batch, training) to (loss, extra numbers for the history).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .labels import TASKS
from .models.cpc import CPC_OBJECTIVES


class Objective(Protocol):
    def loss(self, model: nn.Module, batch: Sequence[Tensor], training: bool) -> tuple[Tensor, dict[str, float]]: ...


class Denoising:
    """SCAE pretraining: reconstruct the clean input from input + N(0, noise_sd^2); MSE.

    Validation scores the reconstruction of the clean input, so it needs no random numbers.
    """

    def __init__(self, noise_sd: float) -> None:
        self.noise_sd = noise_sd

    def loss(self, model: nn.Module, batch: Sequence[Tensor], training: bool) -> tuple[Tensor, dict[str, float]]:
        x = batch[0]
        noisy = x + self.noise_sd * torch.randn_like(x) if training else x
        return F.mse_loss(model(noisy), x), {}


class SequenceDenoising:
    """DAE pretraining: noise on the standardised sequence, MSE to the clean standardised sequence."""

    def __init__(self, noise_sd: float) -> None:
        self.noise_sd = noise_sd

    def loss(self, model: nn.Module, batch: Sequence[Tensor], training: bool) -> tuple[Tensor, dict[str, float]]:
        reconstruction, clean = model(batch[0], noise_sd=self.noise_sd if training else 0.0)
        return F.mse_loss(reconstruction, clean), {}


class MultiTask:
    """Weighted sum of the cross-entropies of quadrant, arousal and valence (2-class softmax
    cross-entropy is the binary cross-entropy of the study). Batch: (inputs, targets (n, 3), ...).

    ``class_weights``: per task, one weight per class (the imbalance remedy), or None.
    ``augment``: applied to the inputs of training batches only (augment.py), or None.
    ``label_smoothing``: of every cross-entropy, in training only (validation scores the plain
    loss). ``mixup``: alpha of the Beta(alpha, alpha) weight that mixes each training input with
    another of the batch, the loss mixed with the same weight (0: none). ``distil``: the share of
    each task's training loss that is the cross-entropy with teachers' probabilities, which a
    training batch then carries third: (n, classes of all tasks) in TASKS order (teachers.py).
    """

    def __init__(self, loss_weights: Sequence[float] = (1.0, 1.0, 1.0),
                 class_weights: Mapping[str, Tensor] | None = None,
                 augment: Callable[[Tensor], Tensor] | None = None, *,
                 label_smoothing: float = 0.0, mixup: float = 0.0, distil: float = 0.0) -> None:
        self.loss_weights = dict(zip(TASKS, loss_weights))
        self.class_weights = dict(class_weights or {})
        self.augment = augment
        self.label_smoothing = label_smoothing
        self.mixup = mixup
        self.distil = distil

    def loss(self, model: nn.Module, batch: Sequence[Tensor], training: bool) -> tuple[Tensor, dict[str, float]]:
        inputs, targets = batch[0], batch[1]
        taught = training and self.distil > 0
        teacher = batch[2].to(inputs.device).float() if taught else None
        if training and self.augment is not None:
            inputs = self.augment(inputs)
        # mixing weight and partner rows come from the global generator, seeded per epoch by fit()
        mixed = training and self.mixup > 0
        if mixed:
            share = float(torch.distributions.Beta(self.mixup, self.mixup).sample())
            partner = torch.randperm(len(inputs))
            inputs = share * inputs + (1.0 - share) * inputs[partner]
            if taught:
                teacher = share * teacher + (1.0 - share) * teacher[partner]
        logits = model(inputs)
        smoothing = self.label_smoothing if training else 0.0
        total = inputs.new_zeros(())
        extras = {}
        first = 0
        for column, (task, names) in enumerate(TASKS.items()):
            weight = self.class_weights.get(task)
            weight = None if weight is None else weight.to(inputs.device)
            task_loss = F.cross_entropy(logits[task], targets[:, column], weight=weight, label_smoothing=smoothing)
            if mixed:
                task_loss = share * task_loss + (1.0 - share) * F.cross_entropy(
                    logits[task], targets[partner, column], weight=weight, label_smoothing=smoothing)
            if taught:
                # soft targets: cross_entropy takes class probabilities; the teachers' are not re-weighted
                soft = F.cross_entropy(logits[task].float(), teacher[:, first:first + len(names)])
                task_loss = (1.0 - self.distil) * task_loss + self.distil * soft
            first += len(names)
            total = total + self.loss_weights[task] * task_loss
            extras[f"{task}_accuracy"] = (logits[task].argmax(dim=1) == targets[:, column]).float().mean().item()
        return total, extras


def inverse_frequency_weights(targets: np.ndarray) -> dict[str, Tensor]:
    """Per task, n / (classes * count) for each class (0 for a class absent from ``targets`` (n, 3))."""
    weights = {}
    for column, (task, names) in enumerate(TASKS.items()):
        counts = np.bincount(targets[:, column][targets[:, column] >= 0], minlength=len(names)).astype(np.float64)
        present = counts > 0
        values = np.zeros(len(names))
        values[present] = counts.sum() / (present.sum() * counts[present])
        weights[task] = torch.tensor(values, dtype=torch.float32)
    return weights


class Contrastive:
    """CPC pretraining with the InfoNCE or the authors' binary objective. Batch: (x (n, segments, 1, mels, frames),)."""

    def __init__(self, objective: str) -> None:
        self.objective = CPC_OBJECTIVES[objective]

    def loss(self, model: nn.Module, batch: Sequence[Tensor], training: bool) -> tuple[Tensor, dict[str, float]]:
        codes, predictions = model(batch[0])
        loss, accuracy = self.objective(codes, predictions)
        return loss, {"cpc_accuracy": accuracy.item()}
