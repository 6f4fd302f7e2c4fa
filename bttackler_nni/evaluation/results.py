"""A run's trial results as the evaluation metrics take them: ``(end_time, value)`` pairs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..nni_experiment import Experiment
from .metrics import Mode

Result = tuple[float, float]


def trial_results(experiment: Experiment) -> list[Result]:
    """``(end time, value)`` of every ended trial with a finite value.

    The value is the final result, or for a stopped trial the last metric it reported; the end
    time is seconds since the experiment started.
    """
    results = []
    for trial in experiment.trials:
        value = trial.last_value
        if trial.end is not None and value is not None and math.isfinite(value):
            results.append((trial.end, value))
    return results


def metric_mode(experiment: Experiment) -> Mode:
    """``"max"`` or ``"min"``, from the experiment's tuner optimize_mode."""
    return "min" if experiment.optimize_mode == "minimize" else "max"


def best_so_far(results: Sequence[Result], *, mode: str) -> list[Result]:
    """The running best value at each end time where it improved, in time order."""
    curve: list[Result] = []
    for end, value in sorted(results):
        if not curve or (value > curve[-1][1] if mode == "max" else value < curve[-1][1]):
            curve.append((end, value))
    return curve
