"""The line a summary shows for a failed trial, from the stderr of real failing scripts: a plain Python
script, and two processes under ``torchrun`` (gloo on CPU) where one raises or aborts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bttackler_nni.evaluation.failure_hint import failure_hint
from bttackler_nni.evaluation.summary import explain_trial, failed_trials_note
from bttackler_nni.experiments.store import Experiment, Trial

FAILING = textwrap.dedent(
    """
    import os, sys, time
    if os.environ.get("RANK", "1") == "1":
        if sys.argv[1] == "abort":
            os.abort()
        raise ValueError("learning rate must be positive, got -0.1")
    time.sleep(5)  # the other process: still training when its peer fails
    """
)


def _stderr_of(tmp_path, how: str, launcher: list[str]) -> str:
    script = tmp_path / "trial.py"
    script.write_text(FAILING)
    run = subprocess.run([*launcher, str(script), how], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    return run.stderr


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def test_a_plain_script_is_described_by_its_exception(tmp_path):
    stderr = _stderr_of(tmp_path, "raise", [sys.executable])
    assert failure_hint(stderr) == "ValueError: learning rate must be positive, got -0.1"


def test_a_torchrun_trial_is_described_by_the_failed_rank_and_its_exception_not_torchruns_table(tmp_path):
    stderr = _stderr_of(tmp_path, "raise", TORCHRUN)
    assert stderr.rstrip().endswith("=" * 20)  # what the summary used to show
    assert failure_hint(stderr) == (
        "torchrun: rank 1 exited with code 1: ValueError: learning rate must be positive, got -0.1"
    )


def test_a_torchrun_trial_killed_by_a_signal_is_described_by_the_signal(tmp_path):
    stderr = _stderr_of(tmp_path, "abort", TORCHRUN)
    assert failure_hint(stderr) == "torchrun: rank 1 exited with code -6 (SIGABRT)"


@pytest.mark.parametrize(
    "stderr, hint",
    [
        ("", ""),
        ("\n  \n", ""),
        ("warning: slow\nRuntimeError: boom\n\n", "RuntimeError: boom"),
        # a table torchrun's future versions might word otherwise: its last line rather than nothing
        ("torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n=====\n", "====="),
    ],
)
def test_hints_from_short_or_unexpected_stderr(stderr, hint):
    assert failure_hint(stderr) == hint


def experiment_with_a_failed_trial(tmp_path, stderr: str) -> tuple[Experiment, Path]:
    """An experiment of the local training service whose one trial failed, having written ``stderr``."""
    folder = tmp_path / "experiment" / "environments" / "local-env" / "trials" / "AbCd1"
    folder.mkdir(parents=True)
    (folder / "trial.stderr").write_text(stderr)
    experiment = Experiment(
        id="exp1",
        directory=tmp_path / "experiment",
        start_time=0.0,
        config={"trainingService": {"platform": "local"}},
        trials=[Trial(id="AbCd1", sequence=0, parameter_id=0, parameters={}, status="FAILED")],
        verdicts=[],
    )
    return experiment, folder


def test_the_summary_shows_the_hint_of_a_failed_torchrun_trial(tmp_path):
    experiment, folder = experiment_with_a_failed_trial(tmp_path, _stderr_of(tmp_path, "raise", TORCHRUN))
    assert failed_trials_note(experiment) == [
        "  1 trial(s) failed; their logs:",
        f"    AbCd1: {folder / 'trial.log'}  (stderr: torchrun: rank 1 exited with code 1: "
        "ValueError: learning rate must be positive, got -0.1)",
    ]


def test_why_on_a_failed_trial_shows_its_log_the_hint_and_the_fix_for_a_missing_module(tmp_path):
    stderr = (
        'Traceback (most recent call last):\n  File "train.py", line 1\n'
        "ModuleNotFoundError: No module named 'sklearn'\n"
    )
    experiment, folder = experiment_with_a_failed_trial(tmp_path, stderr)
    fix = (
        "sklearn is not installed for the Python that ran this trial (on a remote worker: the python in "
        "its machineList pythonPath); install it there"
    )
    assert explain_trial(experiment, "AbCd1").splitlines()[-2:] == [
        f"  its log: {folder / 'trial.log'}  (stderr: ModuleNotFoundError: No module named 'sklearn')",
        f"    {fix}",
    ]
    assert failed_trials_note(experiment)[-1] == f"      {fix}"
