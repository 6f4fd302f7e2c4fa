"""Builders of synthetic epoch records and histories for the engine's unit tests."""

from __future__ import annotations

import math
from typing import Any

HEALTHY_GRAD = [2e-3, 3e-3, 4e-3]
HEALTHY_ZERO_SHARE = [0.05, 0.1, 0.02]
OSCILLATING_UP = [1.0, 0.9, 0.8, 0.75, 0.7, 0.65, 0.6, 0.58, 0.56, 0.55, 0.5, 0.9, 0.4, 1.3, 0.6, 1.6]
"""Train losses that ULC fires on: falling, then oscillating ever higher in the second half."""


def record(
    epoch: int,
    *,
    max_epochs: int | None = 20,
    train_loss: float | None = None,
    val_loss: float | None = None,
    grad: list[float] | None = None,
    zero_share: list[float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One Reporter-shaped record; healthy defaults (a falling loss, moderate gradients)."""
    loss = train_loss if train_loss is not None else 2.3 * 0.8**epoch
    out: dict[str, Any] = {
        "default": 0.1 + 0.04 * epoch,
        "epoch": epoch,
        "train_loss": loss,
        "layers": {
            "names": [f"layer{i}" for i in range(len(grad or HEALTHY_GRAD))],
            "grad": list(grad if grad is not None else HEALTHY_GRAD),
            "zero_share": list(zero_share if zero_share is not None else HEALTHY_ZERO_SHARE),
        },
    }
    if max_epochs is not None:
        out["max_epochs"] = max_epochs
    if val_loss is not None:
        out["val_loss"] = val_loss
    out.update(extra)
    return out


def healthy_history(epochs: int, max_epochs: int = 20) -> list[dict[str, Any]]:
    """A trial that trains well: loss falls ~20% per epoch, val loss keeps falling."""
    return [record(e, max_epochs=max_epochs, val_loss=2.4 * 0.85**e) for e in range(epochs)]


def with_losses(
    train: list[float], val: list[float] | None = None, max_epochs: int = 20
) -> list[dict[str, Any]]:
    """A history with the given loss curves and healthy gradients."""
    return [
        record(e, max_epochs=max_epochs, train_loss=loss, val_loss=None if val is None else val[e])
        for e, loss in enumerate(train)
    ]


def metric_follows_loss(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``history`` with each ``default`` an accuracy-like ``1 / (1 + loss)`` of the record's validation loss
    (train loss without one): a trial whose loss goes wrong loses ground on its result too, so the noise
    guard of ULC and NMG does not hold it at its best."""
    return [{**r, "default": 1 / (1 + r.get("val_loss", r["train_loss"]))} for r in history]


def _scaled(factor: float) -> list[float]:
    return [g * factor for g in HEALTHY_GRAD]


PATHOLOGIES: dict[str, list[dict[str, Any]]] = {
    # name: a 12-16-epoch history (max_epochs 20) with one problem, in the shapes the indicator tests use
    "healthy": healthy_history(12),
    "nan_gradient": [
        record(e, grad=[2e-3, math.nan, 4e-3], train_loss=math.nan) if e >= 3 else record(e)
        for e in range(12)
    ],
    "exploding_median": [record(e, grad=_scaled(100.0 ** max(0, e - 1))) for e in range(12)],
    "exploding_quotient": [record(e, grad=[25.0, 5e-3, 1e-6] if e >= 2 else None) for e in range(12)],
    "vanishing_median": [record(e, grad=_scaled(0.01 ** max(0, e - 1))) for e in range(12)],
    "vanishing_quotient": [
        record(e, grad=[1e-10, 1e-5, 1.0, 1e5] if e >= 1 else [2e-3, 3e-3, 4e-3, 5e-3], zero_share=[0.05] * 4)
        for e in range(12)
    ],
    "dead_layer": [record(e, grad=[1e-3, 0.0, 1e-3] if e >= 1 else None) for e in range(12)],
    "dead_units": [record(e, zero_share=[0.8, 0.8, 0.8]) for e in range(12)],
    "flat_loss": with_losses([2.30 - 0.001 * e for e in range(12)]),
    "oscillating_loss": metric_follows_loss(with_losses(OSCILLATING_UP)),
    "no_more_gain": metric_follows_loss(
        with_losses(
            [1.0 - 0.05 * e for e in range(12)],
            [1.0, 0.8, 0.6, 0.5, 0.45, 0.42, 0.40, 0.41, 0.43, 0.44, 0.45, 0.46],
        )
    ),
}
"""Histories whose epoch statistics show each indicator's problem (and one healthy trial).

``nan_gradient``'s losses are NaN from the first NaN gradient on, as in real training, where the
optimizer step spreads a NaN gradient into the weights. Gradient magnitudes stay within float32.
"""
