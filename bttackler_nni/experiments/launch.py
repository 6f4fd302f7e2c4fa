"""Drive ``nnictl`` for a loaded and checked config: create, watch, stop (what ``bttackler run`` does).

The experiment is a normal NNI experiment, visible in ``nnictl experiment list`` and the web UI
while it runs; this module adds what a one-command run needs (configs are loaded and checked by
:mod:`bttackler_nni.experiments.config`):

- the trial command's ``python`` is this interpreter's (its directory is put first on ``PATH``);
- nnictl waits long enough for NNI's web server on a loaded machine (:mod:`.patient_nnictl`);
- a web UI port that is taken is reported in one line;
- progress is printed while it runs, and a dead NNI dispatcher (which otherwise leaves the
  experiment RUNNING forever) is detected and reported;
- a tuner that has no more parameters ends the run once its trials have ended (NNI 3.0 leaves
  such an experiment in TUNER_NO_MORE_TRIAL for ever);
- a training service that fails to start (a remote machine that refuses the SSH login, say) is
  reported with NNI's reason, read from ``nnimanager.log``, instead of a vanished web server;
- the experiment is always stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..dispatcher.journal import VERDICTS_FILE, StoppedTrials, journal_dir_of_experiment
from . import remote
from .store import ExperimentNotFound, experiment_directory, load, registry_entry

_FINISHED = ("DONE", "STOPPED", "ERROR")
_UNFINISHED_TRIALS = ("WAITING", "RUNNING", "UNKNOWN")
_START_FAILED = "Training srevice initialize failed: "  # sic: NNI's spelling (training_service/v3/compat.js)
_SHUTDOWN_DONE = "(ShutdownManager) Shutdown complete."
_DISPATCHER_DEAD = ("Dispatcher terminiated", "Dispatcher exiting")  # sic: NNI's spelling


class LaunchError(RuntimeError):
    """The experiment could not be started or did not finish normally."""


class LaunchTimeout(LaunchError):
    """An ``nnictl`` command, or the experiment, ran past its time limit."""


class LaunchInterrupted(LaunchError):
    """Ctrl-C cut the run short; the message says what was kept (the command exits 130, as after
    any Ctrl-C)."""


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
    """A TCP port nothing uses now, for NNI's web server, drawn below the kernel's ephemeral range.

    A port of the ephemeral range (what binding port 0 returns) can become, between this check and
    NNI's own bind seconds later, the local end of any outgoing connection on the machine: a
    trial's report, another experiment's dispatcher, pip. NNI's web server then fails to start and
    ``nnictl create`` fails ("Expecting value"). Below that range only explicit binds take ports, and
    a random draw keeps concurrent launches from picking the same one.
    """
    low = _ephemeral_ports()[0]
    first = max(1024, low - 12000)
    candidates = random.sample(range(first, low), k=min(200, low - first))
    port = next((p for p in candidates if _bindable(p)), None)
    if port is None:
        raise LaunchError(f"no free TCP port between {first} and {low - 1}; give one with --port")
    return port


def _bindable(port: int) -> bool:
    """Whether NNI's web server could bind ``port`` now (probed as it binds: all addresses, SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux's default where unreadable)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def ensure_port_free(port: int) -> None:
    """Raise :class:`LaunchError` in one line when something already listens on ``port``."""
    if not _bindable(port):
        raise LaunchError(
            f"port {port} is in use (another NNI experiment?); give another --port, or leave --port "
            "out to take a free one"
        )


def nnictl_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for ``nnictl``: this interpreter's folder first on ``PATH``, quiet warnings.

    NNI runs the trial command through a shell, so ``python`` there must be this virtualenv's.
    ``nnictl`` itself warns that ``pkg_resources`` is deprecated on every call; that noise is hidden.
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONWARNINGS"] = "ignore:pkg_resources is deprecated:UserWarning"
    return env


def nnictl_home(env: dict[str, str] | None = None) -> Path:
    """The home folder nnictl runs with in ``env`` (default: this process's): NNI's registry and
    experiments are in its ``nni-experiments``."""
    return Path((env or os.environ).get("HOME", "~")).expanduser()


