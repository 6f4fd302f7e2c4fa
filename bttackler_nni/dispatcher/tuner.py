"""``BTTacklerTuner``: any NNI tuner, plus a result for every trial the assessor stops.

Without it a model-based tuner (TPE) never learns that the region of a stopped trial is bad, and
keeps sampling it: NNI 3.0 passes nothing to the tuner for a killed trial, and its switch for doing
so (``includeIntermediateResults``) cannot be set in a v2 YAML config.

The wrapper also keeps NNI's dispatcher alive whatever NNI and the wrapped tuner do: a
:class:`~bttackler_nni.dispatcher.ledger.ParameterLedger` makes sure the wrapped tuner is only told
what it can take (NNI 3.0 mixes up parameter ids of concurrent trials and orders a trial's end and
its final result either way), and every entry point runs inside the never-raise guard.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

from nni import NoMoreTrialError
from nni.algorithms.hpo.random_tuner import RandomTuner
from nni.tools.package_utils import create_builtin_class_instance
from nni.tuner import Tuner

from ..diagnosis.config import ConfigError
from ..tuners import TUNERS, tuner_class
from ..tuners.nni_builtins import broken, known_fix
from .guard import contained
from .handoff import ENDED_TRIALS, EndedTrial
from .journal import TUNER_FEEDBACK_FILE, current_journal_dir, feedback_line, open_journal, read_feedback
from .ledger import EndRoute, ParameterLedger, ResultRoute

_logger = logging.getLogger("bttackler_nni")

END_WAIT_SECONDS = 60.0
"""How long a successful trial end waits for the trial's final result before it is passed on alone.

