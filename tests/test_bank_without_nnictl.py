"""``bttackler bank record --without-nnictl``: NNI's Random tuner's parameters, trials run here.

The parameters are checked against a bank recorded through real nnictl, the trials are the digits
task's real trial script (unchanged, through NNI's trial SDK and our channel), and a failing, a
diverging and a hanging trial show what such a recording keeps and what it cleans up.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import nni_harness
import pytest
from nni_harness import REPO, bttackler, ending_before_two_hang, interruptible_bttackler, wait_until

from bttackler_nni.evaluation.bank_recording import record_bank
from bttackler_nni.evaluation.banks import read_bank
from bttackler_nni.evaluation.direct_recording import random_parameters
from bttackler_nni.evaluation.output_paths import OutputPathError
from bttackler_nni.evaluation.recording_channel import (
    PARAMETERS_ENV,
    REPORTS_ENV,
    RecordingChannel,
    read_reports,
)
from bttackler_nni.experiments.config import ExperimentConfigError, load_config

DIGITS_CONFIG = REPO / "configs" / "digits" / "random_baseline.yml"
DIGITS_BANK = REPO / "benchmarks" / "banks" / "digits.jsonl"


def test_the_parameters_are_those_a_real_nni_random_search_of_the_seed_ran():
    """The committed digits bank was recorded through nnictl, one trial at a time, seed 2024."""
    recorded = read_bank(DIGITS_BANK)
    assert "tuner.classArgs.seed=2024" in recorded.command
    config = load_config(DIGITS_CONFIG, ["tuner.classArgs.seed=2024"])
    generated = random_parameters(config, len(recorded.trials))
    assert generated == [dict(trial.parameters) for trial in recorded.trials]


def test_only_a_random_tuner_records_without_nnictl():
    config = load_config(DIGITS_CONFIG, ["tuner.name=TPE"])
    with pytest.raises(ExperimentConfigError, match=r"tuner.name: .*Random tuner.*'TPE'.*Fix: "):
        random_parameters(config, 3)


def test_parallel_belongs_to_recordings_without_nnictl(tmp_path):
    with pytest.raises(
        ExperimentConfigError, match=r"--parallel applies to --without-nnictl.*trialConcurrency"
    ):
        record_bank(DIGITS_CONFIG, [], 2, tmp_path / "b.jsonl", command="c", parallel=2)


def test_the_channel_refuses_a_trial_not_run_by_a_recording(monkeypatch):
    monkeypatch.delenv(PARAMETERS_ENV, raising=False)
    monkeypatch.setenv(REPORTS_ENV, "/tmp/reports.jsonl")
    with pytest.raises(RuntimeError, match=f"--without-nnictl.*sets {PARAMETERS_ENV};"):
        RecordingChannel()


def test_the_channel_gives_the_parameters_once_and_appends_metrics_with_their_time(monkeypatch, tmp_path):
    reports = tmp_path / "reports.jsonl"
    monkeypatch.setenv(PARAMETERS_ENV, json.dumps({"parameter_id": 4, "parameters": {"lr": 0.1}}))
    monkeypatch.setenv(REPORTS_ENV, str(reports))
    channel = RecordingChannel()
    assert channel.receive_parameter() == {"parameter_id": 4, "parameters": {"lr": 0.1}}
    assert channel.receive_parameter() is None
    before = time.time()
    channel.send_metric("PERIODICAL", 4, "T0004", 0, {"default": float("nan"), "epoch": 0})
    channel.send_metric("FINAL", 4, "T0004", 0, 0.5)
    with reports.open("a") as stream:
        stream.write('{"time": 1, "type": "PERIOD')  # a trial killed mid-write
    read = read_reports(reports)
    assert [r.type for r in read] == ["PERIODICAL", "FINAL"]
    assert read[0].value["epoch"] == 0 and read[0].value["default"] != read[0].value["default"]  # NaN
    assert read[1].value == 0.5 and before <= read[0].time <= read[1].time <= time.time()
    assert read_reports(tmp_path / "absent.jsonl") == []


def test_bank_record_without_nnictl_runs_the_digits_task_and_writes_what_the_reporter_sent(tmp_path):
    out = tmp_path / "digits.jsonl"
    result = bttackler(
        "bank",
        "record",
        str(DIGITS_CONFIG),
        "--trials",
        "3",
        "--out",
        str(out),
        "--without-nnictl",
        "--parallel",
        "2",
        "--set",
        "tuner.classArgs.seed=5",
        "--set",
        "trialCommand=python train.py --epochs 3 --samples-per-epoch 3000",
        env=dict(os.environ),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 at a time, without nnictl" in result.stdout and "3 of 3 trials ended" in result.stdout
    recorded = read_bank(out)
    assert (recorded.task, recorded.direction.value, recorded.max_epochs) == ("digits", "maximize", 3)
    assert "--without-nnictl" in recorded.command and "load" in recorded.machine
    assert recorded.startup_seconds is not None and recorded.startup_seconds > 0.5  # python, torch, data
    config = load_config(DIGITS_CONFIG, ["tuner.classArgs.seed=5"])
    assert [dict(t.parameters) for t in recorded.trials] == random_parameters(config, 3)
    assert [t.trial for t in recorded.trials] == ["T0000", "T0001", "T0002"]
    for bank_trial in recorded.trials:
        assert bank_trial.status == "SUCCEEDED"
        assert [e.record["epoch"] for e in bank_trial.epochs] == [0, 1, 2]
        assert {"grad_median", "layers", "train_loss", "val_acc"} <= set(bank_trial.epochs[0].record)
        assert bank_trial.final == max(e.record["val_acc"] for e in bank_trial.epochs)  # train.py's final
        for epoch in bank_trial.epochs[1:]:  # report-time differences agree with the Reporter's clock
            assert epoch.seconds == pytest.approx(epoch.record["epoch_seconds"], abs=1.0)
        trial_folder = tmp_path / "digits-trials" / bank_trial.trial
        assert "best val_acc" in (trial_folder / "trial.log").read_text()  # train.py's output


TRIAL_SCRIPT = """
import os, sys, time
import nni
params = nni.get_next_parameter()
open("pid-" + os.environ["NNI_TRIAL_JOB_ID"], "w").write(str(os.getpid()))
if params["kind"] == "diverges":
    nni.report_intermediate_result({"default": 0.5, "train_loss": 1.0})
    nni.report_intermediate_result({"default": float("nan"), "train_loss": float("nan")})
    nni.report_final_result(float("nan"))
