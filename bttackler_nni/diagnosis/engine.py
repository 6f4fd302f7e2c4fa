"""The diagnosis engine: indicators + cross-trial protection + patience -> a verdict per report.

Pure Python and numpy, no NNI and no I/O: NNI's assessor is a thin adapter over :class:`Diagnoser`,
and the same engine is driven directly by replays, simulations and other frameworks' adapters.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..record import EpochRecord, parse_record
from .config import AssessorConfig
from .direction import Direction
from .history import TrialHistory
from .indicators import Firing, Kind
from .peers import PeerValues, Protection, TrialTimes
from .verdict import Verdict

MAX_HISTORY = 10_000
"""Only the most recent reports of a longer history are examined (a malformed trial cannot stall us)."""


@dataclass
class _TrialState:
    """Per-running-trial memory: parsed reports (parsed once each) and firing streaks."""

    raw: list[Any] = field(default_factory=list)
    records: list[EpochRecord] = field(default_factory=list)
    streaks: dict[str, int] = field(default_factory=dict)


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
        self._protection = Protection(
            self.config.min_peers, self.config.protect_percentile, self.config.sticky_protection
        )
        self._peer_metrics = PeerValues(self.config.direction)
        self._trial_times = TrialTimes()
        self._stopped: dict[str, Verdict] = {}
        self._trials: dict[str, _TrialState] = {}

    @property
    def stopped(self) -> Mapping[str, Verdict]:
        """The stop verdict of every trial stopped so far, by trial id."""
        return self._stopped

    @property
    def peers(self) -> PeerValues:
        """Peer train losses per epoch (protection)."""
        return self._protection.peers

    @property
    def peer_metrics(self) -> PeerValues:
        """Peer ``default`` metrics per epoch (RNK)."""
        return self._peer_metrics

    @property
    def protected_trials(self) -> frozenset[str]:
        return self._protection.protected_trials

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
        trial_history = TrialHistory(
            state.records,
            state.records[-1].max_epochs or self.config.max_epochs,
            self.config.direction,
            self._peer_metrics,
            trial,
            self._trial_times,
        )
        latest, epoch = trial_history.latest, trial_history.epoch
        protected = self._protection.update(trial, epoch, latest.train_loss)

        fired: list[str] = []
        reasons: list[Firing] = []
        notes: list[str] = []
        problem_found = False
        for indicator in self._indicators:
            firing = indicator.check(trial_history) if indicator.applies(trial_history, protected) else None
            if firing and not (firing.kind is Kind.HOPELESS and problem_found):
                veto = indicator.veto(trial_history)
                if veto:
                    notes.append(f"{indicator.id} vetoed: {veto}")
                    firing = None
            state.streaks[indicator.id] = state.streaks.get(indicator.id, 0) + 1 if firing else 0
            if firing:
                fired.append(indicator.id)
                problem_found = problem_found or firing.kind is Kind.PROBLEM
                if state.streaks[indicator.id] >= self.config.patience:
                    reasons.append(firing)
        self._peer_metrics.add(trial, epoch, latest.default)
        self._trial_times.add(trial, epoch, latest.epoch_seconds, latest.startup_seconds)

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
            epoch_seconds=latest.epoch_seconds,
            startup_seconds=latest.startup_seconds,
            max_epochs=trial_history.max_epochs,
            problems=tuple(problems),
            notes=tuple(notes),
        )
        if verdict.stop:
            self._stopped[trial] = verdict
        return verdict

    def latest_record(self, trial: str) -> EpochRecord | None:
        """A running trial's latest parsed report (``None`` once it ended or before it reported)."""
        state = self._trials.get(trial)
        return state.records[-1] if state is not None and state.records else None

    def trial_ended(self, trial: str) -> None:
        """Forget a finished trial's parsed reports and streaks; its peer values, protection and stop stay."""
        self._trials.pop(trial, None)

    def restore(self, verdicts: Iterable[Verdict]) -> int:
        """Rebuild cross-trial state from earlier verdicts (the verdict journal); returns how many."""
        used = 0
        for verdict in verdicts:
            used += 1
            self._protection.restore(verdict.trial, verdict.epoch, verdict.train_loss, verdict.protected)
            self._peer_metrics.add(verdict.trial, verdict.epoch, verdict.default)
            self._trial_times.add(
                verdict.trial, verdict.epoch, verdict.epoch_seconds, verdict.startup_seconds
            )
            if verdict.stop:
                self._stopped[verdict.trial] = verdict
        return used

    def _parse_new(self, state: _TrialState, history: Sequence[Any]) -> list[str]:
        """Parse only the reports not parsed before; start over if the history was replaced.

        A history that only grew still holds the last report parsed at the same position.
        """
        history = history[-MAX_HISTORY:]
        known = len(state.raw)
        if known > len(history) or (known and not _same(history[known - 1], state.raw[-1])):
            state.raw, state.records, known = [], [], 0
        problems: list[str] = []
        for raw in history[known:]:
            record, record_problems = parse_record(raw)
            if self.config.direction is Direction.MAXIMIZE and record.default_is_train_loss:
                # ranked as an accuracy, a loss of 2.3 would be the run's best value (its own best
                # for the noise guard, a leader among RNK's peers) and the worst trials the best
                record = dataclasses.replace(record, default=None)
            state.raw.append(raw)
            state.records.append(record)
            problems.extend(record_problems)
        return problems


def _same(report: Any, known: Any) -> bool:
    """Whether two reports are the same: identical, or equal (a comparison that fails means not)."""
    if report is known:
        return True
    try:
        return bool(report == known)
    except Exception:  # noqa: BLE001 - a report's own __eq__ may raise; then it is a new report
        return False
