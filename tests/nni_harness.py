"""Helpers for tests that run real NNI experiments: an isolated NNI home, the CLI, controlled spaces.

NNI keeps its experiment registry in ``~/nni-experiments`` and registered algorithms in
``NNI_CONFIG_DIR`` whatever the working directory, so each test gets its own HOME and config dir,
and every experiment started there is stopped when the test ends, pass or fail.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bttackler_nni.experiments import repair
from bttackler_nni.experiments.launch import LaunchError, nnictl, nnictl_environment

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
        with contextlib.suppress(LaunchError):  # raised when nothing was running
            nnictl("stop", "--all", env=env, timeout=180)


@contextmanager
def nni_repair_state_kept() -> Iterator[None]:
    """Put the installed NNI's compat.js back in the repair state it had before, whatever ran inside."""
    before = repair.state()
    try:
        yield
    finally:
        (repair.apply if before is repair.RepairState.REPAIRED else repair.revert)()


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


def short_digits_run(space: Path, trials: int, seed: int) -> list[str]:
    """``--set`` overrides for a small, reproducible digits experiment (10 epochs, NMG off)."""
    return [
        "--set",
        f"searchSpaceFile={space}",
        "--set",
        f"maxTrialNumber={trials}",
        "--set",
        "trialConcurrency=2",
        "--set",
        "trialCommand=python train.py --epochs 10 --samples-per-epoch 20000",
        "--set",
        f"tuner.classArgs.tuner_args.seed={seed}",
        "--set",
        "assessor.classArgs.indicators.NMG=false",
    ]


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
