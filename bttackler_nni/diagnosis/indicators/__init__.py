"""The indicators of docs/method.md, section 4, one small class each: the paper's seven quality
indicators and RNK, which ranks a healthy trial against its peers.

``INDICATORS`` is the registry the engine iterates; its order is the order in which a stop's
reason is chosen when several indicators fire on the same report. RNK comes last: the engine lets
the diagnosis veto it only when no problem indicator fired before it on the same report.
"""

from __future__ import annotations

from ..settings import Stage
from .activity import LowActivationRatio
from .base import Firing, Indicator, IndicatorSettings, Kind
from .gradients import AbnormalGradientValues, ExplodingGradients, VanishingGradients
from .loss_curve import NoMoreGain, PassiveLossChanges, UnexpectedLossChanges
from .rank import RankedBelowPeers

INDICATORS: tuple[type[Indicator], ...] = (
    AbnormalGradientValues,
    ExplodingGradients,
    VanishingGradients,
    LowActivationRatio,
    PassiveLossChanges,
    UnexpectedLossChanges,
    NoMoreGain,
    RankedBelowPeers,
)
"""Every indicator class, in priority order."""

INDICATORS_BY_ID: dict[str, type[Indicator]] = {cls.id: cls for cls in INDICATORS}

__all__ = [
    "INDICATORS",
    "INDICATORS_BY_ID",
    "AbnormalGradientValues",
    "ExplodingGradients",
    "Firing",
    "Indicator",
    "IndicatorSettings",
    "Kind",
    "LowActivationRatio",
    "NoMoreGain",
    "PassiveLossChanges",
    "RankedBelowPeers",
    "Stage",
    "UnexpectedLossChanges",
    "VanishingGradients",
]
