"""The task the framework examples share: an MLP on scikit-learn's digits (shipped with it, no download).

``examples/<framework>/*.py`` put this folder on ``sys.path`` and import it; so do the tests (pytest's
``pythonpath``), whose runs then train exactly what the examples train.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def split_digits(seed: int = 0) -> Split:
    """80/20 train/validation split of the 1,797 8x8 images, pixels scaled to [0, 1]."""
    x, y = load_digits(return_X_y=True)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x, y = torch.tensor(x / 16, dtype=torch.float32)[order], torch.tensor(y)[order]
    cut = int(0.8 * len(x))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def mlp(depth: int, width: int = 64, seed: int = 0) -> nn.Sequential:
    """``depth`` hidden ReLU layers of ``width`` units and a 10-way output."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = 64
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, 10))


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Split,
    generator: torch.Generator,
    *,
    batch_size: int = 64,
    before_step: Callable[[int], None] | None = None,
) -> tuple[float, float, float]:
    """One epoch; returns the mean train loss, the validation loss and accuracy.

    ``before_step(batch)`` runs between each backward pass and optimizer step (the tests use it to
    damage gradients).
    """
    x_train, y_train, x_val, y_val = data
    model.train()
    order, total = torch.randperm(len(x_train), generator=generator), torch.zeros(())
    for batch, start in enumerate(range(0, len(x_train), batch_size)):
        index = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x_train[index]), y_train[index])
        loss.backward()
        if before_step is not None:
            before_step(batch)
        optimizer.step()
        total += loss.detach() * len(index)
    model.eval()
    with torch.no_grad():
        logits = model(x_val)
        val_loss = nn.functional.cross_entropy(logits, y_val).item()
        val_acc = (logits.argmax(1) == y_val).float().mean().item()
    return total.item() / len(x_train), val_loss, val_acc


class DigitsClassifier(nn.Module):
    """The MLP in the shape a Hugging Face ``Trainer`` takes: ``forward(x, labels)`` returns the loss."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.net = mlp(depth)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.net(x)
        if labels is None:
            return {"logits": logits}
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


class DigitsExamples(torch.utils.data.Dataset):
    """Images and labels as the ``Trainer`` batches them: dicts of ``x`` and ``labels``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


def accuracy(prediction: Any) -> dict[str, float]:
    """``compute_metrics`` for the ``Trainer``: the evaluation's accuracy (``eval_accuracy``)."""
    return {"accuracy": float((np.argmax(prediction.predictions, 1) == prediction.label_ids).mean())}
