"""Helpers for tests that run real NNI experiments: an isolated NNI home, the CLI, controlled spaces.

NNI keeps its experiment registry in ``~/nni-experiments`` and registered algorithms in
``NNI_CONFIG_DIR`` whatever the working directory, so each test gets its own HOME and config dir,
and every experiment started there is stopped when the test ends, pass or fail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bttackler_nni.experiments import repair, store
from bttackler_nni.experiments.launch import LaunchError, LaunchTimeout, nnictl, nnictl_environment

REPO = Path(__file__).resolve().parents[1]
DIGITS_CONFIG = REPO / "configs" / "digits" / "tpe_bttackler.yml"


@contextmanager
def isolated_nni(root: Path) -> Iterator[dict[str, str]]:
    """An environment whose NNI state lives under ``root``; stops all its experiments on exit."""
    home, config_dir = root / "home", root / "nni-config"
    home.mkdir(parents=True)
    config_dir.mkdir()
    env = nnictl_environment()
    env.update(HOME=str(home), NNI_CONFIG_DIR=str(config_dir))
    try:
        yield env
    finally:
        try:
            nnictl("stop", "--all", env=env, timeout=180)
        except LaunchTimeout:  # a stop that hangs must show
            raise
        except LaunchError:  # raised when nothing was running
            pass


@contextmanager
def nni_repair_state_kept() -> Iterator[None]:
    """Put the installed NNI's compat.js back in the repair state it had before, whatever ran inside."""
    before = repair.state()
    try:
        yield
    finally:
        (repair.apply if before is repair.RepairState.REPAIRED else repair.revert)()


def only_experiment(env: dict[str, str]) -> store.Experiment:
    """The one experiment started under the isolated NNI home ``env``."""
    (directory,) = (Path(env["HOME"]) / "nni-experiments").glob("[!._]*")
    return store.load(directory, home=Path(env["HOME"]))


def bttackler(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the ``bttackler`` command of this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "bttackler_nni.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def search_space(path: Path, **choices: list[Any]) -> Path:
    """A digits search space with each parameter fixed to a list of choices."""
    path.write_text(
        json.dumps({name: {"_type": "choice", "_value": values} for name, values in choices.items()})
    )
    return path


GOOD_AND_BAD = dict(  # lr 1e-7 never learns (PLC); lr 2e-3..3e-3 with Adam learns well
    optimizer=["Adam"],
    lr=[1e-7, 2e-3, 3e-3],
    depth=[1, 2],
    width=[64, 128],
    activation=["relu"],
    bias_init=[0.0],
    batch_size=[128],
)


def short_digits_run(space: Path, trials: int, seed: int, epochs: int = 10) -> list[str]:
    """``--set`` overrides for a small, reproducible digits experiment (10 epochs unless told, NMG off)."""
    return [
        "--set",
        f"searchSpaceFile={space}",
        "--set",
        f"maxTrialNumber={trials}",
        "--set",
        "trialConcurrency=2",
        "--set",
        f"trialCommand=python train.py --epochs {epochs} --samples-per-epoch 20000",
        "--set",
        f"tuner.classArgs.tuner_args.seed={seed}",
        "--set",
        "assessor.classArgs.indicators.NMG=false",
    ]


def remote_service(machine: dict[str, object]) -> list[str]:
    """``--set`` overrides that run the trials on one machine of NNI's remote training service."""
    service = {"platform": "remote", "machineList": [machine]}
    return ["--set", "nniManagerIp=127.0.0.1", "--set", f"trainingService={json.dumps(service)}"]


@contextmanager
def interruptible_bttackler(
    *args: str, env: dict[str, str] | None = None, stdout: Any = subprocess.PIPE
) -> Iterator[subprocess.Popen]:
    """The ``bttackler`` command started as from a terminal, for the test to Ctrl-C
    (``send_signal(signal.SIGINT)``) and ``communicate`` with; killed on leaving the block if it
    still runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bttackler_nni.cli", *args],
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_foreground_sigint,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _foreground_sigint() -> None:
    """SIGINT as in a foreground terminal command: a user's Ctrl-C reaches a foreground command; a
    shell starts background jobs (such as a test run with `&`) with SIGINT ignored, and Python then
    never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def missing_system_packages(reason: str) -> None:
    """Skip a test whose system packages are not installed here; fail it under CI, which installs
    them (``.ci/run`` sets ``BTTACKLER_CI=1``), so that CI never passes by skipping."""
    if os.environ.get("BTTACKLER_CI"):
        pytest.fail(f"{reason}; CI must install it: `make system-packages` (.ci/run)")
    pytest.skip(reason)


def scripted_config(folder: Path, script: str, kinds: list[str]) -> Path:
    """A Random search (seed 1, two trials at a time) over the behaviours ``kinds`` of a trial
    ``script``, which reads its ``kind`` parameter; a continuous dimension gives the space more
    points than the trials asked for."""
    (folder / "trial.py").write_text(script)
    space = {"kind": {"_type": "choice", "_value": kinds}, "x": {"_type": "uniform", "_value": [0, 1]}}
    (folder / "space.json").write_text(json.dumps(space))
    config = folder / "config.yml"
    config.write_text(
        "searchSpaceFile: space.json\ntrialCommand: python trial.py\ntrialConcurrency: 2\n"
        "tuner: {name: Random, classArgs: {optimize_mode: maximize, seed: 1}}\n"
        "trainingService: {platform: local}\n"
    )
    return config


def ending_before_two_hang(kinds: list[str]) -> list[int]:
    """Which of ``kinds`` (their indices) end when they start in order two at a time and every
    ``"hangs"`` trial holds its slot for good: the others that start before the second hanging one."""
    second = [i for i, kind in enumerate(kinds) if kind == "hangs"][1]
    return [i for i in range(second) if kinds[i] != "hangs"]
