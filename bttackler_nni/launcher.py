"""Drive ``nnictl`` for a loaded and checked config: create, watch, stop (what ``bttackler run`` does).

The experiment is a normal NNI experiment, visible in ``nnictl experiment list`` and the web UI
while it runs; this module adds what a one-command run needs (configs are loaded and checked by
:mod:`bttackler_nni.experiment_config`):

- the trial command's ``python`` is this interpreter's (its directory is put first on ``PATH``);
- nnictl waits long enough for NNI's web server on a loaded machine (:mod:`.patient_nnictl`);
- a web UI port that is taken is reported in one line;
- progress is printed while it runs, and a dead NNI dispatcher (which otherwise leaves the
  experiment RUNNING forever) is detected and reported;
- the experiment is always stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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


def free_port() -> int:
    """A TCP port nothing listens on now (NNI's web server needs one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_port_free(port: int) -> None:
    """Raise :class:`LaunchError` in one line when something already listens on ``port``."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as NNI's web server binds
        try:
            probe.bind(("", port))
        except OSError:
            raise LaunchError(
                f"port {port} is in use (another NNI experiment?); give another --port, or leave --port "
                "out to take a free one"
            ) from None


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
    command = [sys.executable, "-m", "bttackler_nni.patient_nnictl", *args]
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
    if port is None:
        port = free_port()
    else:
        ensure_port_free(port)
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


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
