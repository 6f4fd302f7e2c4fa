"""The diagnosis engine: indicators + cross-trial protection + patience -> a verdict per report.

Pure Python and numpy, no NNI: the assessor is a thin adapter over :class:`Diagnoser`, and the same
engine can be driven directly, in tests or over recorded trials.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import AssessorConfig
from .indicators import INDICATORS_BY_ID, Firing, Kind
from .record import EpochRecord, parse_record
from .trial_history import TrialHistory

MAX_HISTORY = 10_000
"""Only the most recent reports of a longer history are examined (a malformed trial cannot stall us)."""


@dataclass(frozen=True)
class Verdict:
    """The engine's answer to one report, with everything needed to explain it.

    Attributes:
        trial: NNI trial job id.
        report: 1-based number of the report in the trial's history.
        epoch: 0-based epoch of the report (its position when the report carried none).
        stop: whether the trial must be stopped.
        reason: the firing that stopped it (the first in priority order), or ``None``.
        fired: ids of every indicator whose rule held on this report (before patience).
        protected: whether cross-trial protection shielded the trial on this report.
        train_loss: the report's train loss, when it had a finite one.
        default: the report's ``default`` metric, when it had one.
        max_epochs: the trial's planned epochs, when known.
        parameter_id: the NNI parameter id the trial reported it received, when it did.
        problems: what was ignored in malformed input.
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
    max_epochs: int | None = None
    parameter_id: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def kind(self) -> Kind | None:
        """ "problem" or "converged" for a stop, ``None`` otherwise."""
        return INDICATORS_BY_ID[self.reason.indicator].kind if self.reason else None

    def explain(self) -> str:
        """One line a person can read: who was stopped, when, by what rule, on what value."""
        if not self.stop or self.reason is None:
            return f"trial {self.trial} continues at epoch {self.epoch} (report {self.report})"
        reason = self.reason
        title = INDICATORS_BY_ID[reason.indicator].title
        threshold = "" if reason.threshold is None else f", threshold {reason.threshold:.4g}"
        value = "" if reason.value is None else f", observed {reason.value:.4g}"
        return (
            f"trial {self.trial} stopped at epoch {self.epoch} (report {self.report}) by {reason.indicator} "
            f"({title}) [{self.kind.value if self.kind else ''}]: {reason.rule}{value}{threshold}"
            f"; protected: {'yes' if self.protected else 'no'}"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as strings), the line format of the verdict journal."""
        line: dict[str, Any] = {
            "trial": self.trial,
            "report": self.report,
            "epoch": self.epoch,
            "max_epochs": self.max_epochs,
            "stop": self.stop,
            "fired": list(self.fired),
            "protected": self.protected,
            "train_loss": _json_number(self.train_loss),
            "default": _json_number(self.default),
            "parameter_id": self.parameter_id,
        }
        if self.reason is not None:
            line.update(
                indicator=self.reason.indicator,
                kind=self.kind.value if self.kind else None,
                title=INDICATORS_BY_ID[self.reason.indicator].title,
                rule=self.reason.rule,
                value=_json_number(self.reason.value),
                threshold=_json_number(self.reason.threshold),
            )
        if self.problems:
            line["problems"] = list(self.problems)
        return line

    @classmethod
    def from_json(cls, line: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_json`; raises ``ValueError`` naming the first field that is not valid."""
        stop = _field(line, "stop", bool)
        reason = None
        if stop:
            indicator = line.get("indicator")
            if indicator not in INDICATORS_BY_ID:
                raise ValueError(f"a stop verdict must name a known indicator, not {indicator!r}")
            reason = Firing(
                indicator,
                str(line.get("rule", "")),
                _number_from_json(line.get("value"), "value"),
                _number_from_json(line.get("threshold"), "threshold"),
            )
        fired = line.get("fired", [])
        if not isinstance(fired, list) or not all(isinstance(f, str) for f in fired):
            raise ValueError(f"fired must be a list of indicator ids, not {fired!r}")
        problems = line.get("problems", [])
        return cls(
            trial=_field(line, "trial", str),
            report=_count(line, "report", minimum=1),
            epoch=_count(line, "epoch", minimum=0),
            stop=stop,
            reason=reason,
            fired=tuple(fired),
            protected=bool(line.get("protected", False)),
            train_loss=_number_from_json(line.get("train_loss"), "train_loss"),
            default=_number_from_json(line.get("default"), "default"),
            max_epochs=_count(line, "max_epochs", minimum=1, optional=True),
            parameter_id=_count(line, "parameter_id", minimum=0, optional=True),
            problems=tuple(str(p) for p in problems) if isinstance(problems, list) else (),
        )


