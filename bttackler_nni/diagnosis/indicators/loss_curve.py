"""Loss-curve indicators: passive (PLC) and unexpected (ULC) loss changes, and no more gain (NMG).

ULC and NMG judge a trial late, when it may already be near its best result; their noise guard
(``noise_k``) keeps them from stopping a trial whose metric is still within noise of its own best, and
their leader guard (``leader_share``) one whose best is among its search's best results
(:mod:`.guards`), because such a stop can cost the search its best result for a saving of a few epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...record import TRAIN_LOSS, VAL_LOSS
from ..history import TrialHistory
from ..settings import Stage, setting
from .base import Firing, Indicator, IndicatorSettings, Kind
from .guards import leader_share_setting, leads_peers, near_own_best


def _least_squares_slope(values: np.ndarray) -> float:
    """Slope of the least-squares line through ``values`` at x = 0, 1, 2, ..."""
    x = np.arange(values.size, dtype=np.float64)
    x -= x.mean()
    return float(np.dot(x, values - values.mean()) / np.dot(x, x))


class PassiveLossChanges(Indicator):
    """PLC (slow convergence): the train loss hardly moves.

    Fires with at least ``min_epochs`` train losses when ``mean |L[t]-L[t-1]| < rel_change_min * |L[0]|``.
    """

    id = "PLC"
    title = "Passive Loss Changes"

    @dataclass(frozen=True)
    class Settings(IndicatorSettings):
        stage: Stage = Stage.FIRST_HALF
        protected: bool = True
        min_epochs: int = setting(3, ge=2, help="train losses needed before it may fire")
        rel_change_min: float = setting(
            0.01, gt=0, help="mean epoch-to-epoch change, as a share of |L[0]|, below which it fires"
        )

    settings: Settings

    def check(self, trial: TrialHistory) -> Firing | None:
        losses = trial.finite_series(TRAIN_LOSS)
        if losses.size < self.settings.min_epochs:
            return None
        mean_change = float(np.mean(np.abs(np.diff(losses))))
        limit = self.settings.rel_change_min * abs(float(losses[0]))
        if mean_change < limit:
            return self.firing("mean |L[t]-L[t-1]| < rel_change_min * |L[0]|", mean_change, limit)
        return None


class UnexpectedLossChanges(Indicator):
    """ULC (heavy oscillation): over the last ``w`` losses, a rising trend and a large spread.

    ``w = max(min_window, round(max_epochs * window_fraction))``. Fires when, for the train or the
    validation loss, the least-squares slope relative to the window mean is at least ``slope_min``
    per epoch and the coefficient of variation exceeds ``cv_min``. The released code tested the
    absolute slope (scale-dependent); this one is relative to the window mean. Vetoed by the noise
    guard (:func:`near_own_best` over the window) while the metric is near the trial's best.
    """

    id = "ULC"
    title = "Unexpected Loss Changes"

    @dataclass(frozen=True)
    class Settings(IndicatorSettings):
        stage: Stage = Stage.SECOND_HALF
        min_window: int = setting(5, ge=3, help="smallest window of recent losses examined")
        window_fraction: float = setting(0.25, gt=0, le=1, help="window as a share of max_epochs")
        slope_min: float = setting(
            0.01, help="relative slope per epoch at or above which the trend counts as rising"
        )
        cv_min: float = setting(0.2, ge=0, help="coefficient of variation above which the window oscillates")
        noise_k: float = setting(
            4.0, ge=0, help="no stop while the metric is within noise_k x its noise of its best; 0 = off"
        )
        leader_share: float = leader_share_setting()

    settings: Settings

    def window(self, max_epochs: int | None) -> int:
        settings = self.settings
        scaled = math.floor(max_epochs * settings.window_fraction + 0.5) if max_epochs else 0
        return max(settings.min_window, scaled)

    def check(self, trial: TrialHistory) -> Firing | None:
        width = self.window(trial.max_epochs)
        for field in (TRAIN_LOSS, VAL_LOSS):
            losses = trial.finite_series(field)
            if losses.size < width:
                continue
            recent = losses[-width:]
            mean = float(np.mean(recent))
            if mean == 0:
                continue
            slope = _least_squares_slope(recent)
            relative_slope = slope / abs(mean)
            variation = float(np.std(recent)) / abs(mean)
            if relative_slope >= self.settings.slope_min and variation > self.settings.cv_min:
                rule = (
                    f"{field} over the last {width} epochs: slope/mean {relative_slope:.3g} >= slope_min "
                    f"{self.settings.slope_min:g} and CV > cv_min"
                )
                return self.firing(rule, variation, self.settings.cv_min)
        return None

    def veto(self, trial: TrialHistory) -> str | None:
        return near_own_best(trial, self.settings.noise_k, self.window(trial.max_epochs)) or leads_peers(
            trial, self.settings.leader_share
        )


class NoMoreGain(Indicator):
    """NMG (converged): the mean of the last ``window`` losses is above the mean of the ``window`` before.

    Uses the validation loss, or the train loss when the trial reports none. Labelled
    "converged", not a problem: it stops runs that have stopped improving. Vetoed by the noise
    guard (:func:`near_own_best` over the last ``2 * window`` reports) while the metric is near the
    trial's best: a rising loss alone does not mean the metric got worse.
    """

    id = "NMG"
    title = "No More Gain"
    kind = Kind.CONVERGED

    @dataclass(frozen=True)
    class Settings(IndicatorSettings):
        stage: Stage = Stage.SECOND_HALF
        protected: bool = True
        min_epochs: int = setting(
            6, ge=2, help="losses needed before it may fire (at least 2 * window are used)"
        )
        window: int = setting(3, ge=1, help="losses averaged on each side of the comparison")
        min_delta: float = setting(0.0, ge=0, help="relative rise the recent mean must exceed, 0 = any rise")
        noise_k: float = setting(
            4.0, ge=0, help="no stop while the metric is within noise_k x its noise of its best; 0 = off"
        )
        leader_share: float = leader_share_setting()

    settings: Settings

    def check(self, trial: TrialHistory) -> Firing | None:
        settings = self.settings
        field = VAL_LOSS if trial.latest.val_loss is not None else TRAIN_LOSS
        losses = trial.finite_series(field)
        if losses.size < max(settings.min_epochs, 2 * settings.window):
            return None
        recent = float(np.mean(losses[-settings.window :]))
        before = float(np.mean(losses[-2 * settings.window : -settings.window]))
        limit = before + settings.min_delta * abs(before)
        if recent > limit:
            rule = f"mean of the last {settings.window} {field} > mean of the {settings.window} before"
            return self.firing(rule, recent, limit)
        return None

    def veto(self, trial: TrialHistory) -> str | None:
        return near_own_best(trial, self.settings.noise_k, 2 * self.settings.window) or leads_peers(
            trial, self.settings.leader_share
        )
