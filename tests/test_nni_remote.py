"""NNI's remote training service over SSH, with this machine as the worker (sshd on a loopback port).

The split is the one of any remote or Kubernetes run: the trial (and its Reporter) runs on the
worker, under the worker's HOME, started by NNI's trial keeper there; the tuner and the assessor run
in NNI's dispatcher on the manager, which writes the verdicts and the tuner feedback. The worker's
sessions get ``PIP_NO_INDEX=1``, so NNI's ``pip install nni --upgrade`` there changes nothing.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from loopback_ssh import loopback_sshd, new_key, worker_session
from nni_harness import (
    DIGITS_CONFIG,
    GOOD_AND_BAD,
    bttackler,
    isolated_nni,
    only_experiment,
    remote_service,
    search_space,
    short_digits_run,
)

from bttackler_nni.dispatcher.journal import JOURNAL_DIR, TUNER_FEEDBACK_FILE, VERDICTS_FILE, read_jsonl
from bttackler_nni.experiments.launch import free_port, nnictl_environment

HERE_PYTHON = Path(sys.executable).parent


def digits_on(machine: dict[str, object], space: Path, trials: int) -> list[str]:
    """``bttackler run``/``check`` arguments: the shipped digits config, its trials on ``machine``."""
    return [
        str(DIGITS_CONFIG),
        *short_digits_run(space, trials=trials, seed=3, epochs=6),
        *remote_service(machine),
    ]


@pytest.mark.nni
@pytest.mark.remote
def test_trials_run_on_the_worker_and_bttackler_stops_the_broken_ones_from_the_manager(
    remote_run, ssh_worker
):
    experiment, output = remote_run.experiment, remote_run.output

    # The trials ran on the worker (NNI's trial keeper there keeps their logs) and nowhere else.
    ran_there = ssh_worker.trials_dir(experiment.id)
    assert sorted(p.name for p in ran_there.iterdir()) == sorted(t.id for t in experiment.trials)
    assert not (experiment.directory / "environments").exists()
    manager_log = (experiment.directory / "log" / "nnimanager.log").read_text()
    assert "Installed nni v3.0" in manager_log  # NNI's pip step on the worker, offline, changed nothing

    # The Reporter sent its records from there; the assessor judged them here.
    stopped = [t for t in experiment.trials if t.stopped_by_bttackler]
    succeeded = [t for t in experiment.trials if t.status == "SUCCEEDED"]
    assert len(stopped) == 2 and len(succeeded) == 2, output
    for trial in stopped:
        assert trial.status == "USER_CANCELED" and trial.parameters["lr"] == 1e-7  # NNI's original code
        assert trial.stop_verdict.reason.indicator == "PLC" and len(trial.intermediate) < 6
        assert {"grad_median", "zero_grad_share", "train_loss"} <= set(trial.intermediate[-1])
    assert all(t.parameters["lr"] > 1e-3 and len(t.intermediate) == 6 for t in succeeded)

    # Verdicts and tuner feedback are written on the manager, none of it on the worker.
    journal = experiment.directory / "checkpoint" / JOURNAL_DIR
    verdicts = list(read_jsonl(journal / VERDICTS_FILE))
    assert {line["trial"] for line in verdicts if "trial" in line} == {t.id for t in experiment.trials}
    fed = {line["trial"]: line for line in read_jsonl(journal / TUNER_FEEDBACK_FILE)}
    assert sorted(fed) == sorted(t.id for t in stopped)
    for trial in stopped:
        assert fed[trial.id]["parameters"] == trial.parameters
        assert fed[trial.id]["value"] == pytest.approx(trial.last_value)
    worker_files = {p.name for p in ssh_worker.home.rglob("*")}
    assert VERDICTS_FILE not in worker_files and TUNER_FEEDBACK_FILE not in worker_files

    # The closing summary tells the same story.
    assert f"Experiment {experiment.id} (digits-tpe-bttackler): DONE" in output
    assert "stopped by BTTackler 2 (NNI shows USER_CANCELED 2), succeeded 2" in output
    for trial in stopped:
        assert f"{trial.id}   stopped by PLC at epoch {trial.stop_verdict.epoch}" in output


@pytest.mark.nni
@pytest.mark.remote
def test_a_refused_ssh_login_is_one_line_naming_the_machine_and_the_fix(tmp_path, ssh_worker):
    stranger = new_key(tmp_path / "not_authorized")
    with isolated_nni(tmp_path / "nni") as env:
        space = search_space(tmp_path / "space.json", **GOOD_AND_BAD)
        machine = ssh_worker.ssh.machine(HERE_PYTHON, key_file=stranger)
        result = bttackler("run", *digits_on(machine, space, 2), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"bttackler: NNI's remote training service could not start on "
        f"{ssh_worker.ssh.user}@127.0.0.1:{ssh_worker.ssh.port}: All configured authentication methods "
        "failed. Fix: the SSH server refused the login"
    ), result.stderr
    assert "Why a trial stopped" not in result.stdout  # no summary of an experiment without trials


def test_an_unreachable_machine_fails_the_check_before_launch_in_one_line(tmp_path):
    space = search_space(tmp_path / "space.json", **GOOD_AND_BAD)
    key = tmp_path / "key"
    key.write_text("not read: nothing listens\n")
    port = free_port()  # nothing listens there
    machine = {"host": "127.0.0.1", "port": port, "user": "nobody", "sshKeyFile": str(key)}
    result = bttackler("check", *digits_on(machine, space, 2), env=nnictl_environment())
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"bttackler: trainingService.machineList[0]: nothing accepts SSH connections at 127.0.0.1:{port} "
        "(Connection refused). Fix: start the SSH server there (Debian: apt-get install openssh-server), "
        "or correct host and port\n"
    )


@pytest.mark.nni
@pytest.mark.remote
def test_a_worker_without_bttackler_fails_its_trials_saying_so(tmp_path):
    """The worker's Python has NNI and torch but not bttackler-nni: a venv that sees this venv's
    site-packages through a .pth file, where our editable install's own .pth is not processed."""
    python = tmp_path / "worker-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(python)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(python), "platbase": str(python)})["purelib"])
    (site / "manager_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home = tmp_path / "home"
    with (
        loopback_sshd(tmp_path / "sshd", worker_session(home, pass_pythonpath=False)) as ssh,
        isolated_nni(tmp_path / "nni") as env,
    ):
        # one point in the search space: the tuner has nothing after the first trial, and the run
        # still ends (NNI 3.0 keeps such an experiment in TUNER_NO_MORE_TRIAL)
        space = search_space(tmp_path / "space.json", **{k: v[:1] for k, v in GOOD_AND_BAD.items()})
        result = bttackler("run", *digits_on(ssh.machine(python / "bin"), space, 2), env=env)
        experiment = only_experiment(env)
    assert result.returncode == 1, result.stdout + result.stderr
    (trial,) = experiment.trials
    assert trial.status == "FAILED"
    on_worker = home / "nni-experiments" / experiment.id / "environments" / "remote-worker1" / "trials"
    worker_stderr = (on_worker / trial.id / "trial.stderr").read_text()
    assert "ModuleNotFoundError: No module named 'bttackler_nni'" in worker_stderr
    # bttackler run fetched the failed trial's logs from the worker and says what is missing where
    fetched = experiment.directory / "trials" / trial.id
    assert (fetched / "trial.stderr").read_text() == worker_stderr
    assert f"{trial.id}: {fetched / 'trial.log'}  (stderr: ModuleNotFoundError" in result.stdout
    assert "bttackler_nni is not installed for the Python that ran this trial" in result.stdout
    assert f"Experiment {experiment.id} (digits-tpe-bttackler): TUNER_NO_MORE_TRIAL" in result.stdout
