"""Chaos on real NNI experiments: crashing and SIGKILLed trials, Ctrl-C, failed runs, damaged journals.

Whatever happens to trials, NNI's dispatcher must live to the end (DONE), BTTackler must keep a
verdict for every report it judged, and the CLI must say what happened without a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import psutil
import pytest
from nni_harness import (
    DIGITS_CONFIG,
    GOOD_AND_BAD,
    bttackler,
    interruptible_bttackler,
    isolated_nni,
    only_experiment,
    search_space,
    short_digits_run,
    wait_until,
)

from bttackler_nni.dispatcher.journal import JOURNAL_DIR, TUNER_FEEDBACK_FILE, VERDICTS_FILE, read_jsonl
from bttackler_nni.experiments import store

pytestmark = [pytest.mark.nni, pytest.mark.chaos]

CHAOS_TRIAL = Path(__file__).with_name("chaos") / "trial.py"
FATES = ("crash-1", "crash-2", "sigkill-1")


def dispatcher_log(experiment: store.Experiment) -> str:
    return (experiment.directory / "log" / "dispatcher.log").read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize("with_assessor", [True, False], ids=["assessor", "no-assessor"])
def test_concurrent_tpe_survives_crashing_and_killed_trials(tmp_path, with_assessor):
    fates = tmp_path / "fates"
    fates.mkdir()
    for fate in FATES:
        (fates / fate).touch()
    with isolated_nni(tmp_path / "nni") as env:
        env["CHAOS_FATES"] = str(fates)
        space = search_space(tmp_path / "space.json", **GOOD_AND_BAD)
        overrides = [
            *short_digits_run(space, trials=12, seed=11),
            "--set",
            "trialConcurrency=4",
            "--set",
            f"trialCommand=python {CHAOS_TRIAL} --epochs 5 --samples-per-epoch 6000",
        ]
        if not with_assessor:
            overrides += ["--set", "assessor=null"]
        result = bttackler("run", str(DIGITS_CONFIG), *overrides, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        experiment = only_experiment(env)

    assert f"Experiment {experiment.id} (digits-tpe-bttackler): DONE" in result.stdout
    assert len(experiment.trials) == 12 and sorted(p.name.split(".")[1] for p in fates.iterdir()) == sorted(
        FATES
    )
    claimed_by = {p.name.split(".")[1]: p.name.split(".")[2] for p in fates.iterdir()}
    crashed = {claimed_by["crash-1"], claimed_by["crash-2"]}
    assert crashed == {t.id for t in experiment.trials if t.status == "FAILED"}
    assert "2 trial(s) failed; their logs:" in result.stdout and "chaos: this trial crashes" in result.stdout
    # NNI 3.0 records a trial killed by a signal (here SIGKILL; the OOM killer alike) as USER_CANCELED.
    killed = experiment.trial(claimed_by["sigkill-1"])
    assert killed.status == "USER_CANCELED" and not killed.stopped_by_bttackler
    assert f"{killed.id}   killed by a signal or cancelled" in result.stdout
    log = dispatcher_log(experiment)
    assert "Traceback" not in log and "BTTackler: " not in log  # the guard never had to catch anything
    if not with_assessor:
        return
    for trial in experiment.trials:
        judged = [v.report for v in experiment.verdicts if v.trial == trial.id]
        expected = (
            trial.stop_verdict.report
            if trial.stop_verdict and trial.stopped_by_bttackler
            else len(trial.intermediate)
        )
        assert judged == list(range(1, expected + 1)), trial.id
    stopped = [t for t in experiment.trials if t.stopped_by_bttackler]
    fed = list(read_jsonl(experiment.directory / "checkpoint" / JOURNAL_DIR / TUNER_FEEDBACK_FILE))
    assert stopped and sorted(line["trial"] for line in fed) == sorted(t.id for t in stopped)


def test_ctrl_c_stops_the_experiment_and_exits_130_with_a_true_summary(tmp_path):
    with isolated_nni(tmp_path / "nni") as env:
        space = search_space(tmp_path / "space.json", **{**GOOD_AND_BAD, "lr": [2e-3]})
        with interruptible_bttackler(
            "run", str(DIGITS_CONFIG), *short_digits_run(space, 4, 1), env=env
        ) as run:
            home = Path(env["HOME"]) / "nni-experiments"

            def reported() -> bool:
                journals = list(home.glob(f"*/checkpoint/{JOURNAL_DIR}/{VERDICTS_FILE}"))
                return bool(journals) and any("report" in line for line in read_jsonl(journals[0]))

            wait_until(reported, timeout=600, what="a first verdict")
            run.send_signal(signal.SIGINT)
            stdout, stderr = run.communicate(timeout=180)
        experiment = only_experiment(env)
    assert run.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "Interrupted." in stderr
    assert experiment.stopped
    killed = [t for t in experiment.trials if t.status in ("RUNNING", "WAITING")]
    assert killed and "killed when the experiment stopped" in stdout
    assert " running " not in stdout.split("\n\n", 1)[-1]  # no trial is reported as still running
    node_pid = json.loads((home / ".experiment").read_text())[experiment.id]["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(node_pid, 0)


def test_ctrl_c_while_nni_starts_leaves_no_manager_running(tmp_path):
    # NNI's manager runs in a process group of its own: a `nnictl create` cut short by Ctrl-C left
    # it running trials, at first not even in nnictl's list of experiments. The stop comes before the
    # late tuner's dispatcher connects, where NNI's manager fails in its own shutdown and leaves its
    # registry at STOPPING (launch.stop): the experiment must read STOPPED all the same.
    with isolated_nni(tmp_path / "nni") as env:
        space = search_space(tmp_path / "space.json", **GOOD_AND_BAD)
        late_tuner = f"tuner={{className: late_tuner.LateTuner, codeDirectory: {Path(__file__).parent}}}"
        overrides = [*short_digits_run(space, 4, 1), "--set", late_tuner]  # the whole tuner section
        with interruptible_bttackler("run", str(DIGITS_CONFIG), *overrides, env=env) as run:

            def creating() -> bool:
                children = psutil.Process(run.pid).children(recursive=True)
                return any("create" in child.cmdline() for child in children)

            wait_until(creating, timeout=120, what="nnictl create", poll=0.05)
            run.send_signal(signal.SIGINT)
            _, stderr = run.communicate(timeout=180)
        experiment = only_experiment(env)
        managers = [
            process.pid
            for process in psutil.process_iter(["cmdline"])
            if env["HOME"] in " ".join(process.info["cmdline"] or [])
            and "main.js" in str(process.info["cmdline"])
        ]
    assert run.returncode == 130 and "Traceback" not in stderr, stderr
    assert f"interrupted while NNI started experiment {experiment.id}, which is stopped" in stderr
    assert experiment.stopped and not managers


def test_a_run_whose_every_trial_fails_exits_1_and_points_to_the_logs(tmp_path):
    with isolated_nni(tmp_path / "nni") as env:
        space = search_space(tmp_path / "space.json", **GOOD_AND_BAD)
        overrides = [
            *short_digits_run(space, trials=2, seed=1),
            "--set",
            "trialCommand=python train.py --epochs nope",
        ]
        result = bttackler("run", str(DIGITS_CONFIG), *overrides, env=env)
        experiment = only_experiment(env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"every trial of {experiment.id} failed" in result.stderr
    trial = experiment.trials[0]
    assert str(experiment.trial_log_dir(trial.id) / "trial.log") in result.stdout
    assert "invalid int value: 'nope'" in result.stdout  # the last line the trial wrote to stderr


def test_why_reads_past_damaged_journal_lines(bttackler_run, tmp_path):
    copy = tmp_path / bttackler_run.experiment.id
    shutil.copytree(bttackler_run.experiment.directory, copy)
    journal = copy / "checkpoint" / JOURNAL_DIR / VERDICTS_FILE
    good = journal.read_bytes()
    journal.write_bytes(b"\xff\xfe\n" + good + b'{"trial": "x", "epoch": 1e400}\n{"torn": ')
    result = bttackler("why", str(copy), env=bttackler_run.env)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    original = bttackler("why", str(bttackler_run.experiment.directory), env=bttackler_run.env).stdout
    assert result.stdout.replace(str(copy), "DIR") == original.replace(
        str(bttackler_run.experiment.directory), "DIR"
    )
    assert result.stderr.count("BTTackler skipped") == 3
