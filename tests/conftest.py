"""Shared real-NNI runs: the digits experiment with BTTackler (NNI repair applied) and a baseline.

They are session-scoped because each costs tens of seconds of real training; the NNI tests and the
evaluation tests read the same runs. Everything lives under a temporary NNI home, and every
experiment is stopped when the session ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nni_harness import (
    DIGITS_CONFIG,
    GOOD_AND_BAD,
    bttackler,
    isolated_nni,
    nni_repair_state_kept,
    search_space,
    short_digits_run,
)

from bttackler_nni.experiments import repair, store


@dataclass(frozen=True)
class DigitsRun:
    experiment: store.Experiment
    output: str
    env: dict[str, str]


def _run(root: Path, env: dict[str, str], *extra: str) -> DigitsRun:
    space = search_space(root / f"space-{len(list(root.glob('space-*')))}.json", **GOOD_AND_BAD)
    known = set((Path(env["HOME"]) / "nni-experiments").glob("[!._]*"))
    result = bttackler("run", str(DIGITS_CONFIG), *short_digits_run(space, trials=6, seed=3), *extra, env=env)
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
