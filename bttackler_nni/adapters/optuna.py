"""``BTTacklerPruner``: BTTackler's diagnosis as an Optuna pruner (the ``[optuna]`` extra).

The objective builds an epoch record with a :class:`~bttackler_nni.Reporter` (``report_to_nni=False``)
and hands it to :func:`report_epoch`, in place of ``trial.report``::

    from bttackler_nni.adapters.optuna import BTTacklerPruner, report_epoch

    def objective(trial):
        model, optimizer = build(trial.suggest_float("lr", 1e-4, 10, log=True))
        reporter = Reporter(model, optimizer, max_epochs=20, report_to_nni=False)
        for epoch in range(20):
            ...
            report_epoch(trial, reporter.end_epoch(train_loss=..., val_loss=..., val_acc=...))
        return val_acc

    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner())

``report_epoch`` stores each record in the trial's user attributes (``bttackler_record_<epoch>``),
so every process of a distributed study reads every trial's records from the storage; the pruner
judges them with one :class:`~bttackler_nni.Diagnoser` per process, fed every trial's records in the
order it first sees them, so peers, protection and patience work as under NNI. The threads of
``study.optimize(n_jobs=...)`` take turns in the pruner, so each record is judged once. A stop is logged on
the ``bttackler_nni`` logger, stored as the verdict's JSON in the trial's ``bttackler_stop`` user
attribute, and raised as ``optuna.TrialPruned`` with the reason as its message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import optuna

from .. import record as keys
from ..diagnosis.config import AssessorConfig, ranking_as
from ..diagnosis.direction import Direction
from ..diagnosis.engine import Diagnoser
from ..diagnosis.verdict import Verdict

RECORD_ATTR = "bttackler_record_"
"""Prefix of the user attributes holding a trial's records, followed by the record's epoch."""

STOP_ATTR = "bttackler_stop"
"""User attribute holding the JSON of the verdict that pruned the trial."""

_logger = logging.getLogger("bttackler_nni")


def report_epoch(trial: optuna.Trial, record: Mapping[str, Any]) -> None:
    """Report an epoch record to Optuna, store it for the pruner, and prune when the study's pruner says so.

    ``trial.report`` receives the record's ``default`` at step ``epoch``.

    Raises:
        optuna.TrialPruned: with the stop's reason, when the study's pruner prunes the trial.
    """
    epoch = int(record[keys.EPOCH])
    trial.set_user_attr(f"{RECORD_ATTR}{epoch}", dict(record))
    trial.report(float(record[keys.DEFAULT]), step=epoch)
    if not trial.should_prune():
        return
    pruner = trial.study.pruner
    verdict = pruner.verdicts.get(trial.number) if isinstance(pruner, BTTacklerPruner) else None
    if verdict is None or not verdict.stop:
        raise optuna.TrialPruned(f"pruned by {type(pruner).__name__} at epoch {epoch}")
    trial.set_user_attr(STOP_ATTR, verdict.to_json())
    raise optuna.TrialPruned(verdict.reason_text())


def stored_records(trial: optuna.trial.FrozenTrial) -> list[dict[str, Any]]:
    """The records :func:`report_epoch` stored in a trial, oldest epoch first."""
    epochs = {}
    for name, value in trial.user_attrs.items():
        suffix = name[len(RECORD_ATTR) :] if name.startswith(RECORD_ATTR) else ""
        if suffix.isdigit():
            epochs[int(suffix)] = value
    return [epochs[epoch] for epoch in sorted(epochs)]


class BTTacklerPruner(optuna.pruners.BasePruner):
    """Prunes the trials whose epoch records the diagnosis finds broken, with the reason.

    Args:
        config: the diagnosis settings (as the NNI assessor's ``classArgs``); defaults otherwise.
            ``min_peers`` counts the study's other trials that reached the same epoch. Trials are
            ranked in the study's ``direction``; a ``config`` whose ``direction`` differs is refused
            (:class:`~bttackler_nni.ConfigError`, raised from the first report).
    """

    def __init__(self, config: AssessorConfig | None = None) -> None:
        self._config = config
        self._diagnoser: Diagnoser | None = None  # built at the first report, in the study's direction
        self._judged: dict[int, int] = {}  # trial number -> records judged
        self._ended: set[int] = set()
        self._open_from = 0  # in the study's trials, the first not ended: all before it never change
        self._verdicts: dict[int, Verdict] = {}
        self._lock = threading.Lock()  # study.optimize(n_jobs > 1) prunes from several threads

    @property
    def verdicts(self) -> Mapping[int, Verdict]:
        """The latest verdict of each trial judged in this process, by trial number."""
        return self._verdicts

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        with self._lock:
            if self._diagnoser is None:
                maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
                direction = Direction.MAXIMIZE if maximize else Direction.MINIMIZE
                self._diagnoser = Diagnoser(ranking_as(self._config, direction, "the study's direction"))
            trials = study.get_trials(deepcopy=False)  # in number order, as the storage keeps them
            for other in trials[self._open_from :]:
                if other.number != trial.number and other.number not in self._ended:
                    self._judge(self._diagnoser, other)
            verdict = self._judge(self._diagnoser, trial)
            while self._open_from < len(trials) and trials[self._open_from].number in self._ended:
                self._open_from += 1
        if verdict is None or not verdict.stop:
            return False
        _logger.warning("BTTackler prunes %s", verdict.explain())
        return True

    def _judge(self, diagnoser: Diagnoser, trial: optuna.trial.FrozenTrial) -> Verdict | None:
        """Judge each record of ``trial`` not judged yet, in order, as NNI's assessor would one by one.

        A finished trial is judged to its last record once and then ended; ``prune`` reads the
        study's trials from the first one not ended, so a long study costs each call the trials
        still open (and those after the oldest of them), not all it ever ran."""
        number = trial.number
        records = stored_records(trial)
        for count in range(self._judged.get(number, 0) + 1, len(records) + 1):
            self._verdicts[number] = diagnoser.assess(str(number), records[:count])
        self._judged[number] = max(self._judged.get(number, 0), len(records))
        if trial.state.is_finished() and number not in self._ended:
            diagnoser.trial_ended(str(number))
            self._ended.add(number)
        return self._verdicts.get(number)
