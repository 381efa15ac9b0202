"""Contrastive Predictive Coding over 1-s segments (the ICASSP 2021 follow-up study).

A clip is cut into consecutive chunks (segments) of 1 x n_mels x 31; the SCAE encoder turns each
into a code, a GRU summarises the codes so far into a context, and from each context one linear
map per step k predicts the code k segments ahead. The encoder then plugs into the transfer stages
like a pretrained SCAE encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CPC(nn.Module):
    """(batch, segments, 1, n_mels, frames) -> codes (batch, segments, code_dim) and
    predictions (batch, segments, steps, code_dim) of the codes 1..steps segments ahead."""

    def __init__(self, encoder: nn.Module, latent_features: int, *, code_dim: int = 256,
                 context_dim: int = 256, steps: int = 3) -> None:
        super().__init__()
        self.encoder = encoder
        self.project = nn.Linear(latent_features, code_dim)
        self.context = nn.GRU(code_dim, context_dim, batch_first=True)
        self.predict = nn.Linear(context_dim, code_dim * steps)
        self.steps = steps
        self.code_dim = code_dim

    def codes(self, x: Tensor) -> Tensor:
        batch, segments = x.shape[:2]
        latent = self.encoder(x.flatten(0, 1)).flatten(1)
        return self.project(latent).view(batch, segments, self.code_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        codes = self.codes(x)
        context, _ = self.context(codes)
        predictions = self.predict(context).view(*context.shape[:2], self.steps, self.code_dim)
        return codes, predictions


TEMPERATURE = 0.1


def _unit(x: Tensor) -> Tensor:
    return F.normalize(x.float(), dim=-1)


def infonce_loss(codes: Tensor, predictions: Tensor, temperature: float = TEMPERATURE) -> tuple[Tensor, Tensor]:
    """Standard InfoNCE: each prediction must pick its true future code among every code of the
    batch (other clips and other positions are the negatives). Scores are cosine similarities over
    a temperature: unbounded dot products let the logits explode and the loss stall at chance.
    Returns (loss, accuracy)."""
    batch, segments, steps, dim = predictions.shape
    codes, predictions = _unit(codes), _unit(predictions) / temperature
    candidates = codes.reshape(batch * segments, dim)
    position = torch.arange(batch * segments, device=codes.device).view(batch, segments)
    losses, hits = [], []
    for k in range(1, steps + 1):
        guess = predictions[:, : segments - k, k - 1].reshape(-1, dim)
        target = position[:, k:].reshape(-1)
        scores = guess @ candidates.T
        losses.append(F.cross_entropy(scores, target))
        hits.append((scores.argmax(dim=1) == target).float().mean())
    return torch.stack(losses).mean(), torch.stack(hits).mean()


def binary_loss(codes: Tensor, predictions: Tensor, temperature: float = TEMPERATURE) -> tuple[Tensor, Tensor]:
    """The authors' variant: a sigmoid score of each prediction against its true future code
    (label 1) and against a shuffled future code of the batch (label 0); cosine scores over a
    temperature as in :func:`infonce_loss`. Returns (loss, accuracy)."""
    batch, segments, steps, dim = predictions.shape
    codes, predictions = _unit(codes), _unit(predictions) / temperature
    losses, hits = [], []
    for k in range(1, steps + 1):
        guess = predictions[:, : segments - k, k - 1].reshape(-1, dim)
        future = codes[:, k:].reshape(-1, dim)
        shuffled = future[torch.randperm(len(future), device=future.device)]
        positive = (guess * future).sum(dim=1)
        negative = (guess * shuffled).sum(dim=1)
        scores = torch.cat([positive, negative])
        labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)])
        losses.append(F.binary_cross_entropy_with_logits(scores, labels))
        hits.append(((scores > 0).float() == labels).float().mean())
    return torch.stack(losses).mean(), torch.stack(hits).mean()


CPC_OBJECTIVES = {"infonce": infonce_loss, "binary": binary_loss}