def nnictl(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, own_session: bool = False
) -> str:
    """Run an ``nnictl`` command of this interpreter's NNI; return its output, raise on failure
    (:class:`LaunchTimeout` past ``timeout`` seconds).
    ``own_session``: in a session of its own, out of reach of the terminal's Ctrl-C."""
    command = [sys.executable, "-m", "bttackler_nni.experiments.patient_nnictl", *args]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env or nnictl_environment(),
            timeout=timeout,
            check=False,
            start_new_session=own_session,
        )
    except subprocess.TimeoutExpired as error:
        raise LaunchTimeout(f"`nnictl {' '.join(args)}` did not finish within {timeout:g} s") from error
    output = _strip_ansi(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise LaunchError(f"`nnictl {' '.join(args)}` failed ({completed.returncode}):\n{output.strip()}")
    return output


def create(
    config: dict[str, Any], port: int | None = None, env: dict[str, str] | None = None
) -> RunningExperiment:
    """``nnictl create`` the (already loaded and checked) config; returns the running experiment.

    Ctrl-C while NNI starts waits for the start, then stops the experiment and raises
    :class:`LaunchInterrupted`: cut short, ``nnictl create`` would leave NNI's manager (a process
    group of its own) running trials, unknown to ``nnictl``'s list when cut early enough."""
    if port is None:
        port = free_port()
    else:
        ensure_port_free(port)
    with tempfile.TemporaryDirectory(prefix="bttackler-") as folder, ctrl_c_deferred() as interrupted:
        resolved = Path(folder) / "experiment.yml"
        resolved.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        output = nnictl("create", "--config", str(resolved), "--port", str(port), env=env, own_session=True)
        ctrl_c = interrupted()
    match = re.search(r"Experiment ID:\s*(\w+)", output)
    if match is None:
        raise LaunchError(f"could not read the experiment id from nnictl's output:\n{output}")
    experiment_id = match.group(1)
    directory = experiment_directory(
        experiment_id, config.get("experimentWorkingDirectory"), nnictl_home(env)
    )
    experiment = RunningExperiment(experiment_id, port, directory)
    if ctrl_c:
        with ctrl_c_ignored():
            stop(experiment, env)
        raise LaunchInterrupted(f"interrupted while NNI started experiment {experiment_id}, which is stopped")
    return experiment


@contextlib.contextmanager
def launched(
    config: dict[str, Any],
    env: dict[str, str] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Iterator[RunningExperiment]:
    """Create the experiment on a free port and stop it on leaving the block, whatever happens (a
    second Ctrl-C too). ``on_progress`` gets a line once it has started and one when it stops."""
    experiment = create(config, free_port(), env)
    if on_progress is not None:
        on_progress(
            f"experiment {experiment.id} started; web UI {experiment.url}; files in {experiment.directory}"
        )
    try:
        yield experiment
    finally:
        with ctrl_c_ignored():
            if on_progress is not None:
                on_progress(f"stopping experiment {experiment.id}")
            stop(experiment, env)


@contextlib.contextmanager
def ctrl_c_deferred() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C (SIGINT) back inside the block; it yields a function that says whether one came,
    for the code in the block to act on once what it cannot leave half done is done. Python handles
    signals in its main thread only; elsewhere nothing is held back and the function says no."""
    pressed: list[int] = []
    with _ctrl_c_handled_by(lambda signum, _frame: pressed.append(signum)):
        yield lambda: bool(pressed)


@contextlib.contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """Ignore Ctrl-C (SIGINT) inside the block, so that a second Ctrl-C cannot cut short the stopping
    of an experiment and leave NNI's manager and its trials running with no one to stop them.

    Commands started inside (``nnictl stop``) inherit the setting, as Ctrl-C in a terminal reaches
    them too. Python handles signals in its main thread only; elsewhere the block runs as it is."""
    with _ctrl_c_handled_by(signal.SIG_IGN):
        yield


@contextlib.contextmanager
def _ctrl_c_handled_by(handler: Any) -> Iterator[None]:
    """``handler`` takes SIGINT inside the block, then the previous one again; in the main thread
    only, where Python handles signals (elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_to_end(
    config: dict[str, Any],
    env: dict[str, str] | None = None,
    timeout: float = 24 * 3600,
    on_progress: Callable[[str], None] | None = None,
) -> RunningExperiment:
    """Create the experiment, wait until it finishes, and stop it whatever happens (for scripts;
    ``bttackler run`` adds Ctrl-C handling and a summary). ``on_progress`` gets a line when it has
    started, then :func:`wait`'s progress lines."""
    with launched(config, env, on_progress) as experiment:
        wait(experiment, timeout, on_progress)
    return experiment


def stop(experiment: RunningExperiment, env: dict[str, str] | None = None) -> None:
    """``nnictl stop`` the experiment (its trials, web server and dispatcher), leaving NNI's registry
    saying STOPPED.

    NNI 3.0's manager, stopped before its dispatcher has connected, fails in its own shutdown (a
    TypeError in ``TunerServer.sendCommand``, in ``nnimanager.log``) and exits with the experiment's
    registry entry at STOPPING. nnictl marks the experiment of a manager that is gone STOPPED whenever
    it lists experiments, so then it is asked to list them.
    """
    nnictl("stop", experiment.id, env=env)
    if registry_entry(experiment.id, nnictl_home(env)).get("status") != "STOPPED":
        nnictl("experiment", "list", "--all", env=env)


def rest(experiment: RunningExperiment, route: str) -> Any:
    """GET ``/api/v1/nni/<route>`` of the experiment's web server, decoded."""
    with urllib.request.urlopen(f"{experiment.url}/api/v1/nni/{route}", timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def fetch_failed_trial_logs(experiment: RunningExperiment, limit: int) -> None:
    """Have NNI copy the log files of up to ``limit`` failed trials to ``<experiment dir>/trials/<id>/``.

    A remote training service keeps trial logs on the worker; NNI's manager fetches them when asked
    through its web server, which must still be running. What cannot be fetched is skipped.
    """
    try:
        failed = [t["trialJobId"] for t in rest(experiment, "trial-jobs") if t.get("status") == "FAILED"]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return
    for trial in failed[:limit]:
        try:
            with urllib.request.urlopen(
                f"{experiment.url}/api/v1/nni/trial-file/{trial}/trial.log", timeout=60
            ):
                pass
        except (urllib.error.URLError, OSError):
            continue


def wait(
    experiment: RunningExperiment,
    timeout: float,
    on_progress: Callable[[str], None] | None = None,
    poll_seconds: float = 2.0,
) -> str:
    """Block until the experiment finishes; return its final NNI status.

    Finished means DONE, STOPPED, or TUNER_NO_MORE_TRIAL with every trial ended. Raises
    :class:`LaunchError` when NNI reports an error, its training service fails to start or its
    dispatcher dies, and :class:`LaunchTimeout` when ``timeout`` seconds pass.
    """
    started = time.monotonic()
    last_line = ""
    stopped = StoppedTrials(journal_dir_of_experiment(experiment.directory) / VERDICTS_FILE)
    while True:
        try:
            status = rest(experiment, "check-status")
            trials = rest(experiment, "trial-jobs")
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise LaunchError(
                _start_failure(experiment.directory)
                or f"NNI's web server at {experiment.url} stopped answering: {error}"
            ) from error
        state = status.get("status", "?")
        line = _progress_line(state, trials, stopped.update())
        if on_progress is not None and line != last_line:
            on_progress(f"[{time.monotonic() - started:6.0f}s] {line}")
            last_line = line
        if state in _FINISHED:
            if state == "ERROR":
                raise LaunchError(
                    _start_failure(experiment.directory) or f"NNI reports an error: {status.get('errors')}"
                )
            return state
        if state == "TUNER_NO_MORE_TRIAL" and _all_trials_ended(experiment, trials):
            return state
        if _dispatcher_died(experiment.directory):
            raise LaunchError(
                f"NNI's dispatcher stopped, so no more trials can be scheduled; see "
                f"{experiment.directory / 'log' / 'dispatcher.log'}"
            )
        if time.monotonic() - started > timeout:
            raise LaunchTimeout(f"the experiment did not finish within {timeout:.0f} s")
        time.sleep(poll_seconds)


def _all_trials_ended(experiment: RunningExperiment, trials: list[dict[str, Any]]) -> bool:
    """Whether every trial the tuner proposed was started and has ended.

    NNI queues proposed trials until its training service takes them (a remote one starts late);
    ``nextSequenceId`` counts them all. With none running, NNI never asks the tuner again.
    """
    if any(trial.get("status") in _UNFINISHED_TRIALS for trial in trials):
        return False
    try:
        proposed = rest(experiment, "experiment").get("nextSequenceId")
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return isinstance(proposed, int) and len(trials) >= proposed


def _progress_line(state: str, trials: list[dict[str, Any]], stopped: frozenset[str]) -> str:
    """``RUNNING: 5 of 8 trials ended (3 running, 2 stopped by BTTackler, 3 succeeded)``: NNI's status
    of each trial, except that a trial BTTackler stopped is counted as such, whatever NNI calls it
    (EARLY_STOPPED, USER_CANCELED, or FAILED under a launcher such as ``torchrun``)."""
    labels = Counter(_progress_label(trial, stopped) for trial in trials)
    ended = sum(trial.get("status") not in _UNFINISHED_TRIALS for trial in trials)
    parts = [f"{n} {label}" for label, n in sorted(labels.items())]
    return f"{state}: {ended} of {len(trials)} trials ended ({', '.join(parts) or 'none yet'})"


def _progress_label(trial: dict[str, Any], stopped: frozenset[str]) -> str:
    status = str(trial.get("status"))
    if trial.get("trialJobId") in stopped and status not in (*_UNFINISHED_TRIALS, "SUCCEEDED"):
        return "stopped by BTTackler"
    return status.lower()


def _dispatcher_died(directory: Path) -> bool:
    log = directory / "log" / "dispatcher.log"
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(marker in text for marker in _DISPATCHER_DEAD)


def _start_failure(directory: Path, settle_seconds: float = 15.0) -> str | None:
    """Why NNI's training service failed to start, in one line, when ``nnimanager.log`` says so.

    NNI writes its log asynchronously while it shuts down, so the log is read until it records the
    failure or the end of the shutdown, for up to ``settle_seconds``.
    """
    log_file = directory / "log" / "nnimanager.log"
    deadline = time.monotonic() + settle_seconds
    while True:
        try:
            log = log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            log = ""
        errors = [
            line.split(_START_FAILED, 1)[1].strip() for line in log.splitlines() if _START_FAILED in line
        ]
        if errors or _SHUTDOWN_DONE in log or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not errors:
        return None
    error = errors[-1].removeprefix("Error: ")
    try:
        config = load(directory).config
    except (ExperimentNotFound, OSError, ValueError):
        config = {}
    return f"{remote.explain_start_failure(error, config)} (log: {log_file})"


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
