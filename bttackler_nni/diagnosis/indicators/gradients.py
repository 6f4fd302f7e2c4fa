"""Gradient indicators: abnormal values (AGV), exploding (EAG) and vanishing (ERG) gradients."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..history import TrialHistory
from ..settings import Stage, setting
from .base import Firing, Indicator, IndicatorSettings


class AbnormalGradientValues(Indicator):
    """AGV: a NaN or +-Inf in this report's gradients, losses, metrics or statistics.

    Fires on the Reporter's ``nonfinite`` flag (set when any loss value or gradient entry of the
    epoch was not finite) and on any non-finite number the report itself carries, so a plain NNI
    trial that reports a NaN metric is caught as well.
    """

    id = "AGV"
    title = "Abnormal Gradient Values"

    def check(self, trial: TrialHistory) -> Firing | None:
        latest = trial.latest
        if latest.nonfinite:
            return self.firing("nonfinite flag: a loss or gradient of the epoch was NaN or Inf", 1.0, None)
        for key, value in latest.values_that_must_be_finite():
            if not math.isfinite(value):
                return self.firing(f"{key} is not finite", value, None)
        return None


class ExplodingGradients(Indicator):
    """EAG (exploding gradients): ``G > grad_max``, ``Q > ratio_max``, or a non-finite quotient."""

    id = "EAG"
    title = "Exponentially Amplified Gradients"

    @dataclass(frozen=True)
    class Settings(IndicatorSettings):
        grad_max: float = setting(1e4, gt=0, help="fires when the median mean-|gradient| G exceeds it")
        ratio_max: float = setting(
            1e3, gt=0, help="fires when the median adjacent-layer quotient Q exceeds it"
        )

    settings: Settings

    def check(self, trial: TrialHistory) -> Firing | None:
        latest, settings = trial.latest, self.settings
        if latest.grad_median is not None and latest.grad_median > settings.grad_max:
            return self.firing("G > grad_max", latest.grad_median, settings.grad_max)
        if latest.grad_ratio_median is not None and latest.grad_ratio_median > settings.ratio_max:
            return self.firing("Q > ratio_max", latest.grad_ratio_median, settings.ratio_max)
        if latest.grad_ratio_overflow:
            return self.firing("an adjacent-layer quotient q is not finite", math.inf, None)
        return None


class VanishingGradients(Indicator):
    """ERG (vanishing gradients): ``G < grad_min``, ``Q < ratio_min``, or a layer with ``g[l] == 0``."""

    id = "ERG"
    title = "Exponentially Reduced Gradients"

    @dataclass(frozen=True)
    class Settings(IndicatorSettings):
        stage: Stage = Stage.FIRST_HALF
        protected: bool = True
        grad_min: float = setting(1e-5, ge=0, help="fires when the median mean-|gradient| G is below it")
        ratio_min: float = setting(
            1e-4, ge=0, help="fires when the median adjacent-layer quotient Q is below it"
        )

    settings: Settings

    def check(self, trial: TrialHistory) -> Firing | None:
        latest, settings = trial.latest, self.settings
        if latest.grad_median is not None and latest.grad_median < settings.grad_min:
            return self.firing("G < grad_min", latest.grad_median, settings.grad_min)
        if latest.grad_ratio_median is not None and latest.grad_ratio_median < settings.ratio_min:
            return self.firing("Q < ratio_min", latest.grad_ratio_median, settings.ratio_min)
        if latest.zero_grad_layers:
            first = latest.layer_name(latest.zero_grad_layers[0])
            count = len(latest.zero_grad_layers)
            return self.firing(f"g[l] == 0 for {count} layer(s), first {first}", 0.0, 0.0)
        return None
