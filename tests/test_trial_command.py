"""Which trialCommands keep bash between NNI's stop and the training, checked against bash itself.

Each command runs under ``bash -c`` as NNI runs it (with ``sleep`` for the training): where the
reader says nothing is in between, bash must have replaced itself with the training; where it names
something, bash must still be the training's parent. Then `bttackler check` refuses the latter in
a config with an assessor.
"""

from __future__ import annotations

import subprocess
import time

import psutil
import pytest
from nni_harness import DIGITS_CONFIG

from bttackler_nni.experiments.config import ExperimentConfigError, check_config, load_config
from bttackler_nni.experiments.trial_command import stop_reaches_only_the_shell

REACHED = [
    "TRAIN",
    "cd /tmp && TRAIN",
    "FOO=1 TRAIN",
    "true; TRAIN",
    "echo hi > /dev/null; TRAIN",
    "exec TRAIN > /dev/null 2>&1",
    "cd /tmp && exec TRAIN >> /dev/null",
]
KEPT_FROM_IT = {
    "TRAIN > /dev/null 2>&1": "a redirection (>) without exec",
    "TRAIN 2>/dev/null": "a redirection (>) without exec",
    "TRAIN | cat": "a pipeline (|)",
    "TRAIN; echo done": "a command after the training (echo done)",
    "TRAIN || exit 1": "a command after the training (exit 1)",
    "TRAIN & wait": "a job sent to the background (&)",
    "(TRAIN)": "a subshell ( ... )",
}


@pytest.mark.parametrize("command", [*REACHED, *KEPT_FROM_IT])
def test_the_reader_agrees_with_bash(command):
    training = "sleep 30"
    shell = subprocess.Popen(["bash", "-c", command.replace("TRAIN", training)])
    try:
        deadline = time.monotonic() + 10
        while (
            psutil.Process(shell.pid).cmdline() != training.split()
            and not psutil.Process(shell.pid).children()
        ):
            assert time.monotonic() < deadline, "the training never started"
            time.sleep(0.02)
        bash_replaced = psutil.Process(shell.pid).cmdline() == training.split()
    finally:
        for process in [*psutil.Process(shell.pid).children(recursive=True), shell]:
            process.kill()
        shell.wait()
    reason = stop_reaches_only_the_shell(command.replace("TRAIN", "python train.py"))
    assert bash_replaced == (reason is None)
    assert reason == KEPT_FROM_IT.get(command)


def test_check_refuses_it_where_an_assessor_stops_trials():
    piped = "trialCommand=python train.py 2>&1 | tee train.log"
    with pytest.raises(
        ExperimentConfigError, match=r"trialCommand .*: a pipeline \(\|\) keeps bash .* Fix: make"
    ):
        check_config(load_config(DIGITS_CONFIG, [piped]))
    check_config(load_config(DIGITS_CONFIG, [piped, "assessor=null"]))  # nothing stops its trials
    check_config(load_config(DIGITS_CONFIG, ["trialCommand=exec python train.py > train.log 2>&1"]))


def test_a_command_bash_cannot_read_is_left_to_bash():
    assert stop_reaches_only_the_shell('python train.py --name "unclosed') is None
    assert stop_reaches_only_the_shell('python -c "import a; print(1) > 0 | 2"') is None  # all quoted
