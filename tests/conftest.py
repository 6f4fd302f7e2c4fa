"""Shared real-NNI runs: the digits experiment with BTTackler (NNI repair applied), a baseline, and
a run through NNI's remote training service (NNI's original code; the web UI tests read it too).

They are session-scoped because each costs tens of seconds of real training; the NNI tests and the
evaluation tests read the same runs. Everything lives under a temporary NNI home, and every
experiment is stopped when the session ends.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopback_ssh import Worker, loopback_sshd, worker_session
from nni_harness import (
    DIGITS_CONFIG,
    GOOD_AND_BAD,
    bttackler,
    isolated_nni,
    nni_repair_state_kept,
    remote_service,
    search_space,
    short_digits_run,
)

from bttackler_nni.experiments import repair, store


@dataclass(frozen=True)
class DigitsRun:
    experiment: store.Experiment
    output: str
    env: dict[str, str]


def _run(root: Path, env: dict[str, str], *extra: str, trials: int = 6, epochs: int = 10) -> DigitsRun:
    space = search_space(root / f"space-{len(list(root.glob('space-*')))}.json", **GOOD_AND_BAD)
    known = set((Path(env["HOME"]) / "nni-experiments").glob("[!._]*"))
    overrides = short_digits_run(space, trials=trials, seed=3, epochs=epochs)
    result = bttackler("run", str(DIGITS_CONFIG), *overrides, *extra, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    (directory,) = set((Path(env["HOME"]) / "nni-experiments").glob("[!._]*")) - known
    return DigitsRun(store.load(directory), result.stdout, env)


@pytest.fixture(scope="session")
def nni_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    with isolated_nni(tmp_path_factory.mktemp("nni")) as env:
        yield env


@pytest.fixture(scope="session")
def repaired_nni() -> Iterator[None]:
    """`bttackler nni-repair apply` for the session (assessor kills show as EARLY_STOPPED), then undone."""
    with nni_repair_state_kept():
        repair.apply()
        yield


@pytest.fixture(scope="session")
def bttackler_run(nni_env, repaired_nni, tmp_path_factory) -> DigitsRun:
    """The shipped digits config (TPE + BTTackler), 6 trials, with the NNI repair applied."""
    return _run(tmp_path_factory.mktemp("bttackler-run"), nni_env)


@pytest.fixture(scope="session")
def baseline_run(nni_env, tmp_path_factory) -> DigitsRun:
    """The same search space and tuner seed without an assessor: every trial runs to its end."""
    return _run(tmp_path_factory.mktemp("baseline-run"), nni_env, "--set", "assessor=null")


@pytest.fixture(scope="session")
def ssh_worker(tmp_path_factory) -> Iterator[Worker]:
    """This machine as a remote NNI worker: an sshd on a loopback port, with its own HOME."""
    root = tmp_path_factory.mktemp("ssh-worker")
    with loopback_sshd(root / "sshd", worker_session(root / "home", pass_pythonpath=True)) as ssh:
        yield Worker(ssh, root / "home")


@pytest.fixture(scope="session")
def remote_run(nni_env, ssh_worker, tmp_path_factory) -> DigitsRun:
    """The digits config through NNI's remote training service on ``ssh_worker``, with NNI's original
    code (stops show as USER_CANCELED): 4 trials of 6 epochs; seed 3 draws lr 3e-3, 1e-7, 3e-3, 1e-7."""
    machine = ssh_worker.ssh.machine(Path(sys.executable).parent)
    with nni_repair_state_kept():
        repair.revert()
        return _run(
            tmp_path_factory.mktemp("remote-run"), nni_env, *remote_service(machine), trials=4, epochs=6
        )
