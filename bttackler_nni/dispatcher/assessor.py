"""``BTTacklerAssessor``: the NNI assessor, a thin adapter over the diagnosis engine.

It never raises out of an NNI callback (an exception in ``assess_trial`` silently stops NNI's
dispatcher and with it the whole experiment), logs one line per stop to NNI's ``dispatcher.log``,
appends every verdict to ``<experiment dir>/checkpoint/bttackler/verdicts.jsonl``, and rebuilds its
cross-trial state from that file on ``nnictl resume``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from nni.assessor import Assessor, AssessResult

from ..diagnosis.config import AssessorConfig
from ..diagnosis.coverage import REPORTER_FIX, blindness
from ..diagnosis.engine import Diagnoser
from ..diagnosis.verdict import Verdict
from .experiment_config import dispatcher_config, ranking_direction
from .guard import contained
from .handoff import ENDED_TRIALS, EndedTrial
from .journal import VERDICTS_FILE, current_journal_dir, open_journal, read_verdicts, start_line, verdict_line

_logger = logging.getLogger("bttackler_nni")


class BTTacklerAssessor(Assessor):
    """Stops NNI trials whose training diagnostics show a problem (or that have converged).

    Every class argument is optional; see :class:`~bttackler_nni.diagnosis.config.AssessorConfig` and the
    README's indicator table for keys and defaults. Invalid arguments raise
    :class:`~bttackler_nni.diagnosis.config.ConfigError` here, at dispatcher start, with every problem listed.
    Without ``direction``, it ranks trials as the experiment's tuner optimizes (its ``optimize_mode``).

    Example experiment config::

        assessor:
          codeDirectory: .
          className: bttackler_nni.BTTacklerAssessor
          classArgs: {patience: 1, indicators: {NMG: false}}
    """

    def __init__(self, **class_args: Any) -> None:
        super().__init__()
        self.config = _ranking_as_the_tuner(AssessorConfig.from_class_args(class_args), class_args)
        self._diagnoser = Diagnoser(self.config)
        self._indicator_ids = [indicator.id for indicator in self.config.build_indicators()]
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._told_blind = False
        self._journal = open_journal(VERDICTS_FILE)
        self._parameter_ids: dict[str, int | None] = {}
        self._append(start_line(self.config.to_dict(), time.time()))
        _logger.info(
            "BTTackler assessor ready, ranking trials to %s their default metric, indicators %s, "
            "verdicts in %s",
            self.config.direction.value,
            self._indicator_ids,
            self._journal.path if self._journal else "(no journal outside NNI)",
        )

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        """Judge the trial's latest report; ``AssessResult.Bad`` makes NNI stop it."""
        with contained(f"BTTacklerAssessor.assess_trial(trial {trial_job_id})", "the trial continues"):
            with self._lock:
                already_stopped = trial_job_id in self._diagnoser.stopped
                verdict = self._diagnoser.assess(trial_job_id, trial_history)
                if not already_stopped:
                    parameter_id = self._remember_parameter_id(trial_job_id)
                    self._warn_once(verdict)
                    self._warn_if_blind(trial_job_id)
                    self._append(verdict_line(verdict, parameter_id, time.time()))
            if verdict.stop and not already_stopped:
                _logger.info("BTTackler %s", verdict.explain())
            return AssessResult.Bad if verdict.stop else AssessResult.Good
        return AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        """Forget the trial's per-trial memory and hand the ended trial to the tuner wrapper."""
        with contained(
            f"BTTacklerAssessor.trial_end(trial {trial_job_id})", "the tuner wrapper is not told about it"
        ):
            with self._lock:
                verdict = self._diagnoser.stopped.get(trial_job_id)
                parameter_id = self._parameter_ids.pop(trial_job_id, None)
                self._diagnoser.trial_ended(trial_job_id)
            ENDED_TRIALS.post(EndedTrial(trial_job_id, parameter_id, None if success else verdict))

    def load_checkpoint(self) -> None:
        """On ``nnictl resume``: rebuild peers, protection and stops from the verdict journal."""
        folder = current_journal_dir()
        if folder is None:
            return
        with (
            contained("BTTacklerAssessor.load_checkpoint", "it starts with no memory of earlier trials"),
            self._lock,
        ):
            used = self._diagnoser.restore(read_verdicts(folder / VERDICTS_FILE).verdicts)
            diagnoser = self._diagnoser
            _logger.info(
                "BTTackler restored %d verdicts from %s: peer losses at %d epochs, "
                "%d protected trials, %d stopped trials",
                used,
                folder / VERDICTS_FILE,
                diagnoser.peers.epochs(),
                len(diagnoser.protected_trials),
                len(diagnoser.stopped),
            )

    def save_checkpoint(self) -> None:
        """Nothing to do: every verdict is already on disk (and NNI 3.0 never calls this)."""

    def _on_exit(self) -> None:
        if self._journal is not None:
            with contained("BTTacklerAssessor._on_exit", "the dispatcher exits anyway"):
                self._journal.close()
            self._journal = None

    def _append(self, line: dict[str, Any]) -> None:
        if self._journal is None:
            return
        try:
            self._journal.append(line)
        except (OSError, ValueError) as error:
            _logger.warning("BTTackler could not write its journal (%s); verdicts continue", error)

    def _remember_parameter_id(self, trial: str) -> int | None:
        """The NNI parameter id the trial says it received, kept for the tuner wrapper at its end.

        NNI 3.0 can hand a trial the parameters created for another (docs/nni-notes.md), so the id
        the trial reports is the one that counts; a report without one keeps the last known.
        """
        record = self._diagnoser.latest_record(trial)
        if record is not None and record.parameter_id is not None:
            self._parameter_ids[trial] = record.parameter_id
        return self._parameter_ids.get(trial)

    def _warn_once(self, verdict: Verdict) -> None:
        if verdict.problems and verdict.trial not in self._warned:
            self._warned.add(verdict.trial)
            _logger.warning(
                "BTTackler ignored malformed values reported by trial %s: %s (warned once per trial)",
                verdict.trial,
                "; ".join(verdict.problems[:5]),
            )

    def _warn_if_blind(self, trial: str) -> None:
        """Say once per experiment, in ``dispatcher.log``, which indicators a trial's reports leave
        blind (plain numbers, or a dict without the Reporter's statistics), and the fix."""
        record = self._diagnoser.latest_record(trial)
        if self._told_blind or record is None:
            return
        blind = blindness(record, self._indicator_ids)
        if not blind:
            return
        self._told_blind = True
        _logger.warning(
            "BTTackler trial %s reports %s. Fix: %s (warned once per experiment)", trial, blind, REPORTER_FIX
        )


def _ranking_as_the_tuner(config: AssessorConfig, class_args: dict[str, Any]) -> AssessorConfig:
    """``config``, ranking trials the way the experiment's tuner optimizes when NNI's dispatcher runs
    this; unchanged elsewhere. Raises :class:`~..diagnosis.config.ConfigError` where the two disagree (see
    :func:`~.experiment_config.ranking_direction`): the dispatcher then stops at start, with the fix in
    ``dispatcher.log``, instead of stopping the best trials as ranked below their peers."""
    experiment = dispatcher_config()
    if experiment is None:
        return config
    stated = config.direction if "direction" in class_args else None
    direction = ranking_direction(stated, experiment)
    if direction is None or direction is config.direction:
        return config
    _logger.info("BTTackler ranks trials to %s them, as the tuner's optimize_mode says", direction.value)
    return AssessorConfig.from_class_args({**class_args, "direction": direction.value})
