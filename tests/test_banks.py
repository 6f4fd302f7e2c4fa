"""Trace banks: round trip, one-line errors, timing from NNI's report times, and a real recording."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hand_banks import bank, trial
from nni_harness import (
    REPO,
    bttackler,
    ending_before_two_hang,
    interruptible_bttackler,
    isolated_nni,
    only_experiment,
    scripted_config,
    wait_until,
)

from bttackler_nni.cli import main
from bttackler_nni.evaluation.bank_recording import (
    bank_from_experiment,
    epoch_seconds,
    recording_config,
    startup_cost,
)
from bttackler_nni.evaluation.banks import BankError, BankTrial, read_bank, write_bank
from bttackler_nni.evaluation.direct_recording import random_parameters
from bttackler_nni.experiments.config import ExperimentConfigError, load_config
from bttackler_nni.experiments.store import Experiment, Trial

DIGITS_BANK_CONFIG = REPO / "configs" / "digits" / "random_baseline.yml"


def test_a_bank_reads_back_as_written(tmp_path):
    written = bank(
        trial("a", [0.2, 0.5, 0.7], [1.5, 2.0, 2.5]),
        trial("b", [0.1, math.nan], final=None, status="FAILED", nonfinite=1),
        trial("c", [0.3], final={"default": 0.4, "val_loss": 1.2}),
        startup=3.25,
    )
    path = write_bank(written, tmp_path / "hand.jsonl")
    read = read_bank(path)
    assert read.path == path and read.name == "hand"
    assert read.header() == written.header()
    assert [t.trial for t in read.trials] == ["a", "b", "c"]
    assert read.trials[0] == written.trials[0] and read.trials[2] == written.trials[2]
    assert math.isnan(read.trials[1].epochs[1].value)  # NaN survives (as Python's json writes it)
    assert read.trials[0].value == 0.7 and read.trials[2].value == 0.4  # the final result, a dict's default
    assert math.isnan(read.trials[1].value)  # no final result: the last report, NaN as it was
    assert read.trials[0].seconds == 6.0
    assert json.loads(path.read_text().splitlines()[0])["bank"] == 1


def test_a_trial_without_reports_has_no_value():
    empty = BankTrial("x", {}, (), None, "FAILED")
    assert empty.value is None and empty.seconds == 0


HEADER = json.dumps(bank(trial("a", [0.5])).header())
TRIAL = json.dumps(trial("a", [0.5]).to_json())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the bank is empty; record one with `bttackler bank record"),
        ("\n  \n", "the bank is empty"),
        (HEADER + "\n", "the bank has a header but no trials"),
        ("{not json\n" + TRIAL, "line 1: not valid JSON"),
        (HEADER + "\n" + TRIAL + "\n" + TRIAL[:-3] + "\n", "line 3: not valid JSON"),
        (HEADER + "\n[1, 2]\n", "line 2: must be a JSON object, got list"),
        (TRIAL + "\n" + TRIAL, 'line 1: not a bank header (no "bank" key)'),
        (
            HEADER.replace('"bank": 1', '"bank": 2') + "\n" + TRIAL,
            "line 1: bank format 2; this version reads",
        ),
        (HEADER.replace('"direction": "maximize"', '"direction": "up"') + "\n" + TRIAL, "line 1: direction"),
        (HEADER.replace('"max_epochs": 1', '"max_epochs": 0') + "\n" + TRIAL, "max_epochs must be"),
        (HEADER.replace('"task": "hand", ', "") + "\n" + TRIAL, "line 1: the header lacks task"),
        (
            HEADER.replace('"startup_seconds": null', '"startup_seconds": -1') + "\n" + TRIAL,
            "startup_seconds",
        ),
        (
            HEADER
            + "\n"
            + TRIAL.replace('"status": "SUCCEEDED", ', "").replace(', "status": "SUCCEEDED"', ""),
            "line 2: the trial lacks status",
        ),
        (
            HEADER + "\n" + TRIAL.replace('"seconds": 1.0', '"seconds": -1'),
            "line 2 (trial a): epochs[0].seconds",
        ),
        (
            HEADER + "\n" + TRIAL.replace('"seconds": 1.0', '"seconds": 1' + "0" * 400),
            "line 2 (trial a): epochs[0].seconds",
        ),
        (
            HEADER.replace('"startup_seconds": null', '"startup_seconds": 1' + "0" * 400) + "\n" + TRIAL,
            "line 1: startup_seconds",
        ),
        (HEADER + "\n" + TRIAL.replace('"trial": "a"', '"trial": 7'), "line 2: trial must be a non-empty id"),
        (
            HEADER + "\n" + TRIAL.replace('"epochs": [', '"epochs": [3, '),
            "line 2 (trial a): epochs[0] must be",
        ),
        (HEADER + "\n" + TRIAL + "\n\n" + TRIAL, "line 4: trial 'a' already on line 2"),
        (HEADER + "\n" + HEADER, "line 2: a second header"),
    ],
)
def test_a_bad_bank_is_refused_in_one_line_naming_file_and_line(tmp_path, text, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(BankError) as error:
        read_bank(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(path)) and expected in message


def test_a_bank_write_that_fails_leaves_the_bank_already_there_whole(tmp_path):
    # The write hits a file-size limit (a full disk alike) halfway: the old bank must survive it.
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write_bank(bank(trial("a", [0.5])), small)
    write_bank(bank(*(trial(f"t{i}", [0.5] * 50) for i in range(40))), large)
    before = small.read_bytes()
    limited = (
        "import resource, signal, sys; from pathlib import Path; "
        "from bttackler_nni.evaluation.banks import read_bank, write_bank; "
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 100}, resource.RLIM_INFINITY)); "
        "write_bank(read_bank(sys.argv[1]), Path(sys.argv[2]))"
    )
    failed = subprocess.run(
        [sys.executable, "-c", limited, str(large), str(small)], capture_output=True, text=True, timeout=120
    )
    assert failed.returncode == 1
    assert (
        failed.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"bttackler_nni.evaluation.banks.BankError: {small}: cannot write the bank (File too large)"
        )
    )
    assert small.read_bytes() == before and sorted(tmp_path.iterdir()) == [large, small]  # nothing left over
    with pytest.raises(BankError, match="/dev/full: not a regular file"):
        write_bank(read_bank(small), Path("/dev/full"))


def test_a_missing_bank_is_refused_in_one_line(tmp_path):
    with pytest.raises(BankError, match=r"missing\.jsonl: no such bank file; record one with"):
        read_bank(tmp_path / "missing.jsonl")


def test_the_cli_reports_bank_errors_in_one_line(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    for bad in ("missing.jsonl", "empty.jsonl"):
        assert main(["bank", "show", str(tmp_path / bad)]) == 1
        assert main(["simulate", str(tmp_path / bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("bttackler: ") for line in err)


def test_a_bank_out_it_cannot_write_is_refused_before_any_trial_runs(tmp_path, capsys):
    config = scripted_config(tmp_path, CUT_TRIAL, ["quick"])
    (tmp_path / "taken").write_text("a file where the bank's folder would go")
    (tmp_path / "folder").mkdir()
    for out, expected in [
        (
            tmp_path / "taken" / "b.jsonl",
            f"--out {tmp_path / 'taken' / 'b.jsonl'}: cannot write there (its folder",
        ),
        (tmp_path / "folder", f"--out {tmp_path / 'folder'} is a folder; give a file in it"),
    ]:
        record = ["bank", "record", str(config), "--trials", "2", "--out", str(out), "--without-nnictl"]
        assert main(record) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith(f"bttackler: {expected}")
    assert not list(tmp_path.rglob("*-trials"))  # no trial was started


def test_bank_show_describes_the_spread(tmp_path, capsys):
    path = write_bank(
        bank(trial("a", [0.2, 0.9]), trial("b", [0.1, 0.1]), trial("c", [0.5], status="FAILED")),
        tmp_path / "b.jsonl",
    )
    assert main(["bank", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 trials of hand (1 failed, 2 succeeded)" in out and "best 0.9" in out and "worst 0.1" in out


# Recording: the config, and timing read from NNI's times -------------------------------------------


def test_the_recording_config_has_no_early_stopping_and_the_asked_trials():
    config = {
        "maxTrialNumber": 5,
        "maxExperimentDuration": "1h",
        "assessor": {"name": "Medianstop"},
        "tuner": {"name": "Random"},
    }
    assert recording_config(config, 40) == {"maxTrialNumber": 40, "tuner": {"name": "Random"}}
    with pytest.raises(ExperimentConfigError, match="advisor, which stops trials itself"):
        recording_config({"advisor": {"name": "Hyperband"}}, 4)
    with pytest.raises(ExperimentConfigError, match="--trials must be a whole number >= 1, got 0"):
        recording_config({}, 0)


def stored_trial(name, start, times, end, epoch_seconds=None, status="SUCCEEDED"):
    """A trial as the store reads it from NNI: times in seconds since the experiment started."""
    records = [{"default": 0.1 * (k + 1), "epoch": k} for k in range(len(times))]
    if epoch_seconds is not None:
        records[0]["epoch_seconds"] = epoch_seconds
    return Trial(
        name, 0, 0, {"lr": 0.1}, status, start, end, records, list(times), records[-1] if times else None
    )


def test_epoch_seconds_come_from_report_times_and_the_first_from_the_reporter():
    # Started at 10; the Reporter says its first epoch took 2 s (so 3 s went to start-up).
    measured = stored_trial("a", 10.0, [15.0, 17.5, 21.0], 22.0, epoch_seconds=2.0)
    assert epoch_seconds(measured) == [2.0, 2.5, 3.5]
    # A plain number report (no Reporter): the first epoch counts from the trial's start.
    plain = stored_trial("b", 10.0, [15.0, 17.5], 18.0)
    assert epoch_seconds(plain) == [5.0, 2.5]
    # A Reporter claim longer than the trial has run is not believed.
    assert epoch_seconds(stored_trial("c", 10.0, [11.0], 12.0, epoch_seconds=4.0)) == [1.0]


def test_startup_cost_is_the_median_of_what_slots_cost_beyond_epochs():
    trials = [  # concurrency 1: each trial starts after the previous ended
        stored_trial("a", 1.0, [5.0, 6.0], 7.0, epoch_seconds=1.0),  # 3 s before, 1 s after
        stored_trial("b", 7.5, [12.5, 13.5], 14.5, epoch_seconds=1.0),  # 4 s before, 1 s after, gap 0.5
        stored_trial("c", 15.5, [], 16.0, status="FAILED"),  # no report: 0.5 s; gap 1.0
    ]
    cost = startup_cost(trials, concurrency=1)
    assert (cost.before_first_epoch, cost.after_last_report, cost.launch_gap) == (3.0, 1.0, 0.75)
    assert cost.total == 4.75
    assert startup_cost([stored_trial("x", None, [1.0], None)], 1) is None


def test_a_bank_from_an_experiment_keeps_ended_trials_with_their_exact_records():
    trials = [
        stored_trial("a", 1.0, [5.0, 6.0], 7.0, epoch_seconds=1.0),
        stored_trial("b", 7.5, [12.5], 14.5, status="FAILED"),
        stored_trial("w", None, [], None, status="WAITING"),
        stored_trial("c", 8.0, [13.0], 13.5, status="USER_CANCELED"),  # cut by a stop: its trace too
    ]
    experiment = Experiment(
        "exp", Path("/x"), 0.0, {"tuner": {"classArgs": {"optimize_mode": "minimize"}}}, trials, []
    )
    made, cost = bank_from_experiment(
        experiment,
        task="t",
        config="c.yml",
        command="bttackler bank record c.yml",
        machine="m",
        concurrency=1,
    )
    assert [t.trial for t in made.trials] == ["a", "b"] and made.direction.value == "minimize"
    assert made.trials[0].epochs[1].record is trials[0].intermediate[1]
    assert [e.seconds for e in made.trials[0].epochs] == [1.0, 1.0]
    assert made.max_epochs == 2 and made.startup_seconds == cost.total


# One real recording -------------------------------------------------------------------------------


@pytest.mark.nni
def test_bank_record_runs_the_digits_task_to_the_end_and_writes_what_the_reporter_sent(tmp_path):
    out = tmp_path / "digits.jsonl"
    with isolated_nni(tmp_path / "nni") as env:
        result = bttackler(
            "bank",
            "record",
            str(DIGITS_BANK_CONFIG),
            "--trials",
            "2",
            "--out",
            str(out),
            "--set",
            "trialConcurrency=1",
            "--set",
            "tuner.classArgs.seed=5",
            "--set",
            "trialCommand=python train.py --epochs 3 --samples-per-epoch 3000",
            env=env,
            timeout=300,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 trials ended" in result.stdout and "start-up" in result.stdout  # progress, then summary
    recorded = read_bank(out)
    assert (recorded.task, recorded.direction.value, recorded.max_epochs) == ("digits", "maximize", 3)
    words = [
        w for w in shlex.split(recorded.command) if not w.startswith("BTTACKLER_")
    ]  # e.g. BTTACKLER_CI=1
    assert words[:3] == ["bttackler", "bank", "record"] and "--trials 2" in recorded.command
    assert recorded.startup_seconds is not None and recorded.startup_seconds > 0.5  # python, torch, data
    assert len(recorded.trials) == 2 and all(t.status == "SUCCEEDED" for t in recorded.trials)
    space = json.loads((DIGITS_BANK_CONFIG.parent / "search_space.json").read_text())
    for bank_trial in recorded.trials:
        assert set(bank_trial.parameters) == set(space)
        assert [e.record["epoch"] for e in bank_trial.epochs] == [0, 1, 2]
        assert {"grad_median", "layers", "train_loss", "val_acc"} <= set(bank_trial.epochs[0].record)
        assert bank_trial.final == max(e.record["val_acc"] for e in bank_trial.epochs)  # train.py's final
        for epoch in bank_trial.epochs[1:]:  # report-time differences agree with the Reporter's clock
            assert epoch.seconds == pytest.approx(epoch.record["epoch_seconds"], abs=1.0)


CUT_TRIAL = """
import time
import nni
params = nni.get_next_parameter()
if params["kind"] == "hangs":
    time.sleep(300)
