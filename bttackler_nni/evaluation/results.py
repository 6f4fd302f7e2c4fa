"""A run's trial results as the evaluation metrics take them: ``(end_time, value)`` pairs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..diagnosis.direction import Direction
from ..experiments.store import Experiment

Result = tuple[float, float]


def trial_results(experiment: Experiment, until: float | None = None) -> list[Result]:
    """``(end time, value)`` of every ended trial with a finite value.

    The value is the final result, or for a stopped trial the last metric it reported; the end
    time is seconds since the experiment started. With ``until``, only trials that ended within
    that many seconds count (a wall-clock budget shared by the runs being compared).
    """
    results = []
    for trial in experiment.trials:
        end, value = trial.end, trial.last_value
        if end is None or value is None or not math.isfinite(value) or (until is not None and end > until):
            continue
        results.append((end, value))
    return results


def best_so_far(results: Sequence[Result], *, direction: Direction) -> list[Result]:
    """The running best value at each end time where it improved, in time order."""
    curve: list[Result] = []
    for end, value in sorted(results):
        if not curve or direction.better(value, curve[-1][1]):
            curve.append((end, value))
    return curve