NNI sends a trial's final result before its end; the two only race inside the dispatcher (different
threads), so a result that has not been handled within this time was never reported.
"""


class BTTacklerTuner(Tuner):
    """Wraps a built-in (or registered) NNI tuner by name and feeds it the stopped trials' results.

    When :class:`~bttackler_nni.BTTacklerAssessor` stops a trial, the wrapped tuner receives, as that
    trial's final result, the ``default`` metric of the report that stopped it. A non-finite metric
    (a NaN loss, say) is replaced by the worst finite result seen so far, so the tuner still learns
    the region is bad. Each such result is logged to ``dispatcher.log``, appended to
    ``checkpoint/bttackler/tuner_feedback.jsonl``, and replayed into the tuner on ``nnictl resume``.

    If the wrapped tuner fails to propose parameters, the wrapper proposes random ones from the
    same search space for that request (logged), so the experiment goes on.

    Args:
        tuner: NNI name of the tuner to wrap, e.g. ``TPE``, ``Random``, ``Evolution``; ``GP`` and
            ``SMAC`` build the working versions in :mod:`bttackler_nni.tuners`.
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
        self._inner = _build_tuner(tuner, args)
        self.tuner_name = tuner
        self._maximize = _maximizes(self._inner, args)
        self._fallback = RandomTuner(seed=args.get("seed") if isinstance(args.get("seed"), int) else None)
        self._lock = threading.RLock()
        self._ledger = ParameterLedger()
        self._worst: float | None = None
        self._pending_replay: list[dict[str, Any]] = []
        self._journal = open_journal(TUNER_FEEDBACK_FILE)

    @property
    def inner(self) -> Tuner:
        """The wrapped tuner."""
        return self._inner

    def update_search_space(self, search_space: Any) -> None:
        with self._lock:
            with contained("BTTacklerTuner.update_search_space", "random parameters are proposed instead"):
                self._fallback.update_search_space(search_space)
            with contained(
                f"{self.tuner_name}.update_search_space",
                f"{self.tuner_name} cannot propose parameters; random parameters are proposed instead",
            ):
                self._inner.update_search_space(search_space)
            if self._pending_replay:
                self._replay(self._pending_replay)
                self._pending_replay = []

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Any:
        with self._lock:
            self._end_overdue()
            with contained(
                f"{self.tuner_name}.generate_parameters(parameter {parameter_id})",
                "random parameters are proposed instead",
                passing=(NoMoreTrialError,),
            ):
                parameters = self._inner.generate_parameters(parameter_id, **kwargs)
                self._ledger.generated(parameter_id, parameters)
                return parameters
            parameters = self._fallback.generate_parameters(parameter_id)
            self._ledger.generated(parameter_id, parameters, from_wrapped=False)
            return parameters

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]:
        callback = kwargs.get("st_callback")
        if callback is not None:  # Evolution and PBT hand out some parameters later, through it

            def remembering_callback(parameter_id: int, parameters: Any) -> None:
                with self._lock:
                    self._ledger.generated(parameter_id, parameters)
                callback(parameter_id, parameters)

            kwargs["st_callback"] = remembering_callback
        with self._lock:
            self._end_overdue()
            ids = ", ".join(map(str, parameter_id_list))
            with contained(
                f"{self.tuner_name}.generate_multiple_parameters(parameters {ids})",
                "random parameters are proposed instead",
            ):
                parameter_list = self._inner.generate_multiple_parameters(parameter_id_list, **kwargs)
                for parameter_id, parameters in zip(parameter_id_list, parameter_list, strict=False):
                    self._ledger.generated(parameter_id, parameters)
                return parameter_list
            return self._random_parameters(parameter_id_list)

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        """Pass a final result on, unless the wrapped tuner already has one for this parameter id.

        A stopped trial may still deliver its final result after it was fed (NNI processes trial
        ends and final results on different threads); a second result for the same id is logged and
        dropped. A result for an id the wrapped tuner no longer holds is imported instead.
        """
        trial = kwargs.get("trial_job_id")
        with (
            self._lock,
            contained(
                f"BTTacklerTuner.receive_trial_result(trial {trial}, parameter {parameter_id})",
                f"{self.tuner_name} does not learn from this result",
            ),
        ):
            self._give_result(parameter_id, parameters, self._finite_result(value), trial, kwargs)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """Feed a trial BTTackler stopped, then end it in the wrapped tuner under its true parameter id.

        NNI 3.0 may pass the parameter id of another trial here (see docs/nni-notes.md); the id
        the trial itself reported, handed over by the assessor, takes precedence.
        """
        ended = ENDED_TRIALS.take()
        trial = ended.trial if ended is not None else None
        with (
            self._lock,
            contained(
                f"BTTacklerTuner.trial_end(trial {trial}, parameter {parameter_id})",
                f"{self.tuner_name} is not told that this trial ended",
            ),
        ):
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
            if ended is not None and ended.stop is not None and not success:
                if ended.parameter_id is not None:
                    self._feed_stopped(parameter_id, ended)
                else:
                    _logger.info(
                        "BTTackler tuner: trial %s was stopped, but its reports carry no parameter id "
                        "(the Reporter's do), and NNI may end a trial under another trial's parameters "
                        "(parameter %d here); its result is not fed to %s rather than to the wrong "
                        "parameters",
                        ended.trial,
                        parameter_id,
                        self.tuner_name,
                    )
            route = self._ledger.route_end(parameter_id, success, time.monotonic())
            if route is EndRoute.END_WITH_RESULT:
                self._inner.trial_end(parameter_id, True, **kwargs)
            elif route is EndRoute.END_WITHOUT_RESULT:
                self._inner.trial_end(parameter_id, False, **kwargs)

    def import_data(self, data: Any) -> None:
        with self._lock, contained(f"{self.tuner_name}.import_data", "the imported results are not used"):
            self._inner.import_data(data)

    def load_checkpoint(self) -> None:
        """On ``nnictl resume``: the wrapped tuner's own checkpoint, then the stopped trials' results.

        NNI replays only trials with a final result into a resumed tuner; stopped trials have none,
        so they are read from the feedback journal. NNI calls this before it sends the search
        space, which a tuner needs to take results, so they are replayed in
        :meth:`update_search_space`.
        """
        with self._lock:
            with contained(f"{self.tuner_name}.load_checkpoint", "it starts from its initial state"):
                self._inner.load_checkpoint()
            folder = current_journal_dir()
            if folder is None:
                return
            with contained("BTTacklerTuner.load_checkpoint", "stopped trials are not replayed"):
                self._pending_replay = read_feedback(folder / TUNER_FEEDBACK_FILE)

    def save_checkpoint(self) -> None:
        with self._lock, contained(f"{self.tuner_name}.save_checkpoint", "no checkpoint is written"):
            self._inner.save_checkpoint()

    def _on_exit(self) -> None:
        with contained(f"{self.tuner_name}._on_exit", "the dispatcher exits anyway"):
            self._inner._on_exit()
        if self._journal is not None:
            self._journal.close()

    def _on_error(self) -> None:
        with contained(f"{self.tuner_name}._on_error", "the dispatcher exits anyway"):
            self._inner._on_error()

    def _give_result(
        self, parameter_id: int, parameters: Any, value: Any, trial: str | None, kwargs: dict[str, Any]
    ) -> bool:
        """Route one result to the wrapped tuner (see the ledger); return whether it was passed on."""
        route = self._ledger.route_result(parameter_id)
        if route is ResultRoute.DUPLICATE:
            _logger.info(
                "BTTackler tuner: parameter %d already has a result (its trial was stopped, or NNI mixed "
                "up parameter ids); the result %r of trial %s is not passed to %s again",
                parameter_id,
                value,
                trial,
                self.tuner_name,
            )
            return False
        if route is ResultRoute.RECEIVE:
            self._inner.receive_trial_result(parameter_id, parameters, value, **kwargs)
        else:
            _logger.info(
                "BTTackler tuner: %s no longer holds parameter %d (its end was handled first); "
                "its result %r (trial %s) is imported instead",
                self.tuner_name,
                parameter_id,
                value,
                trial,
            )
            self._inner.import_data([{"parameter": parameters, "value": value}])
        if self._ledger.end_due_after_result(parameter_id):
            self._inner.trial_end(parameter_id, True)
        return True

    def _end_overdue(self) -> None:
        for parameter_id in self._ledger.overdue_ends(time.monotonic(), END_WAIT_SECONDS):
            with contained(
                f"{self.tuner_name}.trial_end(parameter {parameter_id})",
                f"{self.tuner_name} is not told that this trial ended",
            ):
                self._inner.trial_end(parameter_id, True)

    def _random_parameters(self, parameter_id_list: list[int]) -> list[Any]:
        """Parameters from the random fallback, as many as it can give (fewer ends the experiment)."""
        parameter_list = []
        for parameter_id in parameter_id_list:
            with contained(
                f"BTTacklerTuner random fallback (parameter {parameter_id})", "no more trials are proposed"
            ):
                parameters = self._fallback.generate_parameters(parameter_id)
                self._ledger.generated(parameter_id, parameters, from_wrapped=False)
                parameter_list.append(parameters)
                continue
            break
        return parameter_list

    def _replay(self, results: list[dict[str, Any]]) -> None:
        """Import earlier stopped trials' results into the wrapped tuner, one by one.

        A line the tuner rejects (parameters of an older search space, say) is skipped with a
        warning; the others are still replayed.
        """
        replayed = 0
        for number, result in enumerate(results, start=1):
            try:
                self._inner.import_data([result])
            except Exception as error:  # noqa: BLE001 - a tuner exception would stop NNI's dispatcher
                _logger.warning(
                    "BTTackler tuner: %s rejected stopped-trial result %d of %d from %s (%s: %s); skipped",
                    self.tuner_name,
                    number,
                    len(results),
                    TUNER_FEEDBACK_FILE,
                    type(error).__name__,
                    error,
                )
                continue
            replayed += 1
            self._note_result(float(result["value"]))
        _logger.info(
            "BTTackler tuner replayed %d of %d stopped trials' results into %s",
            replayed,
            len(results),
            self.tuner_name,
        )

    def _feed_stopped(self, parameter_id: int, stopped: EndedTrial) -> None:
        """Give the wrapped tuner the stopped trial's metric as its final result."""
        if self._ledger.has_result(parameter_id):
            return
        parameters = self._ledger.parameters(parameter_id)
        verdict = stopped.stop
        indicator = verdict.reason.indicator if verdict is not None and verdict.reason else None
        metric = verdict.default if verdict is not None else None
        value = metric if metric is not None and math.isfinite(metric) else self._worst
        if parameters is None or value is None:
            _logger.warning(
                "BTTackler tuner has no %s for stopped trial %s; %s learns nothing from it",
                "parameters" if parameters is None else "finite result",
                stopped.trial,
                self.tuner_name,
            )
            return
        if not self._give_result(
            parameter_id, parameters, value, stopped.trial, {"trial_job_id": stopped.trial}
        ):
            return
        self._note_result(value)
        _logger.info(
            "BTTackler tuner fed %s the result %.6g of trial %s (parameter %d), stopped by %s",
            self.tuner_name,
            value,
            stopped.trial,
            parameter_id,
            indicator,
        )
        if self._journal is not None:
            self._journal.append(
                feedback_line(stopped.trial, parameter_id, parameters, value, indicator, time.time())
            )

    def _finite_result(self, value: Any) -> Any:
        """Track the worst finite result; replace a non-finite one by it (tuners cannot rank NaN)."""
        metric = _as_float(value.get("default") if isinstance(value, Mapping) else value)
        if metric is None:
            return value
        if math.isfinite(metric):
            self._note_result(metric)
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


