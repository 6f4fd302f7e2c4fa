"""Epoch records replayed batch by batch through Reporters that sample at different rates.

A record gives each layer's epoch statistics ``g[l]`` (mean absolute gradient) and ``z[l]`` (share
of exactly-zero entries). Replaying it, every batch of the epoch sets gradients that scatter around
them as a real training's batches do, and Reporters watching the same gradients at 1 in k batches
each average their own batches. Their records can then be judged side by side.

One batch's mean |gradient| of a layer, before the epoch's values are scaled to the record's:

- a factor shared by every layer of the batch (batches differ more than layers do), lognormal
  with sigma 0.4, and 1 batch in 50 a spike of 10x in every layer;
- a factor of its own per layer, lognormal with sigma 0.2;
- a trend: when the record's ``g`` changed since the previous epoch, the batches move
  geometrically from the old values to the new ones (an explosion grows during its epoch).

The record's ``g[l]`` is the expected mean over the epoch's batches: the mean over all of them, what
a Reporter at every batch sends, scatters around it as it would from one training to another of the
same configuration. Each batch's value is exact (its non-zero entries are rescaled to it); zero
entries are drawn per entry with probability ``z[l]``. A NaN ``g[l]`` starts at a random batch of its epoch;
from the next batch on every layer's gradients are NaN, as the optimizer step spreads it into the
weights.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from bttackler_nni import Reporter
from bttackler_nni.diagnosis.engine import Diagnoser

logging.getLogger("nni").setLevel(logging.WARNING)  # NNI's standalone mode logs every record

SHARED_SIGMA, LAYER_SIGMA = 0.4, 0.2
SPIKE_PROBABILITY, SPIKE_FACTOR = 0.02, 10.0
WEIGHT_ENTRIES = 256


class GradientSource(nn.Module):
    """Weights only: their gradients are set directly, batch by batch."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(16, 16, bias=False) for _ in range(layers))

    def set_gradients(self, values: Sequence[torch.Tensor]) -> None:
        for layer, value in zip(self.layers, values, strict=True):
            layer.weight.grad = value.view(16, 16)


def batch_magnitudes(
    grad: np.ndarray, previous: np.ndarray | None, batches: int, rng: np.random.Generator
) -> np.ndarray:
    """Per-batch mean |gradient| of each layer (batches x layers), of expected epoch mean ``grad``."""
    shared = np.exp(SHARED_SIGMA * rng.standard_normal(batches))
    shared *= np.where(rng.random(batches) < SPIKE_PROBABILITY, SPIKE_FACTOR, 1.0)
    own = np.exp(LAYER_SIGMA * rng.standard_normal((batches, len(grad))))
    expected = math.exp((SHARED_SIGMA**2 + LAYER_SIGMA**2) / 2) * (1 + SPIKE_PROBABILITY * (SPIKE_FACTOR - 1))
    position = (np.arange(batches) + 0.5) / batches
    trend = np.ones((batches, len(grad)))
    if previous is not None and len(previous) == len(grad):
        moving = (grad > 0) & (previous > 0) & np.isfinite(previous) & np.isfinite(grad)
        trend[:, moving] = np.exp(np.outer(position - 1, np.log(grad[moving] / previous[moving])))
    return shared[:, None] * own * (trend / trend.mean(axis=0)) * (grad / expected)


def batch_gradient(magnitude: float, zero_share: float, rng: np.random.Generator) -> torch.Tensor:
    """One layer's gradient entries: share ``zero_share`` exactly zero, mean absolute value ``magnitude``."""
    if math.isnan(magnitude):
        return torch.full((WEIGHT_ENTRIES,), math.nan)
    values = np.abs(rng.standard_normal(WEIGHT_ENTRIES)) * (rng.random(WEIGHT_ENTRIES) >= zero_share)
    if magnitude == 0 or not values.any():
        return torch.zeros(WEIGHT_ENTRIES)
    return torch.tensor(values * (magnitude / values.mean()), dtype=torch.float32)


def replay(
    history: Sequence[dict[str, Any]], rates: Sequence[int], *, batches: int, seed: int
) -> dict[int, list[dict[str, Any]]]:
    """Each rate's records for ``history`` replayed with ``batches`` batches per epoch."""
    rng = np.random.default_rng(seed)
    layers = len(history[0]["layers"]["grad"])
    source = GradientSource(layers)
    reporters = {
        k: Reporter(source, max_epochs=history[0].get("max_epochs", 20), sample_every=k) for k in rates
    }
    records: dict[int, list[dict[str, Any]]] = {k: [] for k in rates}
    previous: np.ndarray | None = None
    poisoned = False
    for raw in history:
        grad = np.asarray(raw["layers"]["grad"], dtype=np.float64)
        zero_share = np.asarray(raw["layers"]["zero_share"], dtype=np.float64)
        nan = np.isnan(grad)
        before_nan = np.where(nan, previous if previous is not None else 0.0, grad)
        magnitudes = batch_magnitudes(before_nan, previous, batches, rng)
        onset = batches if not nan.any() or poisoned else int(rng.integers(batches))
        for batch in range(batches):
            if poisoned or batch > onset:
                magnitudes[batch] = math.nan
            elif batch == onset:
                magnitudes[batch, nan] = math.nan
            source.set_gradients(
                [batch_gradient(m, z, rng) for m, z in zip(magnitudes[batch], zero_share, strict=True)]
            )
            for reporter in reporters.values():
                reporter.after_backward()
        poisoned = poisoned or onset < batches
        previous = grad
        for k, reporter in reporters.items():
            records[k].append(
                reporter.end_epoch(
                    train_loss=raw["train_loss"], val_loss=raw.get("val_loss"), default=raw["default"]
                )
            )
    return records


def first_stop(records: Sequence[dict[str, Any]]) -> tuple[str, int] | None:
    """The indicator and epoch of the first stop the diagnosis engine decides, judging report by report."""
    diagnoser = Diagnoser()
    for end in range(1, len(records) + 1):
        verdict = diagnoser.assess("trial", records[:end])
        if verdict.stop:
            return verdict.reason.indicator, verdict.epoch
    return None
