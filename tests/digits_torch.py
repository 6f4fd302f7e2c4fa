"""Real torch training on scikit-learn's digits (ships with scikit-learn), for the Reporter's tests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from digits_task import split_digits as digits
from digits_task import train_epoch
from torch import nn

from bttackler_nni import Reporter
from bttackler_nni.diagnosis.engine import Diagnoser, Verdict

logging.getLogger("nni").setLevel(logging.WARNING)  # NNI's standalone mode logs every record


def mlp(
    depth: int,
    activation: type[nn.Module] = nn.ReLU,
    width: int = 64,
    bias: float | None = None,
    seed: int = 1,
) -> nn.Sequential:
    """``depth`` hidden layers; ``bias`` overrides the hidden layers' bias initialisation."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = 64
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), activation()]
        fan_in = width
    model = nn.Sequential(*layers, nn.Linear(fan_in, 10))
    if bias is not None:
        for layer in list(model)[:-1]:
            if isinstance(layer, nn.Linear):
                nn.init.constant_(layer.bias, bias)
    return model


@dataclass
class Run:
    records: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def stop(self) -> Verdict | None:
        return next((v for v in self.verdicts if v.stop), None)


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    seed: int = 0,
    stop_early: bool = True,
    reporter_kwargs: dict | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Run:
    """Train with a Reporter attached and a Diagnoser judging each record, like a trial under NNI."""
    data = digits()
    reporter = Reporter(model, optimizer, max_epochs=epochs, **(reporter_kwargs or {}))
    diagnoser, run = Diagnoser(), Run()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        train_loss, val_loss, val_acc = train_epoch(
            model, optimizer, data, generator, batch_size=batch_size, before_step=on_batch
        )
        run.records.append(reporter.end_epoch(train_loss=train_loss, val_loss=val_loss, val_acc=val_acc))
        run.verdicts.append(diagnoser.assess("trial", run.records))
        if stop_early and run.verdicts[-1].stop:
            break
    reporter.close()
    return run