nni.report_intermediate_result(0.5)
nni.report_intermediate_result(0.6)
nni.report_final_result(0.6)
"""


@pytest.mark.nni
def test_a_recording_past_its_timeout_keeps_the_trials_that_ended_as_a_partial_bank(tmp_path):
    # Two slots: each hanging trial holds one for good, so the trials that end are the quick ones
    # started before the second hanging one; the hanging ones NNI cancels at the stop are left out.
    config = scripted_config(tmp_path, CUT_TRIAL, ["quick", "hangs"])
    kinds = [p["kind"] for p in random_parameters(load_config(config), 6)]
    quick = ending_before_two_hang(kinds)
    assert quick and len(quick) < len(kinds)  # the seed gives both kinds of trial
    out = tmp_path / "b.jsonl"
    with isolated_nni(tmp_path / "nni") as env:
        result = bttackler(
            "bank", "record", str(config), "--trials", "6", "--out", str(out), "--timeout", "45",
            env=env, timeout=300,
        )  # fmt: skip
    assert result.returncode == 1 and not out.exists(), result.stdout + result.stderr
    partial = tmp_path / "b.partial.jsonl"
    message = result.stderr.strip().splitlines()[-1]
    assert "did not finish within 45 s" in message
    assert f"the {len(quick)} trials that ended are in {partial}" in message
    kept = read_bank(partial)
    assert [t.parameters["kind"] for t in kept.trials] == ["quick"] * len(quick)
    assert all(t.status == "SUCCEEDED" and [e.record for e in t.epochs] == [0.5, 0.6] for t in kept.trials)


@pytest.mark.nni
def test_ctrl_c_keeps_the_trials_that_ended_and_a_second_one_cannot_leave_nni_running(tmp_path):
    config = scripted_config(tmp_path, CUT_TRIAL, ["quick", "hangs"])
    kinds = [p["kind"] for p in random_parameters(load_config(config), 6)]
    quick = ending_before_two_hang(kinds)
    out, output = tmp_path / "b.jsonl", tmp_path / "output.txt"
    with isolated_nni(tmp_path / "nni") as env, output.open("w") as stdout:
        record = ["bank", "record", str(config), "--trials", "6", "--out", str(out)]
        with interruptible_bttackler(*record, env=env, stdout=stdout) as recording:
            # Once the quick trials have ended, both slots hang: no other trial ends before the Ctrl-C.
            ended = re.compile(rf": {len(quick)} of \d+ trials ended")
            wait_until(lambda: ended.search(output.read_text()), timeout=180, what=ended.pattern)
            recording.send_signal(signal.SIGINT)
            wait_until(lambda: "stopping experiment" in output.read_text(), timeout=30, what="the stop")
            recording.send_signal(signal.SIGINT)  # impatient: while `nnictl stop` runs
            _, stderr = recording.communicate(timeout=180)
        experiment = only_experiment(env)
        manager = json.loads((Path(env["HOME"]) / "nni-experiments" / ".experiment").read_text())
    assert recording.returncode == 130 and "Traceback" not in stderr, stderr
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("bttackler: the recording was interrupted; the ")
    assert f"the {len(quick)} trials that ended are in {tmp_path / 'b.partial.jsonl'}" in message
    assert [t.parameters["kind"] for t in read_bank(tmp_path / "b.partial.jsonl").trials] == ["quick"] * len(
        quick
    )
    assert experiment.stopped
    with pytest.raises(ProcessLookupError):  # NNI's manager went with the experiment
        os.kill(manager[experiment.id]["pid"], 0)