class PeerLosses:
    """Finite train losses reported at each epoch, kept sorted, one value per (trial, epoch).

    NaN and +-Inf never enter. Percentiles interpolate linearly between ranks, as numpy's default.
    """

    def __init__(self) -> None:
        self._by_epoch: dict[int, list[float]] = {}
        self._seen: set[tuple[str, int]] = set()

    def add(self, trial: str, epoch: int, loss: float | None) -> None:
        if loss is None or not math.isfinite(loss) or (trial, epoch) in self._seen:
            return
        self._seen.add((trial, epoch))
        bisect.insort(self._by_epoch.setdefault(epoch, []), loss)

    def contains(self, trial: str, epoch: int) -> bool:
        return (trial, epoch) in self._seen

    def count(self, epoch: int) -> int:
        return len(self._by_epoch.get(epoch, ()))

    def percentile(self, epoch: int, q: float) -> float | None:
        values = self._by_epoch.get(epoch)
        if not values:
            return None
        rank = q / 100 * (len(values) - 1)
        low = math.floor(rank)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (rank - low)

    def epochs(self) -> int:
        return len(self._by_epoch)


@dataclass
class _TrialState:
    """Per-running-trial memory: parsed reports (parsed once each) and firing streaks."""

    raw: list[Any] = field(default_factory=list)
    records: list[EpochRecord] = field(default_factory=list)
    streaks: dict[str, int] = field(default_factory=dict)
    warned: bool = False


