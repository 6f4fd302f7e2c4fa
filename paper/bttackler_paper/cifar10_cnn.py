"""Cifar10CNN, the paper's first task: a 4-conv, 3-linear image classifier and its builder.

Layout (no padding anywhere, so each ``k x k`` convolution trims ``k - 1`` pixels)::

    conv1 -> [BN] -> act -> conv2 -> [BN] -> act -> maxpool 2
    conv3 -> [BN] -> act -> conv4 -> [BN] -> act -> maxpool 2
    flatten -> linear(mlp_f_num) -> act -> dropout -> linear(mlp_f_num) -> act -> dropout -> linear(10)

With ``conv_k_size`` 3 a 32 px image leaves 5 x 5 maps, with 2 it leaves 6 x 6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from bttackler_paper.cifar10_common import ACTIVATIONS, CLASSIFIER_SCHEMA, optimization
from bttackler_paper.errors import ParameterError
from bttackler_paper.params import Choice, Integer, Spec, validate

SCHEMA: dict[str, Spec] = {
    "conv1_k_num": Integer(1),
    "conv2_k_num": Integer(1),
    "conv3_k_num": Integer(1),
    "conv4_k_num": Integer(1),
    "conv_k_size": Integer(1),
    "batch_norm": Choice((0, 1)),
    **CLASSIFIER_SCHEMA,
}
"""Every key of the paper's Cifar10CNN search space, with what a buildable value must satisfy."""

DEFAULT_PARAMS: dict[str, Any] = {
    "conv1_k_num": 32,
    "conv2_k_num": 64,
    "conv3_k_num": 128,
    "conv4_k_num": 128,
    "conv_k_size": 3,
    "mlp_f_num": 512,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "act": "ReLU",
    "opt": "Adam",
    "batch_size": 90,
    "batch_norm": 1,
    "drop_rate": 0.3,
}
"""A sound configuration inside the search space, used when a trial is run without a tuner."""


class Cifar10CNN(nn.Module):
    """The paper's CIFAR-10 CNN; input ``(N, 3, 32, 32)`` normalised images, output ``(N, 10)`` logits.

    Args:
        channels: output channels of the four convolutions.
        kernel_size: side of every convolution kernel (the paper uses 2 or 3).
        mlp_features: width of the two hidden linear layers.
        activation: activation module class, used after every conv and hidden linear layer.
        batch_norm: add BatchNorm after every convolution (before the activation).
        drop_rate: dropout probability after each hidden linear layer.
        image_size: side of the square input images.
        classes: number of output classes.

    Raises:
        ValueError: when the kernel is so large that no pixel is left before the linear layers.
    """

    def __init__(
        self,
        channels: Sequence[int],
        kernel_size: int,
        mlp_features: int,
        activation: type[nn.Module],
        *,
        batch_norm: bool,
        drop_rate: float,
        image_size: int = 32,
        classes: int = 10,
    ) -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"Cifar10CNN needs 4 conv channel counts, got {len(channels)}")
        side = image_size
        for _ in range(2):  # two unpadded convolutions, then a 2x2 max-pool
            side = (side - 2 * (kernel_size - 1)) // 2
        if side < 1:
            raise ValueError(f"conv_k_size={kernel_size} leaves no pixels of a {image_size} px image")
        layers: list[nn.Module] = []
        in_channels = 3
        for index, out_channels in enumerate(channels):
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(activation())
            if index % 2 == 1:
                layers.append(nn.MaxPool2d(2))
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * side * side, mlp_features),
            activation(),
            nn.Dropout(drop_rate),
            nn.Linear(mlp_features, mlp_features),
            activation(),
            nn.Dropout(drop_rate),
            nn.Linear(mlp_features, classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a Cifar10CNN parameter dict (keys as in the paper's search space); see :func:`.params.validate`.

    Raises:
        ParameterError: naming every missing, unknown or invalid key.
    """
    return validate("Cifar10CNN", SCHEMA, params)


def build(
    params: Mapping[str, Any], device: torch.device | str = "cpu"
) -> tuple[Cifar10CNN, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Model, optimizer (``opt``, ``lr``, ``weight_decay``) and StepLR(1, 0.7) from an NNI parameter dict.

    Raises:
        ParameterError: naming every missing, unknown or invalid key.
    """
    p = validate_params(params)
    try:
        model = Cifar10CNN(
            [p["conv1_k_num"], p["conv2_k_num"], p["conv3_k_num"], p["conv4_k_num"]],
            p["conv_k_size"],
            p["mlp_f_num"],
            ACTIVATIONS[p["act"]],
            batch_norm=bool(p["batch_norm"]),
            drop_rate=p["drop_rate"],
        ).to(device)
    except ValueError as error:
        raise ParameterError(f"invalid Cifar10CNN parameters: {error}") from error
    optimizer, scheduler = optimization(model, p)
    return model, optimizer, scheduler
