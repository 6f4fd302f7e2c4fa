"""The early-stopping rules a simulation compares, each behind NNI's assessor calls.

- ``none``: never stops.
- ``default``: BTTackler's diagnosis engine (:class:`~bttackler_nni.diagnosis.engine.Diagnoser`, the
  engine :class:`~bttackler_nni.dispatcher.assessor.BTTacklerAssessor` runs) with the default
  :class:`~bttackler_nni.diagnosis.config.AssessorConfig`, ranking in the bank's direction.
- ``paper``: the same engine under ``preset: paper`` (the paper's seven indicators and thresholds,
  docs/method.md sections 1-8), the classArgs a user would otherwise write into a file.
- a YAML or JSON file: the same engine under those ``classArgs`` (``direction`` the bank's unless
  the file sets it).
- ``medianstop``, ``curvefitting``: NNI's own ``MedianstopAssessor`` and ``CurvefittingAssessor``
  classes, built with NNI's defaults for the bank (``optimize_mode`` from its direction,
  ``epoch_num`` from its epochs) and called through ``assess_trial``/``trial_end`` with the trial's
  reports as NNI's dispatcher passes them (they read each report's ``default`` themselves).

:func:`resolve_arm` turns a ``--policy`` value into an :class:`~.simulation.Arm`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..diagnosis.config import AssessorConfig, ConfigError
from ..diagnosis.direction import Direction
from ..diagnosis.engine import Diagnoser
from .banks import Bank
from .simulation import Arm, NoStop, Policy

NAMED_ARMS = ("none", "default", "paper", "medianstop", "curvefitting")


class ArmError(ValueError):
    """A ``--policy`` value names no rule, or its file is unusable; the message says which and why."""


class DiagnosisPolicy:
    """BTTackler's diagnosis engine as a simulated assessor; a stop's reason is its indicator id."""

    def __init__(self, config: AssessorConfig) -> None:
        self.diagnoser = Diagnoser(config)

    def assess(self, trial: str, history: Sequence[Any]) -> bool:
        return self.diagnoser.assess(trial, history).stop

    def trial_end(self, trial: str, success: bool) -> None:
        self.diagnoser.trial_ended(trial)

    def reason(self, trial: str) -> str:
        verdict = self.diagnoser.stopped.get(trial)
        return verdict.reason.indicator if verdict is not None and verdict.reason is not None else "?"


class NNIAssessorPolicy:
    """An NNI assessor instance, called as NNI's dispatcher calls it (its log and numpy warnings muted).

    ``curves``, for Curvefitting: NNI's curve model is put in front of a :class:`CurveCache` while
    the assessor runs, so each distinct history is extrapolated once.
    """

    def __init__(self, name: str, assessor: Any, curves: CurveCache | None = None) -> None:
        self.name = name
        self.assessor = assessor
        self.curves = curves

    def assess(self, trial: str, history: Sequence[Any]) -> bool:
        from nni.assessor import AssessResult

        with warnings.catch_warnings(), self._curve_model():
            warnings.simplefilter("ignore")  # curve fitting warns on every bad fit
            result = self.assessor.assess_trial(trial, list(history))
        return result is AssessResult.Bad or result is False

    @contextmanager
    def _curve_model(self) -> Iterator[None]:
        if self.curves is None:
            yield
            return
        from nni.algorithms.hpo.curvefitting_assessor import curvefitting_assessor as module

        original = module.CurveModel
        module.CurveModel = self.curves.model  # type: ignore[assignment]
        try:
            yield
        finally:
            module.CurveModel = original  # type: ignore[misc]

    def trial_end(self, trial: str, success: bool) -> None:
        self.assessor.trial_end(trial, success)

    def reason(self, trial: str) -> str:
        return self.name


class CurveCache:
    """NNI's learning-curve model with each prediction kept, in memory and in a JSON-lines file.

    NNI's ``CurveModel.predict`` fits twelve curve families and runs a small MCMC in pure Python:
    1-3 s per call here, and a simulation asks the same question (this bank trial's first k
    reports) again in every seed. Each question is answered as in a fresh process: its MCMC runs on
    numpy's generator seeded from the question itself (:func:`_question_seed`), and NNI's fitted
    curve parameters, which live in a module-level dict and are kept from the previous question
    whenever a family fails to fit, start from NNI's initial values (:func:`_reset_curve_parameters`).
    So its answer is the same whenever and in whatever order it is asked: the cache only saves
    time, and a simulation gives the same numbers with a full, partial or empty cache. Answers are
    kept for the whole simulation and, when the bank is a file, in ``<bank file>.curves`` (JSON
    lines, each with its seed; lines without the right seed, such as those written before seeding
    or before the parameters were reset, are computed again) next to it for later ones. The
    assessor's own logic (start step, gap, threshold, its best-so-far) runs unchanged.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.predictions: dict[str, float | None] = {}
        self.computed = 0
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    if entry["seed"] == _question_seed(entry["key"]):
                        self.predictions[entry["key"]] = entry["prediction"]
                except (ValueError, KeyError, TypeError):
                    continue  # a damaged line is only a lost prediction: computed again

    def model(self, target_pos: int) -> _CachedCurveModel:
        """Stands in for ``CurveModel(target_pos)``."""
        return _CachedCurveModel(self, target_pos)

    def predict(self, target_pos: int, history: Sequence[float]) -> float | None:
        key = json.dumps([target_pos, [float(value) for value in history]])
        if key not in self.predictions:
            from nni.algorithms.hpo.curvefitting_assessor.model_factory import CurveModel

            seed = _question_seed(key)
            _reset_curve_parameters()
            with _numpy_seeded(seed):
                prediction = CurveModel(target_pos).predict(list(history))
            self.predictions[key] = None if prediction is None else float(prediction)
            self.computed += 1
            if self.path is not None:
                entry = {"key": key, "seed": seed, "prediction": self.predictions[key]}
                with self.path.open("a", encoding="utf-8") as stream:
                    stream.write(json.dumps(entry) + "\n")
        return self.predictions[key]


