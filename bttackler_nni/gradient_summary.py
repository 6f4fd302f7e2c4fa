"""Per-epoch summary of per-layer gradient statistics (docs/method.md section 3, "Derived").

Both sides use this one definition: the Reporter to put plottable scalars into each record, the
diagnosis engine to recompute them from the per-layer lists it receives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GradientSummary:
    """What the indicators need from one epoch's per-layer statistics.

    Attributes:
        grad_median: ``G``, the median over layers of ``g[l]`` (mean absolute gradient).
        ratio_median: ``Q``, the median of the adjacent quotients ``q[l] = g[l] / g[l+1]`` (input
            side over output side, forward order), or ``None`` with fewer than two usable layers.
        ratio_overflow: whether some quotient is not finite.
        zero_grad_layers: indices of layers whose ``g[l]`` is exactly 0.
        zero_share_median: ``Z``, the median over layers of the exactly-zero gradient share, or
            ``None`` when no zero shares were given.
    """

    grad_median: float
    ratio_median: float | None
    ratio_overflow: bool
    zero_grad_layers: tuple[int, ...]
    zero_share_median: float | None


def summarize_gradients(grad: np.ndarray, zero_share: np.ndarray | None = None) -> GradientSummary:
    """Summarise one epoch's per-layer gradient magnitudes ``g`` and zero shares ``z``.

    Quotients are taken only between adjacent layers whose ``g`` are both positive and finite: a
    zero ``g`` is a vanishing-gradient finding (ERG) and a non-finite one an abnormal value (AGV),
    so neither is reported a second time as an exploding quotient. A quotient can then be
    non-finite only by overflow, which EAG reports.

    Args:
        grad: ``g[l]`` in forward order; must be non-empty.
        zero_share: ``z[l]`` in the same order, or ``None``.
    """
    grad = np.asarray(grad, dtype=np.float64)
    usable = np.isfinite(grad) & (grad > 0)
    pairs = usable[:-1] & usable[1:]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        quotients = grad[:-1][pairs] / grad[1:][pairs]
    finite_quotients = quotients[np.isfinite(quotients)]
    return GradientSummary(
        grad_median=float(np.median(grad)),
        ratio_median=float(np.median(finite_quotients)) if finite_quotients.size else None,
        ratio_overflow=bool(finite_quotients.size < quotients.size),
        zero_grad_layers=tuple(int(i) for i in np.flatnonzero(grad == 0)),
        zero_share_median=(
            float(np.median(zero_share)) if zero_share is not None and len(zero_share) else None
        ),
    )
