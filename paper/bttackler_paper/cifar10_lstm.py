"""Cifar10LSTM, the paper's second task: a two-layer LSTM reading each image as a sequence, and its builder.

The input is :func:`bttackler_paper.cifar10.as_sequence`'s view of a normalised image: 96 time
steps of 32 values (the 32 rows of the red plane, then of the green, then of the blue). Layout::

    LSTM(32 -> h) -> LSTM(h -> h) -> last step -> linear(mlp_f_num) -> act -> dropout -> linear(10)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from bttackler_paper.cifar10_common import ACTIVATIONS, CLASSIFIER_SCHEMA, optimization
from bttackler_paper.params import Integer, Spec, validate

SCHEMA: dict[str, Spec] = {"hidden_size": Integer(1), **CLASSIFIER_SCHEMA}
"""Every key of the paper's Cifar10LSTM search space, with what a buildable value must satisfy."""

DEFAULT_PARAMS: dict[str, Any] = {
    "hidden_size": 128,
    "mlp_f_num": 256,
    "lr": 1e-3,
    "weight_decay": 1e-5,
    "act": "ReLU",
    "opt": "Adam",
    "batch_size": 90,
    "drop_rate": 0.2,
}
"""A sound configuration inside the search space, used when a trial is run without a tuner."""


class Cifar10LSTM(nn.Module):
    """Sequence classifier; input ``(N, steps, features)`` (``(N, 96, 32)`` here), output ``(N, 10)`` logits.

    Args:
        hidden_size: width ``h`` of both LSTM layers.
        mlp_features: width of the hidden linear layer.
        activation: activation module class after the hidden linear layer.
        drop_rate: dropout probability after that activation.
        input_size: features per time step.
        classes: number of output classes.
    """

    def __init__(
        self,
        hidden_size: int,
        mlp_features: int,
        activation: type[nn.Module],
        *,
        drop_rate: float,
        input_size: int = 32,
        classes: int = 10,
    ) -> None:
        super().__init__()
        self.lstm1 = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.lstm2 = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden_size, mlp_features),
            activation(),
            nn.Dropout(drop_rate),
            nn.Linear(mlp_features, classes),
        )

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm1(sequences)
        hidden, _ = self.lstm2(hidden)
        return self.head(hidden[:, -1])


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a Cifar10LSTM parameter dict (keys as in the paper's search space); see :func:`.params.validate`.

    Raises:
        ParameterError: naming every missing, unknown or invalid key.
    """
    return validate("Cifar10LSTM", SCHEMA, params)


def build(
    params: Mapping[str, Any], device: torch.device | str = "cpu"
) -> tuple[Cifar10LSTM, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Model, optimizer (``opt``, ``lr``, ``weight_decay``) and StepLR(1, 0.7) from an NNI parameter dict.

    The paper gives no schedule for this task; it shares Cifar10CNN's.

    Raises:
        ParameterError: naming every missing, unknown or invalid key.
    """
    p = validate_params(params)
    model = Cifar10LSTM(p["hidden_size"], p["mlp_f_num"], ACTIVATIONS[p["act"]], drop_rate=p["drop_rate"]).to(
        device
    )
    optimizer, scheduler = optimization(model, p)
    return model, optimizer, scheduler
