"""Experiment YAML configs: load them with ``--set`` overrides; check them as NNI's dispatcher runs them.

NNI 3.0 validates the shape of a config but not what its dispatcher does at start: build the tuner
and assessor from their classArgs, give the tuner the search space, ask it for parameters. A bad
classArg found there kills the dispatcher (the experiment shows ERROR after 10 s, or hangs in
RUNNING when it happens after start-up). :func:`check_config` therefore does the same things, in
this process, before anything is launched, and reports each problem as one line that names the
config key and the fix.
"""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from ..diagnosis.config import AssessorConfig, ConfigError
from ..dispatcher.experiment_config import ranking_direction
from ..dispatcher.tuner import BTTacklerTuner
from ..tuners import SearchSpaceError
from ..tuners.nni_builtins import broken, known_fix
from . import registration, remote
from .trial_command import stop_reaches_only_the_shell

_PATH_KEYS = ("searchSpaceFile", "trialCodeDirectory", "experimentWorkingDirectory")
_ALGORITHM_SECTIONS = ("tuner", "assessor", "advisor")


class ExperimentConfigError(ValueError):
    """The experiment config cannot be loaded or would not run; the message says where and how to fix it."""


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read an experiment YAML, make its paths absolute, and apply ``key.path=value`` overrides.

    Relative paths in the file are relative to the file's folder (as for ``nnictl``); relative paths
    in overrides are relative to the current directory. Override values are parsed as YAML, and each
    replaces what the file had at its key (``tuner={name: Random}`` is the whole tuner section, not
    merged into the file's); the keys beside it stay.
    """
    path = Path(path)
    if not path.is_file():
        raise ExperimentConfigError(f"no experiment config at {path}")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ExperimentConfigError(f"{path} is not valid YAML: {_one_line(error)}") from None
    if not isinstance(config, dict):
        raise ExperimentConfigError(f"{path} must hold a YAML mapping (an NNI v2 experiment config)")
    config.setdefault("trialCodeDirectory", ".")  # NNI's default, relative to the file's folder
    for section in _ALGORITHM_SECTIONS:
        algorithm = config.get(section)
        if isinstance(algorithm, dict) and algorithm.get("className"):
            algorithm.setdefault("codeDirectory", ".")
    _resolve_paths(config, path.resolve().parent)
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator or not key:
            raise ExperimentConfigError(
                f"override {override!r} must look like key.path=value, e.g. maxTrialNumber=8"
            )
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ExperimentConfigError(
                f"override {override!r}: the value is not valid YAML ({_one_line(error)}); quote it, "
                f"e.g. {key}='\"{text}\"'"
            ) from None
        keys = key.split(".")
        alone: dict[str, Any] = {}  # the override as a config of its own: its paths resolve from here
        _set_dotted(alone, keys, value)
        _resolve_paths(alone, Path.cwd())
        for name in keys[:-1]:
            alone = alone[name]
        _set_dotted(config, keys, alone[keys[-1]])
    return config


def search_space(config: Mapping[str, Any]) -> Any:
    """The config's search space: ``searchSpace``, or the JSON file ``searchSpaceFile`` names."""
    if config.get("searchSpace") is not None:
        return config["searchSpace"]
    file = config.get("searchSpaceFile")
    if file is None:
        raise ExperimentConfigError("the config has no search space. Fix: set searchSpaceFile or searchSpace")
    try:
        return json.loads(Path(file).read_text(encoding="utf-8"))
    except OSError as error:
        raise ExperimentConfigError(f"searchSpaceFile {file}: cannot be read ({error.strerror})") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ExperimentConfigError(
            f"searchSpaceFile {file} is not valid JSON: {_one_line(error)}. Fix: a JSON object such as "
            '{"lr": {"_type": "loguniform", "_value": [1e-4, 0.1]}}'
        ) from None


def check_config(config: dict[str, Any]) -> None:
    """Check ``config`` as NNI, then its dispatcher, will use it; raise :class:`ExperimentConfigError`.

    NNI's own config classes first; then the search space is read, each remote machine's SSH port
    is tried, and each algorithm section is built from its classArgs exactly as NNI's dispatcher
    builds it (a tuner is also given the search space and asked for one set of parameters), so that
    what passes here starts.
    """
    from nni.experiment.config import ExperimentConfig

    if not config.get("trainingService"):  # NNI's own error is an AttributeError on a sentinel
        raise ExperimentConfigError(
            "the config has no trainingService. Fix: add `trainingService: {platform: local}` to run the "
            "trials on this machine (or a remote one, see the README's Remote workers)"
        )
    try:
        ExperimentConfig(**config).validate()
    except Exception as error:  # noqa: BLE001 - NNI raises assorted types for bad configs
        raise ExperimentConfigError(_nni_rejection(config, error)) from None
    space = search_space(config)
    problems = remote.unreachable(config)
    for section in _ALGORITHM_SECTIONS:
        algorithm = config.get(section)
        if isinstance(algorithm, dict):
            try:
                _check_algorithm(section, algorithm, space)
            except ExperimentConfigError as error:
                problems.append(str(error))
    problems.extend(_direction_mismatch(config))
    problems.extend(_unstoppable_trials(config))
    if problems:
        raise ExperimentConfigError("\n".join(problems))


def _unstoppable_trials(config: dict[str, Any]) -> list[str]:
    """An assessor's stops that the trialCommand would keep from reaching the training."""
    command = config.get("trialCommand")
    if not config.get("assessor") or not isinstance(command, str):
        return []
    reason = stop_reaches_only_the_shell(command)
    if reason is None:
        return []
    return [
        f"trialCommand {command!r}: {reason} keeps bash between NNI and the training, so a trial the "
        "assessor stops trains on (until NNI kills bash 5 s later, when the Reporter ends it). Fix: make "
        "the training the last command and start it with exec, e.g. `cd src && exec python train.py > "
        "train.log 2>&1`; NNI keeps each trial's output in its trial.stdout and trial.stderr anyway"
    ]


def _check_algorithm(section: str, algorithm: dict[str, Any], space: Any) -> None:
    """Build one algorithm as NNI's dispatcher does (``nni/__main__.py``) and exercise a tuner once."""
    from nni.tools.package_utils import create_builtin_class_instance, create_customized_class_instance
    from nni.tools.package_utils.config_manager import get_algo_meta

    name, class_name = algorithm.get("name"), algorithm.get("className")
    label = str(name or class_name)
    ours = registration.algorithm(name)
    if ours is not None and get_algo_meta(str(name)) is None:
        raise ExperimentConfigError(
            f"{section}.name: {name} is not registered with this NNI. Fix: run `bttackler register` "
            f"once, or name the class instead: `className: {ours['className']}`"
        )
    problem = broken(name) if section == "tuner" else None
    if problem is not None:  # it would build, then stop the dispatcher mid-experiment
        raise ExperimentConfigError(f"{section}.name: {name}: {problem}")
    class_args = algorithm.get("classArgs") or {}
    if registration.is_our_assessor(name, class_name):
        try:  # our own messages list every bad key at once
            AssessorConfig.from_class_args(class_args)
        except ConfigError as error:
            raise ExperimentConfigError(f"{section}: {error}") from None
    kind = "assessors" if section == "assessor" else "tuners"
    with _as_in_the_dispatcher():
        try:
            if name:
                instance = create_builtin_class_instance(name, class_args, kind)
            else:
                instance = create_customized_class_instance(algorithm)
        except ConfigError as error:
            raise ExperimentConfigError(f"{section}: {error}") from None
        except Exception as error:  # noqa: BLE001 - whatever the class raises kills the dispatcher
            known = known_fix(name, error)
            if known is not None:  # the algorithm itself, not its classArgs
                raise ExperimentConfigError(
                    f"{section}.name: {label} cannot be built here: {_describe(error)}. {known}"
                ) from None
            raise ExperimentConfigError(
                f"{section}.classArgs: {label} cannot be built with {class_args!r}: {_describe(error)}. "
                f"Fix: check {label}'s classArgs in its documentation"
            ) from None
        if section != "tuner":
            return
        if isinstance(instance, BTTacklerTuner):  # the wrapper would swallow the error at run time
            _exercise_tuner(instance.inner, instance.tuner_name, f"{section}.classArgs.tuner_args", space)
        else:
            _exercise_tuner(instance, label, f"{section}.classArgs", space)


def _direction_mismatch(config: Mapping[str, Any]) -> list[str]:
    """One problem when our assessor would rank trials the other way from the tuner: the rule its
    constructor applies in NNI's dispatcher (:func:`~..dispatcher.experiment_config.ranking_direction`).

    Only when the assessor's classArgs are valid (:func:`_check_algorithm` reports an invalid one).
    """
    assessor = config.get("assessor")
    if not isinstance(assessor, dict):
        return []
    if not registration.is_our_assessor(assessor.get("name"), assessor.get("className")):
        return []
    class_args = assessor.get("classArgs") or {}
    try:
        stated = AssessorConfig.from_class_args(class_args).direction if "direction" in class_args else None
        ranking_direction(stated, config)
    except ConfigError as error:
        return [str(error)]
    return []


def _exercise_tuner(tuner: Any, label: str, key: str, space: Any) -> None:
    """Give the tuner the search space and ask for parameters once, as the dispatcher's first requests do."""
    from nni import NoMoreTrialError

    try:
        tuner.update_search_space(space)
        tuner.generate_multiple_parameters([0], st_callback=lambda *_: None)
    except NoMoreTrialError:
        pass
    except SearchSpaceError as error:  # a type the tuner cannot handle: the message names parameter and fix
        raise ExperimentConfigError(f"searchSpace: {error}") from None
    except Exception as error:  # noqa: BLE001
        nni_own = type(tuner).__module__.startswith("nni.")  # not this package's GP or SMAC of that name
        fix = (known_fix(label, error) if nni_own else None) or (
            f"Fix: check {label}'s classArgs (types and values) and the parameter types it supports in its "
            "documentation"
        )
        raise ExperimentConfigError(
            f"{key} or searchSpaceFile: {label} fails on the search space or when asked for parameters: "
            f"{_describe(error)}. {fix}"
        ) from None


@contextmanager
def _as_in_the_dispatcher() -> Iterator[None]:
    """Build algorithms here without side effects: no journal written, NNI's info logging quiet."""
    saved_checkpoint = os.environ.pop("NNI_CHECKPOINT_DIRECTORY", None)
    loggers = [logging.getLogger(name) for name in ("nni", "bttackler_nni")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if saved_checkpoint is not None:
            os.environ["NNI_CHECKPOINT_DIRECTORY"] = saved_checkpoint


def _nni_rejection(config: dict[str, Any], error: Exception) -> str:
    """Why NNI's config classes refused ``config``, naming the key where that can be told.

    NNI fails on a mistyped section or an unknown platform with an AttributeError deep inside, and
    on a bad number with a bare assert, whose source line names the attribute.
    """
    from nni.experiment.config.utils import camel_case, training_service_config_factory

    for section in _ALGORITHM_SECTIONS:
        value = config.get(section)
        if value is not None:
            problem = _algorithm_section_problem(section, value)
            if problem is not None:
                return problem
    service = config.get("trainingService")
    for each in service if isinstance(service, list) else [service]:
        platform = each.get("platform") if isinstance(each, dict) else None
        try:
            training_service_config_factory(platform)
        except ValueError:
            return (
                f"trainingService.platform: {platform!r} is not a training service of NNI. Fix: "
                "`platform: local` (this machine) or `platform: remote` (see the README's Remote workers)"
            )
    where = traceback.extract_tb(error.__traceback__)[-1].line or ""
    attribute = re.search(r"self\.([a-z_]+)", where) if isinstance(error, AssertionError) else None
    if attribute is not None:
        key = camel_case(attribute.group(1))  # NNI's own mapping of its fields to config keys
        if key in config:
            condition = where.removeprefix("assert ").replace("self.", "")
            return f"{key} = {config[key]!r}: NNI requires `{condition}`"
    return f"NNI rejects the experiment config: {type(error).__name__} {_one_line(error)} ({where})"


def _algorithm_section_problem(section: str, value: Any) -> str | None:
    """What NNI's bare asserts refuse in a tuner, assessor or advisor section, named with the fix."""
    fix = (
        "Fix: `name:` for a built-in or registered algorithm (e.g. name: TPE), or `className:` with "
        "`codeDirectory:` for a class of your own"
    )
    if not isinstance(value, dict):
        example = f"`{section}: {{name: ...}}` or `{{className: ...}}`"
        return f"{section}: must be a mapping, e.g. {example}, got {value!r}"
    name, class_name = value.get("name"), value.get("className")
    if name is not None and class_name is not None:
        return f"{section}: has both name ({name!r}) and className ({class_name!r}); give one. {fix}"
    if not name and not class_name:
        return f"{section}: names no algorithm. {fix}"
    if name is not None and value.get("codeDirectory") is not None:
        return (
            f"{section}.codeDirectory: goes with className; NNI finds the algorithm {name!r} by its name. "
            "Fix: remove codeDirectory, or give className instead of name"
        )
    return None


def _resolve_paths(config: dict[str, Any], base: Path) -> None:
    for key in _PATH_KEYS:
        if isinstance(config.get(key), str):
            config[key] = _absolute(key, config[key], base)
    for section in _ALGORITHM_SECTIONS:
        algorithm = config.get(section)
        if isinstance(algorithm, dict) and isinstance(algorithm.get("codeDirectory"), str):
            algorithm["codeDirectory"] = _absolute(
                f"{section}.codeDirectory", algorithm["codeDirectory"], base
            )


def _absolute(key: str, path: str, base: Path) -> str:
    """``path`` (``~`` expanded) made absolute from the config file's folder ``base``."""
    try:
        return str((base / Path(path).expanduser()).resolve())
    except RuntimeError:  # ~name of no user
        user = path.split("/")[0]
        raise ExperimentConfigError(
            f"{key}: {path}: {user} names no user on this machine; give an absolute path, or one with ~/"
        ) from None


def _set_dotted(target: dict[str, Any], keys: list[str], value: Any) -> None:
    """``target[k1][k2]...[kn] = value``, creating (or replacing with) a mapping at each key on the way
    that holds none."""
    for key in keys[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[keys[-1]] = value


def _describe(error: BaseException) -> str:
    """``Type: message`` on one line; where the exception has no message, where it was raised."""
    text = _one_line(error).rstrip(".")
    if not text:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        text = f"at {Path(frame.filename).name}:{frame.lineno} `{frame.line}`"
    return f"{type(error).__name__}: {text}"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."
