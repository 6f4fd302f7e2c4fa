"""Run an NNI experiment from a YAML config to its end: check, create, watch, summarise, stop.

This is what ``bttackler run`` does. It drives the ordinary ``nnictl`` (the experiment is a normal
NNI experiment, visible in ``nnictl experiment list`` and the web UI while it runs), and adds what a
one-command run needs:

- the config is validated first, by NNI's own config classes and by BTTackler's classArgs checks, so
  a typo fails in a second with a message instead of a dispatcher that never connects;
- ``--set key.path=value`` overrides any config key without editing the file;
- the trial command's ``python`` is this interpreter's (its directory is put first on ``PATH``);
- progress is printed while it runs, and a dead NNI dispatcher (which otherwise leaves the
  experiment RUNNING forever) is detected and reported;
- the experiment is always stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import AssessorConfig, ConfigError

_PATH_KEYS = ("searchSpaceFile", "trialCodeDirectory", "experimentWorkingDirectory")
_ALGORITHM_SECTIONS = ("tuner", "assessor", "advisor")
_ASSESSOR_NAMES = ("bttackler_nni.BTTacklerAssessor", "bttackler_nni.assessor.BTTacklerAssessor")
_TUNER_NAMES = ("bttackler_nni.BTTacklerTuner", "bttackler_nni.tuner.BTTacklerTuner")
_FINISHED = ("DONE", "STOPPED", "ERROR")
_DISPATCHER_DEAD = ("Dispatcher terminiated", "Dispatcher exiting")  # sic: NNI's spelling


class LaunchError(RuntimeError):
    """The experiment could not be started or did not finish normally."""


@dataclass(frozen=True)
class RunningExperiment:
    """An experiment started by :func:`create`."""

    id: str
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read an experiment YAML, make its paths absolute, and apply ``key.path=value`` overrides.

    Relative paths in the file are relative to the file's folder (as for ``nnictl``); relative paths
    in overrides are relative to the current directory. Override values are parsed as YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise LaunchError(f"no experiment config at {path}")
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(config, dict):
        raise LaunchError(f"{path} must hold a YAML mapping (an NNI v2 experiment config)")
    config.setdefault("trialCodeDirectory", ".")  # NNI's default, relative to the file's folder
    for section in _ALGORITHM_SECTIONS:
        algorithm = config.get(section)
        if isinstance(algorithm, dict) and algorithm.get("className"):
            algorithm.setdefault("codeDirectory", ".")
    _resolve_paths(config, path.resolve().parent)
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator or not key:
            raise LaunchError(f"override {override!r} must look like key.path=value, e.g. maxTrialNumber=8")
        changed: dict[str, Any] = {}
        _set_dotted(changed, key.split("."), yaml.safe_load(text))
        _resolve_paths(changed, Path.cwd())
        _merge(config, changed)
    return config


def check_config(config: dict[str, Any]) -> None:
    """Validate with NNI's config classes and BTTackler's classArgs; raise :class:`LaunchError`."""
    from nni.experiment.config import ExperimentConfig

    try:
        ExperimentConfig(**config).validate()
    except Exception as error:  # noqa: BLE001 - NNI raises assorted types for bad configs
        # NNI often fails on a bare assert; its source line is the only explanation there is.
        where = traceback.extract_tb(error.__traceback__)[-1].line
        raise LaunchError(
            f"NNI rejects the experiment config: {type(error).__name__} {error} ({where})"
        ) from error
    problems = []
    for section in _ALGORITHM_SECTIONS:
        algorithm = config.get(section) or {}
        class_args = algorithm.get("classArgs") or {}
        try:
            if algorithm.get("className") in _ASSESSOR_NAMES or algorithm.get("name") == "BTTackler":
                AssessorConfig.from_class_args(class_args)
            if algorithm.get("className") in _TUNER_NAMES or algorithm.get("name") == "BTTacklerTuner":
                _check_tuner_args(class_args)
        except (ConfigError, TypeError) as error:
            problems.append(f"{section}: {error}")
    problems += _search_space_problems(config)
    if problems:
        raise LaunchError("\n".join(problems))


def _check_tuner_args(class_args: dict[str, Any]) -> None:
    """Build the tuner wrapper once, quietly: only that proves the wrapped tuner accepts its args."""
    from .tuner import BTTacklerTuner

    nni_logger = logging.getLogger("nni")
    level = nni_logger.level
    nni_logger.setLevel(logging.WARNING)
    try:
        BTTacklerTuner(**class_args)
    finally:
        nni_logger.setLevel(level)


def _search_space_problems(config: dict[str, Any]) -> list[str]:
    """What the extra tuners (GP, SMAC; see ``bttackler_nni.tuners``) would refuse at dispatcher start."""
    from . import tuners

    tuner_name = tuners.tuner_name_in(config.get("tuner") or {})
    if tuner_name is None:
        return []
    try:
        space = config.get("searchSpace")
        if space is None:
            space = json.loads(Path(config["searchSpaceFile"]).read_text(encoding="utf-8"))
        tuners.check_search_space(tuner_name, space)
    except (ConfigError, OSError, ValueError, KeyError) as error:
        return [f"searchSpace: {error}"]
    return []


def free_port() -> int:
    """A TCP port nothing listens on now (NNI's web server needs one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nnictl_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for ``nnictl``: this interpreter's folder first on ``PATH``, quiet warnings.

    NNI runs the trial command through a shell, so ``python`` there must be this virtualenv's.
    ``nnictl`` itself warns that ``pkg_resources`` is deprecated on every call; that noise is hidden.
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONWARNINGS"] = "ignore:pkg_resources is deprecated:UserWarning"
    return env


def nnictl(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run an ``nnictl`` command of this interpreter's NNI; return its output, raise on failure."""
    command = [sys.executable, "-m", "nni.tools.nnictl.nnictl", *args]
    completed = subprocess.run(
        command, capture_output=True, text=True, env=env or nnictl_environment(), timeout=timeout, check=False
    )
    output = _strip_ansi(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise LaunchError(f"`nnictl {' '.join(args)}` failed ({completed.returncode}):\n{output.strip()}")
    return output


def create(
    config: dict[str, Any], port: int | None = None, env: dict[str, str] | None = None
) -> RunningExperiment:
    """``nnictl create`` the (already loaded and checked) config; returns the running experiment."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="bttackler-") as folder:
        resolved = Path(folder) / "experiment.yml"
        resolved.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        output = nnictl("create", "--config", str(resolved), "--port", str(port), env=env)
    match = re.search(r"Experiment ID:\s*(\w+)", output)
    if match is None:
        raise LaunchError(f"could not read the experiment id from nnictl's output:\n{output}")
    experiment_id = match.group(1)
    root = Path(
        config.get("experimentWorkingDirectory")
        or Path((env or os.environ).get("HOME", "~")) / "nni-experiments"
    ).expanduser()
    return RunningExperiment(experiment_id, port, root / experiment_id)


def stop(experiment: RunningExperiment, env: dict[str, str] | None = None) -> None:
    """``nnictl stop`` the experiment (its trials, web server and dispatcher)."""
    nnictl("stop", experiment.id, env=env)


def rest(experiment: RunningExperiment, route: str) -> Any:
    """GET ``/api/v1/nni/<route>`` of the experiment's web server, decoded."""
    with urllib.request.urlopen(f"{experiment.url}/api/v1/nni/{route}", timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def wait(
    experiment: RunningExperiment,
    timeout: float,
    on_progress: Callable[[str], None] | None = None,
    poll_seconds: float = 2.0,
) -> str:
    """Block until the experiment finishes; return its final NNI status.

    Raises :class:`LaunchError` when NNI reports an error, its dispatcher dies, or ``timeout``
    seconds pass.
    """
    started = time.monotonic()
    last_line = ""
    while True:
        try:
            status = rest(experiment, "check-status")
            trials = rest(experiment, "trial-jobs")
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise LaunchError(f"NNI's web server at {experiment.url} stopped answering: {error}") from error
        state = status.get("status", "?")
        counts = Counter(trial.get("status") for trial in trials)
        line = _progress_line(state, counts)
        if on_progress is not None and line != last_line:
            on_progress(f"[{time.monotonic() - started:6.0f}s] {line}")
            last_line = line
        if state in _FINISHED:
            if state == "ERROR":
                raise LaunchError(f"NNI reports an error: {status.get('errors')}")
            return state
        if _dispatcher_died(experiment.directory):
            raise LaunchError(
                f"NNI's dispatcher stopped, so no more trials can be scheduled; see "
                f"{experiment.directory / 'log' / 'dispatcher.log'}"
            )
        if time.monotonic() - started > timeout:
            raise LaunchError(f"the experiment did not finish within {timeout:.0f} s")
        time.sleep(poll_seconds)


def _progress_line(state: str, counts: Counter) -> str:
    ended = sum(n for status, n in counts.items() if status not in ("WAITING", "RUNNING", "UNKNOWN"))
    parts = [f"{n} {status.lower()}" for status, n in sorted(counts.items())]
    return f"{state}: {ended} of {sum(counts.values())} trials ended ({', '.join(parts) or 'none yet'})"


def _dispatcher_died(directory: Path) -> bool:
    log = directory / "log" / "dispatcher.log"
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(marker in text for marker in _DISPATCHER_DEAD)


def _resolve_paths(config: dict[str, Any], base: Path) -> None:
    for key in _PATH_KEYS:
        if isinstance(config.get(key), str):
            config[key] = str((base / Path(config[key]).expanduser()).resolve())
    for section in _ALGORITHM_SECTIONS:
        algorithm = config.get(section)
        if isinstance(algorithm, dict) and isinstance(algorithm.get("codeDirectory"), str):
            algorithm["codeDirectory"] = str((base / Path(algorithm["codeDirectory"]).expanduser()).resolve())


def _set_dotted(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