def _build_tuner(name: str, args: dict[str, Any]) -> Tuner:
    """The tuner called ``name`` with ``args``: as NNI's dispatcher builds a tuner named in a config,
    except ``GP`` and ``SMAC``, NNI's broken on numpy 2, which are ours (:mod:`bttackler_nni.tuners`).

    A :class:`ConfigError` of our tuners (a bad argument, a search space they cannot handle, the
    missing ``smac`` extra) is their own one-line message and passes unchanged.
    """
    ours = {known.lower(): known for known in TUNERS}  # NNI's tuner names ignore case; so do ours
    builtin = name.lower() not in ours
    problem = broken(name) if builtin else None
    if problem is not None:  # it would build, then stop the dispatcher mid-experiment
        raise ConfigError(f"BTTacklerTuner classArgs.tuner = {name!r}: {problem}")
    try:
        if not builtin:
            return tuner_class(ours[name.lower()])(**args)
        return create_builtin_class_instance(name, args, "tuners")
    except ConfigError:
        raise
    except RuntimeError as error:
        if "Builtin name is not found" not in str(error):
            raise _rejected(name, args, error, builtin) from error
        raise ConfigError(
            f"BTTacklerTuner classArgs.tuner = {name!r}: {error}. Fix: name a tuner from "
            "`nnictl algo list`, e.g. TPE, Random or Evolution"
        ) from error
    except Exception as error:  # noqa: BLE001 - any error of the wrapped tuner's constructor
        raise _rejected(name, args, error, builtin) from error


