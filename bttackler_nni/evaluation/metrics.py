"""The two evaluation metrics of docs/method.md section 7: Top10HR and TSBA.

Both compare one run of an enhanced method ``i`` (e.g. Random + BTTackler) with one run of its
baseline ``j`` (Random) under the same time budget. A run is given as the final results of its
trials, ``(end_time, value)`` pairs: ``end_time`` is the wall-clock seconds since the experiment
started at which the trial ended, ``value`` its final metric (a stopped trial counts with the last
value it reported).

Inputs are checked once, up front: every item must be a pair of real numbers (``TypeError``
naming the side and index otherwise) and every end time finite and ``>= 0`` (``ValueError``).

Non-finite values are handled here, in one place: a trial whose value is NaN, ``+inf`` or ``-inf``
is dropped before either metric looks at it. NaN has no rank, and an infinite accuracy or loss is
a diverged or broken report, not a result; keeping ``-inf`` loss or ``+inf`` accuracy would make it
the best trial of the pool.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from ..diagnosis.direction import Direction

Result = tuple[float, float]


def top10_hit_ratio(
    enhanced: Iterable[Result],
    baseline: Iterable[Result],
    *,
    direction: Direction | str = Direction.MAXIMIZE,
    k: int = 10,
) -> float:
    """Share of the ``k`` best trials of both runs pooled that come from the enhanced run.

    Ties: trials with equal values are ranked by end time, earlier first; a trial of each side with
    the same value and the same end time ranks the baseline's first, so a tie never counts silently
    for the enhanced run.

    Args:
        enhanced: ``(end_time, value)`` of every trial of the enhanced run.
        baseline: ``(end_time, value)`` of every trial of the baseline run.
        direction: ``maximize`` when a higher value is better (accuracy), ``minimize`` when lower
            is (loss).
        k: how many of the best trials to look at; when the pool holds fewer trials with a finite
            value, all of them are used.

    Returns:
        The hit ratio in ``[0, 1]``; above 0.5 means the enhanced run wins.

    Raises:
        ValueError: ``direction`` or ``k`` is invalid, an end time is negative or not finite, or no
            trial of either run has a finite value (the ratio of an empty pool is undefined).
        TypeError: a run is not an iterable of ``(end_time, value)`` pairs of real numbers.

    Example:
        >>> enhanced = [(100.0, 0.91), (250.0, 0.88)]
        >>> baseline = [(120.0, 0.90), (300.0, 0.93), (400.0, 0.85)]
        >>> top10_hit_ratio(enhanced, baseline, k=2)  # 0.93 (baseline), 0.91 (enhanced)
        0.5
        >>> top10_hit_ratio(enhanced, baseline)  # only 5 trials: all of them count
        0.4
    """
    direction = Direction.of(direction)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    enhanced_results = _finite_results("enhanced", enhanced)
    baseline_results = _finite_results("baseline", baseline)

    # Sort key: (score, end time, from enhanced). Lower sorts first; False (baseline) before True.
    pool = [(direction.score(value), end_time, True) for end_time, value in enhanced_results]
    pool += [(direction.score(value), end_time, False) for end_time, value in baseline_results]
    if not pool:
        raise ValueError(
            "no trial of either run has a finite value; the hit ratio of an empty pool is undefined"
        )
    best = sorted(pool)[:k]
    return sum(from_enhanced for _, _, from_enhanced in best) / len(best)


def tsba(
    enhanced: Iterable[Result], baseline: Iterable[Result], *, direction: Direction | str = Direction.MAXIMIZE
) -> float | None:
    """Fraction of time the enhanced run saves in reaching the baseline run's best value.

    ``T_j`` is the end time of the baseline's best trial (the earliest one when several share the
    best value); ``T_i`` the earliest end time of an enhanced trial whose value is at least as good
    (equal counts). The result is ``1 - T_i / T_j``.

    Args:
        enhanced: ``(end_time, value)`` of every trial of the enhanced run.
        baseline: ``(end_time, value)`` of every trial of the baseline run.
        direction: ``maximize`` when a higher value is better (accuracy), ``minimize`` when lower
            is (loss).

    Returns:
        ``1 - T_i / T_j``: 0.4 means 40% of the time saved, a negative value that the enhanced run
        was slower. ``None`` when the enhanced run never reaches the baseline's best value (which is
        not the same as saving nothing).

    Raises:
        ValueError: ``direction`` is invalid, an end time is negative or not finite, the baseline has no
            trial with a finite value (there is nothing to reach), or ``T_j`` is 0 (the ratio is
            undefined; a trial cannot really end at the very start of the experiment).
        TypeError: a run is not an iterable of ``(end_time, value)`` pairs of real numbers.

    Example:
        >>> baseline = [(120.0, 0.90), (300.0, 0.93), (500.0, 0.93)]
        >>> tsba([(100.0, 0.91), (180.0, 0.94)], baseline)  # T_i = 180, T_j = 300
        0.4
        >>> tsba([(100.0, 0.91)], baseline) is None
        True
    """
    direction = Direction.of(direction)
    enhanced_results = _finite_results("enhanced", enhanced)
    baseline_results = _finite_results("baseline", baseline)
    if not baseline_results:
        raise ValueError("baseline has no trial with a finite value; there is no best value to reach")

    best = min(direction.score(value) for _, value in baseline_results)
    t_j = min(end_time for end_time, value in baseline_results if direction.score(value) == best)
    if t_j == 0:
        raise ValueError("the baseline's best trial ended at time 0; TSBA = 1 - T_i / T_j is undefined")
    reaching = [end_time for end_time, value in enhanced_results if direction.score(value) <= best]
    if not reaching:
        return None
    return 1 - min(reaching) / t_j


def _finite_results(name: str, results: Iterable[Result]) -> list[Result]:
    """The checked ``(end_time, value)`` pairs of ``results`` as floats, minus non-finite values."""
    if not isinstance(results, Iterable):
        raise TypeError(
            f"{name} must be an iterable of (end_time, value) pairs, got {type(results).__name__}"
        )
    kept = []
    for index, pair in enumerate(results):
        try:
            end_time, value = pair
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{index}] must be an (end_time, value) pair, got {pair!r}") from None
        if not (_is_real(end_time) and _is_real(value)):
            raise TypeError(f"{name}[{index}] must be a pair of real numbers, got {pair!r}")
        if not (math.isfinite(end_time) and end_time >= 0):
            raise ValueError(
                f"{name}[{index}] has end time {end_time!r}; end times are seconds since the "
                "experiment started, finite and >= 0"
            )
        if math.isfinite(value):
            kept.append((float(end_time), float(value)))
    return kept


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)
