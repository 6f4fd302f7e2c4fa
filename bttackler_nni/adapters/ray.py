"""``BTTacklerScheduler``: BTTackler's diagnosis as a Ray Tune trial scheduler (the ``[ray]`` extra).

Each trial builds its epoch records with a :class:`~bttackler_nni.Reporter` (``report_to_nni=False``)
and reports each one as its Tune result::

    from bttackler_nni.adapters.ray import BTTacklerScheduler

    def trainable(config):
        model, optimizer = build(config)
        reporter = Reporter(model, optimizer, max_epochs=20, report_to_nni=False)
        for epoch in range(20):
            ...
            ray.tune.report(reporter.end_epoch(train_loss=..., val_loss=..., val_acc=...))

    tuner = ray.tune.Tuner(
        trainable,
        param_space=...,
        tune_config=ray.tune.TuneConfig(metric="default", mode="max", scheduler=BTTacklerScheduler()),
    )

The scheduler runs in the Tune driver: it sees every trial's results, so peers and protection work
as under NNI, and answers ``STOP`` for a trial the diagnosis stops; trials run first in, first out
otherwise. The statistics are reduced on each trial's own device and only the record (a few
kilobytes) travels to the driver, so on a multi-node Ray cluster nothing changes: start the driver
on the head node (``ray.init(address="auto")``) with the package installed on every node (the
``[ray]`` extra where the driver runs, torch where trials run). A stop is logged on the
``bttackler_nni`` logger of the driver and kept in :attr:`BTTacklerScheduler.stopped`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from .. import record as keys
from ..diagnosis.config import AssessorConfig, ranking_as
from ..diagnosis.direction import Direction
from ..diagnosis.engine import Diagnoser
from ..diagnosis.verdict import Verdict

_logger = logging.getLogger("bttackler_nni")


class BTTacklerScheduler(FIFOScheduler):
    """Stops the Tune trials whose epoch records the diagnosis finds broken, with the reason.

    Args:
        config: the diagnosis settings (as the NNI assessor's ``classArgs``); defaults otherwise.
            When Tune optimizes the records' ``default`` (``TuneConfig(metric="default",
            mode=...)``), trials are ranked in that ``mode``, and a ``config`` whose ``direction``
            differs is refused (:class:`~bttackler_nni.ConfigError` when the Tuner starts).
    """

    def __init__(self, config: AssessorConfig | None = None) -> None:
        super().__init__()
        self._config = config
        self._diagnoser = Diagnoser(config)
        self._histories: dict[str, list[Any]] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Take the direction from Tune's ``mode`` when Tune optimizes ``default`` (Tune calls this
        before the first trial starts)."""
        if metric == keys.DEFAULT and mode in ("min", "max") and not self._histories:
            direction = Direction.MAXIMIZE if mode == "max" else Direction.MINIMIZE
            self._diagnoser = Diagnoser(ranking_as(self._config, direction, f"Tune's mode for {metric!r}"))
        return super().set_search_properties(metric, mode, **spec)

    @property
    def stopped(self) -> Mapping[str, Verdict]:
        """The stop verdict of every trial stopped so far, by Tune trial id."""
        return self._diagnoser.stopped

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        history = self._histories.setdefault(trial.trial_id, [])
        history.append(_nested(result))
        verdict = self._diagnoser.assess(trial.trial_id, history)
        if not verdict.stop:
            return TrialScheduler.CONTINUE
        _logger.warning("BTTackler stops Ray Tune %s", verdict.explain())
        return TrialScheduler.STOP

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        self._end(trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._end(trial)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._end(trial)

    def debug_string(self) -> str:
        by_indicator = Counter(v.reason.indicator for v in self.stopped.values() if v.reason is not None)
        counts = ", ".join(f"{indicator} {count}" for indicator, count in by_indicator.most_common())
        return f"BTTackler diagnosis: stopped {len(self.stopped)}" + (f" ({counts})" if counts else "")

    def _end(self, trial: Trial) -> None:
        self._histories.pop(trial.trial_id, None)
        self._diagnoser.trial_ended(trial.trial_id)


def _nested(result: Mapping[str, Any]) -> dict[str, Any]:
    """The record in a Tune result: Tune hands schedulers results flattened (``layers/grad``), so the
    record's groups (per-layer lists, activations, trial) are nested again."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in result.items():
        group, slash, field = key.partition("/")
        if slash and group in (keys.LAYERS, keys.ACTIVATIONS, keys.TRIAL):
            groups.setdefault(group, {})[field] = value
    return {**result, **groups}
