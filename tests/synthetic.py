"""Builders of synthetic epoch records and histories for the engine's unit tests."""

from __future__ import annotations

from typing import Any

HEALTHY_GRAD = [2e-3, 3e-3, 4e-3]
HEALTHY_ZERO_SHARE = [0.05, 0.1, 0.02]


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
