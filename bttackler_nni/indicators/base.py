"""What every indicator is made of: settings, stage, a firing, and the check itself."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from ..trial_history import TrialHistory


class Stage(str, Enum):
    """When in a trial's budget an indicator may fire."""

    ALWAYS = "always"
    FIRST_HALF = "first_half"
    SECOND_HALF = "second_half"

    def applies(self, epoch: int, max_epochs: int | None) -> bool:
        """Whether ``epoch`` lies in this stage. A half-stage never applies when ``max_epochs`` is unknown."""
        if self is Stage.ALWAYS:
            return True
        if max_epochs is None:
            return False
        in_first_half = epoch < max_epochs / 2
        return in_first_half if self is Stage.FIRST_HALF else not in_first_half


class Kind(str, Enum):
    """How a stop is labelled in every report: a training problem, or a run that has converged."""

    PROBLEM = "problem"
    CONVERGED = "converged"


def setting(
    default: Any, *, gt: float | None = None, ge: float | None = None, le: float | None = None, help: str = ""
) -> Any:
    """A settings field with its allowed range and a one-line meaning, checked by the config loader."""
    return dataclasses.field(default=default, metadata={"gt": gt, "ge": ge, "le": le, "help": help})


@dataclass(frozen=True)
class IndicatorSettings:
    """Settings every indicator has; subclasses add their thresholds and may change these defaults.

    Attributes:
        enabled: whether the indicator runs at all.
        stage: when in the budget it may fire.
        protected: whether cross-trial protection (a trial among the best losses) silences it.
    """

    enabled: bool = True
    stage: Stage = Stage.ALWAYS
    protected: bool = False


@dataclass(frozen=True)
class Firing:
    """One indicator's finding on one report: which rule held, on what value, against what threshold."""

    indicator: str
    rule: str
    value: float | None
    threshold: float | None


class Indicator(ABC):
    """One quality indicator of method.md section 4.

    Subclasses set the class attributes and implement :meth:`check`, a pure function of the
    trial's history. Stage and protection are applied by the engine, not here.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    kind: ClassVar[Kind] = Kind.PROBLEM
    Settings: ClassVar[type[IndicatorSettings]] = IndicatorSettings

    def __init__(self, settings: IndicatorSettings | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()

    @abstractmethod
    def check(self, trial: TrialHistory) -> Firing | None:
        """Return a :class:`Firing` when the indicator's rule holds on the latest report, else ``None``."""

    def firing(self, rule: str, value: float | None, threshold: float | None) -> Firing:
        return Firing(self.id, rule, value, threshold)