class Diagnoser:
    """Turns each trial's growing history into verdicts, remembering what peers reported.

    Args:
        config: validated settings; defaults to :class:`AssessorConfig` defaults.

    Example:
        >>> diagnoser = Diagnoser()
        >>> diagnoser.assess("trial1", [{"default": float("nan"), "train_loss": 2.3}]).reason.indicator
        'AGV'
    """

    def __init__(self, config: AssessorConfig | None = None) -> None:
        self.config = config or AssessorConfig()
        self._indicators = self.config.build_indicators()
        self._peers = PeerLosses()
        self._protected: set[str] = set()
        self._stopped: dict[str, Verdict] = {}
        self._trials: dict[str, _TrialState] = {}

    @property
    def stopped(self) -> Mapping[str, Verdict]:
        """The stop verdict of every trial stopped so far, by trial id."""
        return self._stopped

    @property
    def peers(self) -> PeerLosses:
        return self._peers

    @property
    def protected_trials(self) -> frozenset[str]:
        return frozenset(self._protected)

    def assess(self, trial: str, history: Sequence[Any]) -> Verdict:
        """Judge the latest report of ``trial``; ``history`` is every report so far, oldest first.

        A trial once stopped keeps its stop verdict. Malformed reports never raise: their unusable
        values are ignored and listed in ``Verdict.problems``.
        """
        if trial in self._stopped:
            return self._stopped[trial]
        if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
            return Verdict(
                trial, 0, 0, stop=False, problems=(f"history is a {type(history).__name__}, not a list",)
            )
        if not history:
            return Verdict(trial, 0, 0, stop=False, problems=("history is empty",))
        state = self._trials.setdefault(trial, _TrialState())
        problems = self._parse_new(state, history)
        trial_history = TrialHistory(state.records, state.records[-1].max_epochs or self.config.max_epochs)
        latest, epoch = trial_history.latest, trial_history.epoch
        protected = self._update_protection(trial, epoch, latest.train_loss)

        fired: list[str] = []
        reasons: list[Firing] = []
        for indicator in self._indicators:
            settings = indicator.settings
            applicable = not (protected and settings.protected) and settings.stage.applies(
                epoch, trial_history.max_epochs
            )
            firing = indicator.check(trial_history) if applicable else None
            state.streaks[indicator.id] = state.streaks.get(indicator.id, 0) + 1 if firing else 0
            if firing:
                fired.append(indicator.id)
                if state.streaks[indicator.id] >= self.config.patience:
                    reasons.append(firing)

        verdict = Verdict(
            trial=trial,
            report=len(history),
            epoch=epoch,
            stop=bool(reasons),
            reason=reasons[0] if reasons else None,
            fired=tuple(fired),
            protected=protected,
            train_loss=latest.train_loss
            if latest.train_loss is not None and math.isfinite(latest.train_loss)
            else None,
            default=latest.default,
            max_epochs=trial_history.max_epochs,
            parameter_id=latest.parameter_id,
            problems=tuple(problems),
        )
        if verdict.stop:
            self._stopped[trial] = verdict
        return verdict

    def parameter_id(self, trial: str) -> int | None:
        """The NNI parameter id a running trial reported it received (``None`` if it did not say)."""
        state = self._trials.get(trial)
        return state.records[-1].parameter_id if state is not None and state.records else None

    def trial_ended(self, trial: str) -> None:
        """Forget a finished trial's parsed reports and streaks; its peer losses, protection and stop stay."""
        self._trials.pop(trial, None)

    def restore(self, verdicts: Iterable[Verdict]) -> int:
        """Rebuild cross-trial state from earlier verdicts (the verdict journal); returns how many."""
        used = 0
        for verdict in verdicts:
            used += 1
            self._peers.add(verdict.trial, verdict.epoch, verdict.train_loss)
            if verdict.protected and self.config.sticky_protection:
                self._protected.add(verdict.trial)
            if verdict.stop:
                self._stopped[verdict.trial] = verdict
        return used

    def _parse_new(self, state: _TrialState, history: Sequence[Any]) -> list[str]:
        """Parse only the reports not parsed before; start over if the history was replaced.

        NNI hands over the same report objects each time, so identity of the last known report is
        the cheap test that the history only grew.
        """
        history = history[-MAX_HISTORY:]
        known = len(state.raw)
        if known > len(history) or (known and history[known - 1] is not state.raw[-1]):
            state.raw, state.records, known = [], [], 0
        problems: list[str] = []
        for raw in history[known:]:
            record, record_problems = parse_record(raw)
            state.raw.append(raw)
            state.records.append(record)
            problems.extend(record_problems)
        return problems

    def _update_protection(self, trial: str, epoch: int, loss: float | None) -> bool:
        """Whether ``trial`` is protected now; records its loss as a peer value for others."""
        protected_now = False
        finite = loss is not None and math.isfinite(loss)
        if finite and not self._peers.contains(trial, epoch):
            if self._peers.count(epoch) >= self.config.min_peers:
                limit = self._peers.percentile(epoch, self.config.protect_percentile)
                protected_now = limit is not None and loss <= limit  # type: ignore[operator]
            self._peers.add(trial, epoch, loss)
        if not self.config.sticky_protection:
            return protected_now
        if protected_now:
            self._protected.add(trial)
        return trial in self._protected


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


def _field(line: Mapping[str, Any], name: str, kind: type) -> Any:
    value = line.get(name)
    if not isinstance(value, kind) or (kind is str and not value):
        raise ValueError(f"{name} must be a {kind.__name__}, not {value!r:.40}")
    return value


def _count(line: Mapping[str, Any], name: str, minimum: int, optional: bool = False) -> Any:
    value = line.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or value > 2**53:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r:.40}")
    return value
