"""``BTTacklerTuner``: any NNI tuner, plus a result for every trial the assessor stops.

Without it a model-based tuner (TPE) never learns that the region of a stopped trial is bad, and
keeps sampling it: NNI 3.0 passes nothing to the tuner for a killed trial, and its switch for doing
so (``includeIntermediateResults``) cannot be set in a v2 YAML config.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

from nni.tuner import Tuner

from .config import ConfigError
from .feedback import ENDED_TRIALS, EndedTrial
from .journal import TUNER_FEEDBACK_FILE, current_journal_dir, open_journal, read_jsonl
from .tuners import build_tuner

_logger = logging.getLogger("bttackler_nni")


class BTTacklerTuner(Tuner):
    """Wraps a built-in (or registered) NNI tuner by name and feeds it the stopped trials' results.

    When :class:`~bttackler_nni.BTTacklerAssessor` stops a trial, the wrapped tuner receives, as that
    trial's final result, the ``default`` metric of the report that stopped it. A non-finite metric
    (a NaN loss, say) is replaced by the worst finite result seen so far, so the tuner still learns
    the region is bad. Each such result is logged to ``dispatcher.log``, appended to
    ``checkpoint/bttackler/tuner_feedback.jsonl``, and replayed into the tuner on ``nnictl resume``.

    Args:
        tuner: NNI name of the tuner to wrap, e.g. ``TPE``, ``Random``, ``Evolution``.
        tuner_args: that tuner's ``classArgs``, e.g. ``{optimize_mode: maximize}``.

    Example experiment config::

        tuner:
          codeDirectory: .
          className: bttackler_nni.BTTacklerTuner
          classArgs: {tuner: TPE, tuner_args: {optimize_mode: maximize}}
    """

    def __init__(self, tuner: str = "TPE", tuner_args: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if not isinstance(tuner, str) or not tuner:
            raise ConfigError(
                f"BTTacklerTuner classArgs.tuner = {tuner!r}: must be an NNI tuner name. Fix: e.g. tuner: TPE"
            )
        if tuner_args is not None and not isinstance(tuner_args, Mapping):
            raise ConfigError(
                f"BTTacklerTuner classArgs.tuner_args = {tuner_args!r}: must be a mapping. "
                "Fix: e.g. tuner_args: {optimize_mode: maximize}"
            )
        args = dict(tuner_args or {})
        try:
            self._inner = build_tuner(tuner, args)
        except RuntimeError as error:
            raise ConfigError(
                f"BTTacklerTuner classArgs.tuner = {tuner!r}: {error}. Fix: name a tuner from "
                "`nnictl algo list`, e.g. TPE, Random or Evolution"
            ) from error
        self.tuner_name = tuner
        self._maximize = str(args.get("optimize_mode", "maximize")).lower() != "minimize"
        self._lock = threading.RLock()
        self._parameters: dict[int, Any] = {}
        self._with_result: set[int] = set()
        self._worst: float | None = None
        self._pending_replay: list[dict[str, Any]] = []
        self._journal = open_journal(TUNER_FEEDBACK_FILE)

    @property
    def inner(self) -> Tuner:
        """The wrapped tuner."""
        return self._inner

    def update_search_space(self, search_space: Any) -> None:
        with self._lock:
            self._inner.update_search_space(search_space)
            if self._pending_replay:
                self._replay(self._pending_replay)
                self._pending_replay = []

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Any:
        with self._lock:
            parameters = self._inner.generate_parameters(parameter_id, **kwargs)
            self._parameters[parameter_id] = parameters
            return parameters

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]:
        callback = kwargs.get("st_callback")
        if callback is not None:

            def remembering_callback(parameter_id: int, parameters: Any) -> None:
                self._parameters[parameter_id] = parameters
                callback(parameter_id, parameters)

            kwargs["st_callback"] = remembering_callback
        with self._lock:
            parameter_list = self._inner.generate_multiple_parameters(parameter_id_list, **kwargs)
            self._parameters.update(zip(parameter_id_list, parameter_list, strict=False))
            return parameter_list

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        """Pass a final result on, unless this trial already got one from us.

        A stopped trial may still deliver its final result after it was fed (NNI processes trial
        ends and final results on different threads); a second result for the same parameter id
        makes TPE raise, which would stop NNI's dispatcher, so it is logged and dropped.
        """
        with self._lock:
            if parameter_id in self._with_result:
                _logger.info(
                    "BTTackler tuner: parameter %d already has a result (its trial was stopped); "
                    "the late final result %r is not passed to %s",
                    parameter_id,
                    value,
                    self.tuner_name,
                )
                return
            value = self._finite_result(value)
            self._inner.receive_trial_result(parameter_id, parameters, value, **kwargs)
            self._with_result.add(parameter_id)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """Feed a trial BTTackler stopped, then end it in the wrapped tuner under its true parameter id.

        NNI 3.0 may pass the parameter id of another trial here (see docs/nni-notes.md); the id
        the trial itself reported, handed over by the assessor, takes precedence.
        """
        ended = ENDED_TRIALS.take()
        with self._lock:
            if ended is not None and ended.parameter_id is not None and ended.parameter_id != parameter_id:
                _logger.info(
                    "BTTackler tuner: NNI ended trial %s as parameter %d, but the trial ran parameter %d; "
                    "using %d",
                    ended.trial,
                    parameter_id,
                    ended.parameter_id,
                    ended.parameter_id,
                )
                parameter_id = ended.parameter_id
            if ended is not None and ended.stopped_by is not None and not success:
                self._feed_stopped(parameter_id, ended)
            self._inner.trial_end(parameter_id, success, **kwargs)
            self._parameters.pop(parameter_id, None)

    def import_data(self, data: Any) -> None:
        with self._lock:
            self._inner.import_data(data)

    def load_checkpoint(self) -> None:
        """On ``nnictl resume``: the wrapped tuner's own checkpoint, then the stopped trials' results.

        NNI replays only trials with a final result into a resumed tuner; stopped trials have none,
        so they are read from the feedback journal. NNI calls this before it sends the search
        space, which a tuner needs to take results, so they are replayed in
        :meth:`update_search_space`.
        """
        with self._lock:
            self._inner.load_checkpoint()
            folder = current_journal_dir()
            if folder is None:
                return
            self._pending_replay = [
                {"parameter": line["parameters"], "value": line["value"]}
                for line in read_jsonl(folder / TUNER_FEEDBACK_FILE)
                if "parameters" in line and "value" in line
            ]

    def save_checkpoint(self) -> None:
        with self._lock:
            self._inner.save_checkpoint()

    def _on_exit(self) -> None:
        self._inner._on_exit()
        if self._journal is not None:
            self._journal.close()

    def _on_error(self) -> None:
        self._inner._on_error()

    def _replay(self, results: list[dict[str, Any]]) -> None:
        """Import earlier stopped trials' results into the wrapped tuner; never raise."""
        try:
            self._inner.import_data(results)
        except Exception:  # noqa: BLE001 - a tuner exception would stop NNI's dispatcher
            _logger.exception(
                "BTTackler tuner: %s could not import the stopped trials' results", self.tuner_name
            )
            return
        _logger.info(
            "BTTackler tuner replayed %d stopped trials' results into %s", len(results), self.tuner_name
        )

    def _feed_stopped(self, parameter_id: int, stopped: EndedTrial) -> None:
        """Give the wrapped tuner the stopped trial's metric as its final result; never raise."""
        if parameter_id in self._with_result:
            return
        parameters = self._parameters.get(parameter_id)
        value = stopped.stopped_value if stopped.stopped_value is not None else self._worst
        if parameters is None or value is None:
            _logger.warning(
                "BTTackler tuner has no %s for stopped trial %s; %s learns nothing from it",
                "parameters" if parameters is None else "finite result",
                stopped.trial,
                self.tuner_name,
            )
            return
        try:
            self._inner.receive_trial_result(parameter_id, parameters, value, trial_job_id=stopped.trial)
        except Exception:  # noqa: BLE001 - a tuner exception would stop NNI's dispatcher
            _logger.exception(
                "BTTackler tuner: %s rejected the result of stopped trial %s", self.tuner_name, stopped.trial
            )
            return
        self._with_result.add(parameter_id)
        self._note_result(value)
        _logger.info(
            "BTTackler tuner fed %s the result %.6g of trial %s (parameter %d), stopped by %s",
            self.tuner_name,
            value,
            stopped.trial,
            parameter_id,
            stopped.stopped_by,
        )
        if self._journal is not None:
            self._journal.append(
                {
                    "time": time.time(),
                    "trial": stopped.trial,
                    "parameter_id": parameter_id,
                    "parameters": parameters,
                    "value": value,
                    "indicator": stopped.stopped_by,
                }
            )

    def _finite_result(self, value: Any) -> Any:
        """Track the worst finite result; replace a non-finite one by it (tuners cannot rank NaN)."""
        metric = value.get("default") if isinstance(value, Mapping) else value
        if not isinstance(metric, (int, float)) or isinstance(metric, bool):
            return value
        if math.isfinite(metric):
            self._note_result(float(metric))
            return value
        if self._worst is None:
            return value
        _logger.info(
            "BTTackler tuner replaced the non-finite result %r by the worst so far, %.6g", metric, self._worst
        )
        return {**value, "default": self._worst} if isinstance(value, Mapping) else self._worst

    def _note_result(self, metric: float) -> None:
        if self._worst is None:
            self._worst = metric
        else:
            self._worst = min(self._worst, metric) if self._maximize else max(self._worst, metric)