elif params["kind"] == "fails":
    nni.report_intermediate_result(0.25)
    print("the trial's own error", file=sys.stderr)
    sys.exit(3)
else:
    time.sleep(120)
"""


def scripted_config(tmp_path: Path, kinds: list[str]) -> Path:
    """The Random search of :data:`TRIAL_SCRIPT`'s behaviours ``kinds``."""
    return nni_harness.scripted_config(tmp_path, TRIAL_SCRIPT, kinds)


def test_a_failing_and_a_diverging_trial_are_kept_with_what_they_reported(tmp_path, monkeypatch):
    config = scripted_config(tmp_path, ["diverges", "fails"])
    monkeypatch.chdir(tmp_path.parent)  # a relative path, as typed: the trials run elsewhere
    out = Path(tmp_path.name) / "bank.jsonl"
    kinds = [p["kind"] for p in random_parameters(load_config(config), 4)]
    assert set(kinds) == {"diverges", "fails"}
    record_bank(config, [], 4, out, command="test", without_nnictl=True)
    recorded = read_bank(out)
    assert [t.parameters["kind"] for t in recorded.trials] == kinds
    for kind, bank_trial in zip(kinds, recorded.trials, strict=True):
        if kind == "fails":
            assert bank_trial.status == "FAILED" and [e.record for e in bank_trial.epochs] == [0.25]
            stderr = tmp_path / "bank-trials" / bank_trial.trial / "trial.stderr"
            assert "the trial's own error" in stderr.read_text()
        else:
            assert bank_trial.status == "SUCCEEDED" and len(bank_trial.epochs) == 2
            assert bank_trial.value != bank_trial.value  # the NaN final result, kept as NaN


def test_a_bank_already_at_out_is_replaced_only_with_overwrite(tmp_path):
    config = scripted_config(tmp_path, ["diverges"])
    out = tmp_path / "b.jsonl"
    out.write_text("hours of recording\n")
    with pytest.raises(OutputPathError, match=r"already exists; give a new file, or pass --overwrite"):
        record_bank(config, [], 2, out, command="test", without_nnictl=True)
    assert out.read_text() == "hours of recording\n" and not (tmp_path / "b-trials").exists()
    record_bank(config, [], 2, out, command="test", without_nnictl=True, overwrite=True)
    assert [t.parameters["kind"] for t in read_bank(out).trials] == ["diverges", "diverges"]


