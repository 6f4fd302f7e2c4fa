"""What the two CIFAR-10 tasks share: the ``act`` and ``opt`` choices, the common part of their search
space, and their optimizer with its learning-rate schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bttackler_paper.params import Choice, Integer, Real, Spec

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "Tanh": nn.Tanh,
    "Sigmoid": nn.Sigmoid,
    "ELU": nn.ELU,
    "LeakyReLU": nn.LeakyReLU,
}
"""``act`` choice -> activation module class (torch defaults: LeakyReLU slope 0.01, ELU alpha 1)."""

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "SGD": torch.optim.SGD,
    "Adam": torch.optim.Adam,
    "RMSprop": torch.optim.RMSprop,
    "Adagrad": torch.optim.Adagrad,
    "Adadelta": torch.optim.Adadelta,
}
"""``opt`` choice -> optimizer class; SGD is plain (no momentum), every other setting is torch's default."""

LR_DECAY = 0.7
"""The learning rate is multiplied by this after every epoch (``StepLR(step_size=1, gamma=0.7)``)."""

CLASSIFIER_SCHEMA: dict[str, Spec] = {
    "mlp_f_num": Integer(1),
    "lr": Real(0.0, open_low=True),
    "weight_decay": Real(0.0),
    "act": Choice(tuple(ACTIVATIONS)),
    "opt": Choice(tuple(OPTIMIZERS)),
    "batch_size": Integer(1),
    "drop_rate": Real(0.0, 1.0),
}
"""The keys both CIFAR-10 search spaces have, with what a buildable value must satisfy."""


def optimization(
    model: nn.Module, params: dict[str, Any]
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The ``opt`` choice over ``model`` with ``lr`` and ``weight_decay``, and its per-epoch StepLR."""
    optimizer = OPTIMIZERS[params["opt"]](
        model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"]
    )
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=LR_DECAY)
