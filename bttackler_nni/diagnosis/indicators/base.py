"""What every indicator is made of: settings, when it applies, its check, and the firing it returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from ..history import TrialHistory
from ..settings import Stage, ValidatedSettings


class Kind(str, Enum):
    """How a stop is labelled in every report: a training problem, a run that has converged, or a
    healthy run that is hopeless (far behind its peers)."""

    PROBLEM = "problem"
    CONVERGED = "converged"
    HOPELESS = "hopeless"


@dataclass(frozen=True)
class IndicatorSettings(ValidatedSettings):
    """Settings every indicator has; subclasses add their thresholds and may change these defaults.

    Attributes:
        enabled: whether the indicator runs at all.
        stage: when in the planned epochs it may fire.
        protected: whether cross-trial protection (a trial among the best losses) silences it.
    """

    enabled: bool = True
    stage: Stage = Stage.ALWAYS
    protected: bool = False


@dataclass(frozen=True)
class Firing:
    """One indicator's finding on one report: everything a person needs to read why.

    Attributes:
        indicator: the indicator's id, e.g. ``PLC``.
        title: its name, e.g. ``Passive Loss Changes``.
        kind: a training problem, or a converged run.
        rule: the rule that held, in words and symbols.
        value: the observed value the rule compared, when there is one.
        threshold: what it was compared with, when there is one.
    """

    indicator: str
    title: str
    kind: Kind
    rule: str
    value: float | None
    threshold: float | None


class Indicator(ABC):
    """One quality indicator of docs/method.md, section 4.

    Subclasses set the class attributes and implement :meth:`check`, a pure function of the
    trial's history. Whether the indicator is evaluated at all on a report is decided in one
    place, :meth:`applies`: its stage, its first epoch (:meth:`first_epoch`) and protection.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    kind: ClassVar[Kind] = Kind.PROBLEM
    Settings: ClassVar[type[IndicatorSettings]] = IndicatorSettings

    def __init__(self, settings: IndicatorSettings | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()

    def first_epoch(self) -> int:
        """The first 0-based epoch at which the indicator may fire (its settings may move it)."""
        return 0

    def applies(self, trial: TrialHistory, protected: bool) -> bool:
        """Whether the indicator is evaluated on the trial's latest report.

        Not when protection shields the trial from it, not before :meth:`first_epoch`, and not
        outside its stage; a half-stage never applies while the trial's planned epochs are unknown.
        """
        settings = self.settings
        if (protected and settings.protected) or trial.epoch < self.first_epoch():
            return False
        if settings.stage is Stage.ALWAYS:
            return True
        if trial.max_epochs is None:
            return False
        in_first_half = trial.epoch < trial.max_epochs / 2
        return in_first_half if settings.stage is Stage.FIRST_HALF else not in_first_half

    @abstractmethod
    def check(self, trial: TrialHistory) -> Firing | None:
        """Return a :class:`Firing` when the indicator's rule holds on the latest report, else ``None``."""

    def veto(self, trial: TrialHistory) -> str | None:
        """Why the trial gets more time although the rule held, in one line; ``None`` when it does not.

        The engine asks only after :meth:`check` fired; a vetoed firing does not count and the
        sentence is kept in the verdict's notes. By default nothing vetoes.
        """
        return None

    def firing(self, rule: str, value: float | None, threshold: float | None) -> Firing:
        return Firing(self.id, self.title, self.kind, rule, value, threshold)
