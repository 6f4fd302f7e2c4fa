"""The engine's answer to one report: one shape for every stop, its text and its JSON.

A :class:`Verdict` is what the assessor journals, what ``bttackler why`` and the summaries print,
what a replay counts and what the tuner wrapper feeds back. It carries its reason whole (a
:class:`~.indicators.base.Firing`, with the indicator's title and kind), so reading one back needs
no indicator registry and old journals stay readable if indicators are added.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .indicators.base import Firing, Kind


@dataclass(frozen=True)
class Verdict:
    """The engine's answer to one report, with everything needed to explain it.

    Attributes:
        trial: the trial's id.
        report: 1-based number of the report in the trial's history.
        epoch: 0-based epoch of the report (its position when the report carried none).
        stop: whether the trial must be stopped.
        reason: the firing that stopped it (the first in priority order), or ``None``.
        fired: ids of every indicator whose rule held on this report (before patience).
        protected: whether cross-trial protection shielded the trial on this report.
        train_loss: the report's train loss, when it had a finite one.
        default: the report's ``default`` metric, when it had one.
        epoch_seconds: the report's epoch seconds, when it had them (RNK's saving gate, on restore).
        startup_seconds: the trial's start-up, on its first report (the same).
        max_epochs: the trial's planned epochs, when known.
        problems: what was ignored in malformed input.
        notes: what else the diagnosis decided on this report, one sentence each: an indicator
            whose rule held but that was vetoed (the trial got more time), and why.
    """

    trial: str
    report: int
    epoch: int
    stop: bool
    reason: Firing | None = None
    fired: tuple[str, ...] = ()
    protected: bool = False
    train_loss: float | None = None
    default: float | None = None
    epoch_seconds: float | None = None
    startup_seconds: float | None = None
    max_epochs: int | None = None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def kind(self) -> Kind | None:
        """A training problem, a converged run or a hopeless one for a stop, ``None`` otherwise."""
        return self.reason.kind if self.reason else None

    def reason_text(self) -> str:
        """The stop's reason in one line; empty when the verdict is not a stop.

        For example ``EAG (Exponentially Amplified Gradients) [problem]: G > grad_max, observed
        2e+04, threshold 1e+04``.
        """
        reason = self.reason
        if not self.stop or reason is None:
            return ""
        value = "" if reason.value is None else f", observed {reason.value:.4g}"
        threshold = "" if reason.threshold is None else f", threshold {reason.threshold:.4g}"
        return f"{reason.indicator} ({reason.title}) [{reason.kind.value}]: {reason.rule}{value}{threshold}"

    def explain(self) -> str:
        """One line a person can read: who was stopped, when, by what rule, on what value."""
        if not self.stop or self.reason is None:
            return f"trial {self.trial} continues at epoch {self.epoch} (report {self.report})"
        return (
            f"trial {self.trial} stopped at epoch {self.epoch} (report {self.report}) by {self.reason_text()}"
            f"; protected: {'yes' if self.protected else 'no'}"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as strings); :meth:`from_json` reads it back."""
        data: dict[str, Any] = {
            "trial": self.trial,
            "report": self.report,
            "epoch": self.epoch,
            "max_epochs": self.max_epochs,
            "stop": self.stop,
            "fired": list(self.fired),
            "protected": self.protected,
            "train_loss": _json_number(self.train_loss),
            "default": _json_number(self.default),
        }
        seconds = {"epoch_seconds": self.epoch_seconds, "startup_seconds": self.startup_seconds}
        data.update((key, _json_number(value)) for key, value in seconds.items() if value is not None)
        if self.reason is not None:
            data.update(
                indicator=self.reason.indicator,
                kind=self.reason.kind.value,
                title=self.reason.title,
                rule=self.reason.rule,
                value=_json_number(self.reason.value),
                threshold=_json_number(self.reason.threshold),
            )
        if self.problems:
            data["problems"] = list(self.problems)
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_json` (other keys ignored); ``ValueError`` names the first invalid field."""
        stop = _field(data, "stop", bool)
        reason = None
        if stop:
            kind = data.get("kind")
            if kind not in {k.value for k in Kind}:
                raise ValueError(f"kind must be one of {', '.join(k.value for k in Kind)}, not {kind!r:.40}")
            reason = Firing(
                indicator=_field(data, "indicator", str),
                title=str(data.get("title", "")),
                kind=Kind(kind),
                rule=str(data.get("rule", "")),
                value=_number_from_json(data.get("value"), "value"),
                threshold=_number_from_json(data.get("threshold"), "threshold"),
            )
        fired = data.get("fired", [])
        if not isinstance(fired, list) or not all(isinstance(f, str) for f in fired):
            raise ValueError(f"fired must be a list of indicator ids, not {fired!r:.40}")
        problems = data.get("problems", [])
        notes = data.get("notes", [])
        return cls(
            trial=_field(data, "trial", str),
            report=_count(data, "report", minimum=1),
            epoch=_count(data, "epoch", minimum=0),
            stop=stop,
            reason=reason,
            fired=tuple(fired),
            protected=bool(data.get("protected", False)),
            train_loss=_number_from_json(data.get("train_loss"), "train_loss"),
            default=_number_from_json(data.get("default"), "default"),
            epoch_seconds=_number_from_json(data.get("epoch_seconds"), "epoch_seconds"),
            startup_seconds=_number_from_json(data.get("startup_seconds"), "startup_seconds"),
            max_epochs=_count(data, "max_epochs", minimum=1, optional=True),
            problems=tuple(str(p) for p in problems) if isinstance(problems, list) else (),
            notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
        )


def _json_number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


_NON_FINITE_JSON = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _number_from_json(value: Any, name: str) -> float | None:
    """A number written by :func:`_json_number`; ``ValueError`` for anything else."""
    if value is None:
        return None
    if isinstance(value, str) and value in _NON_FINITE_JSON:
        return _NON_FINITE_JSON[value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{name} {value!r:.30} is too large") from None
        if math.isfinite(number):
            return number
    raise ValueError(f"{name} must be a number, not {value!r:.40}")


def _field(data: Mapping[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is str and not value):
        raise ValueError(f"{name} must be a {kind.__name__}, not {value!r:.40}")
    return value


def _count(data: Mapping[str, Any], name: str, minimum: int, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or value > 2**53:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r:.40}")
    return value