def test_a_recording_past_its_timeout_stops_with_its_trials_killed(tmp_path):
    config = scripted_config(tmp_path, ["hangs"])
    result = bttackler(
        "bank", "record", str(config), "--trials", "2", "--out", str(tmp_path / "b.jsonl"),
        "--without-nnictl", "--timeout", "10", env=dict(os.environ), timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and not (tmp_path / "b.jsonl").exists()
    assert not (tmp_path / "b.partial.jsonl").exists()  # nothing ended, nothing to keep
    message = result.stderr.strip().splitlines()[-1]
    assert "--timeout 10 s with 0 of 2 trials ended" in message and "b-trials" in message
    assert "no trial had ended, so no bank was written" in message
    for pid_file in tmp_path.glob("pid-*"):  # both trials started; neither outlives the recording
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)
    assert len(list(tmp_path.glob("pid-*"))) == 2


def test_a_recording_cut_short_keeps_the_trials_that_ended_as_a_partial_bank(tmp_path):
    # Two slots: each hanging trial holds one for good, so the trials that end are the diverging
    # ones started before the second hanging one.
    config = scripted_config(tmp_path, ["diverges", "hangs"])
    kinds = [p["kind"] for p in random_parameters(load_config(config), 6)]
    expected = ending_before_two_hang(kinds)
    assert expected and len(expected) < len(kinds)  # the seed gives both kinds of trial
    earlier = tmp_path / "b.partial.jsonl"  # an earlier cut's trials: never replaced
    earlier.write_text("an earlier cut's bank\n")
    result = bttackler(
        "bank", "record", str(config), "--trials", "6", "--out", str(tmp_path / "b.jsonl"),
        "--without-nnictl", "--timeout", "10", env=dict(os.environ), timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and not (tmp_path / "b.jsonl").exists()
    assert earlier.read_text() == "an earlier cut's bank\n"
    partial = tmp_path / "b.partial-2.jsonl"
    message = result.stderr.strip().splitlines()[-1]
    assert f"the {len(expected)} trials that ended are in {partial}" in message
    assert "b.jsonl was not written" in message
    kept = read_bank(partial)
    assert [t.parameters["kind"] for t in kept.trials] == ["diverges"] * len(expected)
    assert all(len(t.epochs) == 2 and t.status == "SUCCEEDED" for t in kept.trials)  # all they reported


def test_ctrl_c_keeps_the_trials_that_ended_and_exits_130(tmp_path):
    config = scripted_config(tmp_path, ["diverges", "hangs"])
    kinds = [p["kind"] for p in random_parameters(load_config(config), 6)]
    expected = ending_before_two_hang(kinds)
    assert expected  # the seed gives trials that end before both slots hang
    output = tmp_path / "output.txt"
    with output.open("w") as stdout:
        record = ["bank", "record", str(config), "--trials", "6", "--out", str(tmp_path / "b.jsonl")]
        with interruptible_bttackler(*record, "--without-nnictl", stdout=stdout) as recording:
            # Once these have ended, both slots hang: no other trial ends before the Ctrl-C.
            ended = f"{len(expected)} of 6 trials ended"
            wait_until(lambda: ended in output.read_text(), timeout=60, what=ended)
            recording.send_signal(signal.SIGINT)
            _, stderr = recording.communicate(timeout=60)
    assert recording.returncode == 130 and "Traceback" not in stderr, stderr
    partial = tmp_path / "b.partial.jsonl"
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("bttackler: the recording was interrupted with")
    assert f"the {len(expected)} trials that ended are in {partial}" in message
    assert [t.parameters["kind"] for t in read_bank(partial).trials] == ["diverges"] * len(expected)
    for pid_file in tmp_path.glob("pid-*"):  # the hanging trials do not outlive the recording
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)


def test_a_finite_space_records_as_many_trials_as_it_holds(tmp_path):
    """NNI's Random tuner draws each point of a finite space once, then NNI runs no more trials."""
    (tmp_path / "space.json").write_text(json.dumps({"kind": {"_type": "choice", "_value": ["a", "b"]}}))
    config = tmp_path / "config.yml"
    config.write_text(
        "searchSpaceFile: space.json\ntrialCommand: python -c 'import nni; nni.get_next_parameter()'\n"
        "trialConcurrency: 1\n"
        "tuner: {name: Random, classArgs: {seed: 1}}\ntrainingService: {platform: local}\n"
    )
    assert sorted(p["kind"] for p in random_parameters(load_config(config), 4)) == ["a", "b"]
    lines: list[str] = []
    record_bank(
        config, [], 4, tmp_path / "b.jsonl", command="test", without_nnictl=True, on_progress=lines.append
    )
    assert "the search space holds only 2 parameter sets: as many trials" in lines
    assert [t.status for t in read_bank(tmp_path / "b.jsonl").trials] == ["SUCCEEDED", "SUCCEEDED"]
