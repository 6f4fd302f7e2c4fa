"""Dead-unit indicator: low activation ratio (LAR, dying ReLU)."""

from __future__ import annotations

from dataclasses import dataclass

from ..history import TrialHistory
from ..settings import setting
from .base import Firing, Indicator, IndicatorSettings


class LowActivationRatio(Indicator):
    """LAR (dying ReLU): from epoch ``start_epoch`` on, ``Z > zero_share_max`` or ``A > dead_share_max``.

    ``Z`` is the median over layers of the share of exactly-zero gradient entries (a unit that
    never fires passes no gradient to its weights); ``A`` the median share of non-positive outputs
    of ReLU-family activations, present only when the Reporter tracks activations.
    """

    id = "LAR"
    title = "Low Activation Ratio"

    @dataclass(frozen=True)
    class Settings(IndicatorSettings):
        protected: bool = True
        start_epoch: int = setting(4, ge=0, help="first 0-based epoch at which it may fire")
        zero_share_max: float = setting(
            0.5, ge=0, le=1, help="fires when the median zero-gradient share Z exceeds it"
        )
        dead_share_max: float = setting(
            0.7, ge=0, le=1, help="fires when the median dead-activation share exceeds it"
        )

    settings: Settings

    def first_epoch(self) -> int:
        return self.settings.start_epoch

    def check(self, trial: TrialHistory) -> Firing | None:
        latest, settings = trial.latest, self.settings
        if latest.zero_grad_share is not None and latest.zero_grad_share > settings.zero_share_max:
            return self.firing("Z > zero_share_max", latest.zero_grad_share, settings.zero_share_max)
        dead = latest.dead_activation_share
        if dead is not None and dead > settings.dead_share_max:
            return self.firing("dead activation share > dead_share_max", dead, settings.dead_share_max)
        return None
