"""Guards that veto a late or ranking stop of a trial that may hold its search's best result.

- :func:`near_own_best` (NMG, ULC: ``noise_k``): the trial's latest metric is within noise of its own best.
- :func:`leads_peers` (NMG, ULC, RNK: ``leader_share``): the trial's best so far is among the best
  results of the other trials.
"""

from __future__ import annotations

import math

import numpy as np

from ...record import DEFAULT
from ..history import TrialHistory
from ..settings import setting


def near_own_best(trial: TrialHistory, noise_k: float, reports: int) -> str | None:
    """The noise guard: why the trial's latest ``default`` metric counts as at its own best, or ``None``.

    The noise is :meth:`~..history.TrialHistory.metric_noise` over the last ``reports`` reports;
    the guard holds when the latest metric is no further than ``noise_k`` times that from the best
    the trial ever reported (in the metric's direction). ``noise_k = 0`` turns it off; a trial
    whose metric is missing or not finite is never guarded.
    """
    metric = trial.series(DEFAULT)
    if noise_k == 0 or metric.size < 2 or not np.isfinite(metric[-1]):
        return None
    best = trial.best_metric()
    assert best is not None  # the latest metric is finite
    latest = float(metric[-1])
    gap = trial.direction.score(latest) - trial.direction.score(best)
    noise = trial.metric_noise(reports)
    if gap > noise_k * noise:
        return None
    return (
        f"latest default {latest:.4g} is within noise_k {noise_k:g} x its recent epoch-to-epoch change "
        f"{noise:.3g} of its best {best:.4g}"
    )


def leader_share_setting() -> float:
    """The ``leader_share`` setting of each indicator that :func:`leads_peers` guards."""
    return setting(  # type: ignore[no-any-return]
        0.1, ge=0, le=1, help="no stop while at most this share of other trials beat its best; 0 = off"
    )


def leads_peers(trial: TrialHistory, leader_share: float) -> str | None:
    """The leader guard: why the trial's best metric so far counts as one of its search's best, or ``None``.

    The guard holds when no more than ``leader_share`` of the other trials' best ``default``
    metrics (each over the epochs it reported) beat the trial's best so far, and only with at least
    ``1 / leader_share`` other trials (so that the share holds at least one place). Such a trial is
    where the search's best results come from: a late stop saves a few of its epochs and can cost
    its result, which a stopped trial reports from its last epoch, not its best (a plateau has no
    noise, so the noise guard cannot hold a trial whose best epoch stood above its plateau).
    ``leader_share = 0`` turns it off.
    """
    if leader_share == 0 or trial.peer_metrics is None:
        return None
    best = trial.best_metric()
    if best is None:
        return None
    better, others = trial.peer_metrics.standing(best, excluding=trial.trial)
    if others < math.ceil(1 / leader_share) or better > leader_share * others:
        return None
    return (
        f"its best default {best:.4g} so far is beaten by the best of {better} of the {others} "
        f"other trials (share {better / others:.2f} <= leader_share {leader_share:g})"
    )
