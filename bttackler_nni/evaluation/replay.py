"""Replay the diagnosis engine over a recorded experiment: which trials it would have stopped, and when.

The experiment's intermediate reports are fed to a fresh :class:`~bttackler_nni.diagnosis.engine.Diagnoser`
in the order they arrived (across all trials, so cross-trial protection sees the same peers as a
live assessor would); a trial's reports after its stop are ignored, as if it had been killed. Run
over an experiment that had no early stopping, this is the paper's indicator trigger table, plus the
trial time each stop would have saved.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..diagnosis.config import AssessorConfig
from ..diagnosis.engine import Diagnoser
from ..diagnosis.indicators import Firing
from ..diagnosis.verdict import Verdict
from ..experiments.store import Experiment


@dataclass(frozen=True)
class ReplayedStop:
    """A stop the engine decided during the replay.

    Attributes:
        verdict: the stop verdict, as a live assessor would have journaled it.
        at: when the stopping report arrived, seconds since the experiment started.
        seconds_saved: how much longer the trial actually ran after that report (0 when unknown).
    """

    verdict: Verdict
    at: float
    seconds_saved: float

    @property
    def reason(self) -> Firing:
        assert self.verdict.reason is not None, "a replayed stop always has a reason"
        return self.verdict.reason


@dataclass(frozen=True)
class ReplayResult:
    """All stops of a replay and the totals a report needs."""

    experiment: Experiment
    config: AssessorConfig
    stops: list[ReplayedStop]

    @property
    def trials(self) -> int:
        """Trials that reported at least once (the ones the engine could judge)."""
        return sum(1 for trial in self.experiment.trials if trial.intermediate)

    @property
    def seconds_saved(self) -> float:
        return sum(stop.seconds_saved for stop in self.stops)

    @property
    def trial_seconds(self) -> float:
        """Total running time of the judged trials."""
        return sum(t.duration or 0.0 for t in self.experiment.trials if t.intermediate)

    def by_indicator(self) -> Counter[str]:
        return Counter(stop.reason.indicator for stop in self.stops)


def recorded_config(experiment: Experiment) -> AssessorConfig | None:
    """The settings ``experiment``'s own BTTackler assessor ran with, from its journal (the paper
    preset for a journal written before presets existed); ``None`` when it had no BTTackler assessor."""
    settings = experiment.assessor_settings
    if not settings:
        return None
    if "preset" not in settings:  # journaled before presets: the paper's method ran
        settings = {**settings, "preset": "paper"}
    return AssessorConfig.from_class_args(settings)


def replay(experiment: Experiment, config: AssessorConfig | None = None) -> ReplayResult:
    """Replay ``experiment``'s reports through the engine.

    Args:
        experiment: a recorded experiment (see :func:`bttackler_nni.experiments.store.load`).
        config: the settings to judge with; by default those the experiment's own BTTackler assessor
            ran with (the paper preset for a journal written before presets existed), else the
            defaults ranking in the experiment's direction.
    """
    if config is None:
        config = recorded_config(experiment) or AssessorConfig(direction=experiment.direction)
    diagnoser = Diagnoser(config)
    arrivals = sorted(
        (
            (time, position, index, trial)
            for position, trial in enumerate(experiment.trials)
            for index, time in enumerate(trial.intermediate_times)
        ),
        key=lambda arrival: arrival[:3],
    )
    stops = []
    for time, _position, index, trial in arrivals:
        if trial.id in diagnoser.stopped:
            continue
        verdict = diagnoser.assess(trial.id, trial.intermediate[: index + 1])
        if verdict.stop and verdict.reason is not None:
            saved = max(0.0, trial.end - time) if trial.end is not None else 0.0
            stops.append(ReplayedStop(verdict, time, saved))
    return ReplayResult(experiment, config, stops)