#: Names how cached answers were computed (in every seed, so older cache lines fail the seed check):
#: 2 = with NNI's curve parameters reset before each question.
_CURVE_ANSWERS = "curves-2"


def _question_seed(key: str) -> int:
    """A seed for numpy's generator taken from a curve question's key (stable across runs and
    machines, unlike Python's ``hash``)."""
    digest = hashlib.sha256(f"{_CURVE_ANSWERS}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


@functools.cache
def _initial_curve_parameters() -> dict[str, list[float]]:
    """NNI's starting values of each curve family's parameters, as its module sets them on import
    (taken on the first question, before any prediction in this process has changed them)."""
    from nni.algorithms.hpo.curvefitting_assessor import curvefunctions

    return copy.deepcopy(curvefunctions.model_para)


def _reset_curve_parameters() -> None:
    """NNI's curve parameters set back to their initial values, before a question.

    ``CurveModel.fit_theta`` writes each family's fitted parameters into the module-level
    ``model_para`` and, when a family's fit fails, silently keeps the previous question's; the
    prediction then depends on which trial was assessed before (measured on a 20-epoch bank: the
    same history predicted 0.085 alone, and None, 0.082, 0.084, 0.087 or 0.108 after another one).
    """
    from nni.algorithms.hpo.curvefitting_assessor import curvefunctions

    for family, values in _initial_curve_parameters().items():
        curvefunctions.model_para[family][:] = values


@contextmanager
def _numpy_seeded(seed: int) -> Iterator[None]:
    """numpy's global generator seeded with ``seed`` inside, put back as it was after, so that
    whatever else draws from it during a simulation seed draws the same whether or not the cache
    already held the answer."""
    import numpy as np

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclass(frozen=True)
class _CachedCurveModel:
    cache: CurveCache
    target_pos: int

    def predict(self, trial_history: Sequence[float]) -> float | None:
        return self.cache.predict(self.target_pos, trial_history)


def resolve_arm(spec: str, bank: Bank) -> Arm:
    """The arm a ``--policy`` value names: one of :data:`NAMED_ARMS`, or a classArgs file."""
    if spec == "none":
        return Arm("none", "no early stopping", lambda seed: NoStop())
    if spec == "default":
        return _diagnosis_arm("default", "BTTackler, default classArgs", config_for_bank({}, bank))
    if spec == "paper":
        return _diagnosis_arm("paper", "BTTackler, preset: paper", config_for_bank({"preset": "paper"}, bank))
    if spec == "medianstop":
        mode = bank.direction.value
        return Arm(
            "medianstop",
            f"NNI MedianstopAssessor(optimize_mode={mode})",
            _nni_factory("medianstop", "medianstop_assessor", "MedianstopAssessor", None, optimize_mode=mode),
        )
    if spec == "curvefitting":
        if bank.direction is not Direction.MAXIMIZE:
            raise ArmError(
                f"curvefitting: NNI's CurvefittingAssessor only maximizes, and {bank.name} minimizes; "
                "use medianstop for this bank"
            )
        return Arm(
            "curvefitting",
            f"NNI CurvefittingAssessor(epoch_num={bank.max_epochs})",
            _nni_factory(
                "curvefitting",
                "curvefitting_assessor",
                "CurvefittingAssessor",
                CurveCache(bank.path.with_name(bank.path.name + ".curves") if bank.path else None),
                epoch_num=bank.max_epochs,
            ),
        )
    path = Path(spec)
    if path.suffix.lower() in (".yml", ".yaml", ".json") or path.exists():
        return _diagnosis_arm(path.stem, f"BTTackler, classArgs of {path}", _read_class_args(path, bank))
    raise ArmError(
        f"unknown policy {spec!r}: give {', '.join(NAMED_ARMS)}, or a YAML/JSON file of BTTackler classArgs"
    )


def _diagnosis_arm(name: str, description: str, config: AssessorConfig) -> Arm:
    return Arm(name, description, lambda seed: DiagnosisPolicy(config))


def _nni_factory(
    name: str, module: str, cls: str, curves: CurveCache | None, **class_args: Any
) -> Callable[[int], Policy]:
    """A fresh NNI assessor per seed, numpy's global generator seeded with the seed (curve fitting
    samples from it), NNI's per-call info logging muted."""

    def make(seed: int) -> Policy:
        import importlib

        import numpy as np

        logging.getLogger(f"{name}_Assessor").setLevel(logging.WARNING)
        np.random.seed(seed)
        assessor_class = getattr(importlib.import_module(f"nni.algorithms.hpo.{module}"), cls)
        return NNIAssessorPolicy(name, assessor_class(**class_args), curves)

    return make


def config_for_bank(class_args: Any, bank: Bank) -> AssessorConfig:
    """BTTackler's config from classArgs replayed on ``bank``: ``direction`` is the bank's unless
    the classArgs set it (as a config's assessor takes its tuner's ``optimize_mode``). Without it, a
    minimizing bank would be judged as if higher were better."""
    if class_args is None:
        class_args = {}
    if isinstance(class_args, Mapping) and "direction" not in class_args:
        class_args = {**class_args, "direction": bank.direction.value}
    return AssessorConfig.from_class_args(class_args)


def _read_class_args(path: Path, bank: Bank) -> AssessorConfig:
    """The file's classArgs, with the bank's direction unless the file sets one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ArmError(f"policy file {path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise ArmError(f"policy file {path}: not UTF-8 text ({error})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        problem = str(error).replace("\n", " ")
        raise ArmError(f"policy file {path}: not valid {path.suffix[1:].upper()} ({problem})") from None
    try:
        return config_for_bank(data, bank)
    except ConfigError as error:
        problems = [line.strip(" -") for line in str(error).splitlines()[1:]] or [str(error)]
        raise ArmError(f"policy file {path}: {'; '.join(problems)}") from None