def _maximizes(tuner: Tuner, args: Mapping[str, Any]) -> bool:
    """Whether ``tuner`` maximizes: its own ``optimize_mode``, which holds its default when the
    classArgs give none (TPE and Anneal minimize), else the classArgs' (``maximize`` if unset)."""
    mode = getattr(tuner, "optimize_mode", None)
    mode = getattr(mode, "value", mode) or args.get("optimize_mode", "maximize")
    return str(mode).lower() != "minimize"


def _rejected(name: str, args: dict[str, Any], error: Exception, builtin: bool) -> ConfigError:
    """Why the tuner ``name`` could not be built: the tuner itself, where NNI's (``builtin``) is known
    not to work here (:func:`~bttackler_nni.tuners.nni_builtins.known_fix`), else its arguments."""
    message = f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
    known = known_fix(name, error) if builtin else None
    if known is not None:
        return ConfigError(
            f"BTTacklerTuner classArgs.tuner = {name!r}: cannot be built here ({message}). {known}"
        )
    return ConfigError(
        f"BTTacklerTuner classArgs.tuner_args = {args!r}: {name} rejects them ({message}). "
        f"Fix: give the classArgs {name} documents, e.g. optimize_mode: maximize or minimize"
    )


def _as_float(value: Any) -> float | None:
    """A number as a float (an integer too large for one as +-inf); ``None`` for anything else."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
