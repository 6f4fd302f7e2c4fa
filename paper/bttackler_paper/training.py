"""The epoch loops the trial scripts share: one training pass, one evaluation pass, the best result.

Losses are summed on the model's device and read once per pass, so a GPU is not stalled per batch.
A loss function takes ``(outputs, targets)`` and returns the batch mean, like ``F.cross_entropy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Evaluation:
    """Mean loss per sample and, for classifiers, the share of correct top-1 predictions."""

    loss: float
    accuracy: float | None = None


def train_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, batches: Batches, loss_fn: LossFunction
) -> float:
    """One pass of ``zero_grad``, forward, ``backward``, ``step`` per batch; returns the mean loss per sample.

    A non-finite loss does not stop the pass: it is reported, and BTTackler's AGV indicator acts on it.
    """
    model.train()
    total, count = None, 0
    for inputs, targets in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        batch_total = loss.detach() * len(inputs)
        total = batch_total if total is None else total + batch_total
        count += len(inputs)
    return _mean(total, count)


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Batches, loss_fn: LossFunction, *, accuracy: bool = False
) -> Evaluation:
    """Mean loss per sample over ``batches`` in eval mode; with ``accuracy``, also the top-1 accuracy."""
    model.eval()
    total, correct, count = None, None, 0
    for inputs, targets in batches:
        outputs = model(inputs)
        batch_total = loss_fn(outputs, targets) * len(inputs)
        total = batch_total if total is None else total + batch_total
        if accuracy:
            hits = (outputs.argmax(dim=1) == targets).sum()
            correct = hits if correct is None else correct + hits
        count += len(inputs)
    return Evaluation(_mean(total, count), _mean(correct, count) if accuracy else None)


def best(values: Sequence[float], *, higher_is_better: bool) -> float:
    """The best finite value of a metric's history; the last value when none is finite (a diverged run)."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return values[-1]
    return max(finite) if higher_is_better else min(finite)


def _mean(total: torch.Tensor | None, count: int) -> float:
    if total is None or count == 0:
        raise ValueError("no batches: the data split is empty")
    return float(total) / count
