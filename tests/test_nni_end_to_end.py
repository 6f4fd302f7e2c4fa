"""Real NNI 3.0 experiments (nnictl, local training service) on the shipped digits config.

Each test uses its own HOME and NNI config dir, a free port, and stops its experiments even when
it fails. Together they take a few minutes.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from nni_harness import (
    DIGITS_CONFIG,
    GOOD_AND_BAD,
    bttackler,
    isolated_nni,
    nni_repair_state_kept,
    only_experiment,
    search_space,
    short_digits_run,
    wait_until,
)

from bttackler_nni.dispatcher.journal import JOURNAL_DIR, TUNER_FEEDBACK_FILE, VERDICTS_FILE, read_jsonl
from bttackler_nni.experiments import repair, store
from bttackler_nni.experiments.config import ExperimentConfigError, check_config, load_config
from bttackler_nni.experiments.launch import RunningExperiment, create, free_port, nnictl, rest, run_to_end
from bttackler_nni.trial.orphan import ORPHANED

pytestmark = pytest.mark.nni


@pytest.fixture
def repair_state():
    """Restore the installed NNI's compat.js to whatever state it had before the test."""
    with nni_repair_state_kept():
        yield


def test_bad_trials_stopped_with_reasons_shown_early_stopped_and_fed_to_tpe(bttackler_run):
    experiment, output = bttackler_run.experiment, bttackler_run.output
    stopped = [t for t in experiment.trials if t.stopped_by_bttackler]
    succeeded = [t for t in experiment.trials if t.status == "SUCCEEDED"]
    assert stopped and succeeded, output
    for trial in stopped:
        verdict = trial.stop_verdict
        assert trial.status == "EARLY_STOPPED"  # the repair makes NNI record the assessor's kill
        reason = verdict.reason
        assert reason.indicator == "PLC" and reason.rule and reason.threshold > reason.value
        assert trial.parameters["lr"] == 1e-7 and len(trial.intermediate) < 10
    assert all(t.parameters["lr"] > 1e-3 for t in succeeded)
    assert {t.status for t in experiment.trials} == {"EARLY_STOPPED", "SUCCEEDED"}

    dispatcher_log = (experiment.directory / "log" / "dispatcher.log").read_text()
    fed = list(read_jsonl(experiment.directory / "checkpoint" / JOURNAL_DIR / TUNER_FEEDBACK_FILE))
    fed_by_trial = {line["trial"]: line for line in fed}
    assert sorted(fed_by_trial) == sorted(t.id for t in stopped)  # TPE got every stopped trial
    assert "BTTackler tuner fed TPE the result" in dispatcher_log
    for trial in stopped:
        line = fed_by_trial[trial.id]
        assert line["parameters"] == trial.parameters and line["value"] == pytest.approx(trial.last_value)
        assert f"BTTackler trial {trial.id} stopped at epoch" in dispatcher_log
    assert "Traceback" not in dispatcher_log
    assert "cannot judge" not in dispatcher_log  # the Reporter's records leave no indicator blind
    assert "cannot judge" not in output  # nor does the closing summary say so
    assert "stopped by PLC" in output and "EARLY_STOPPED" in output  # the closing summary
    progress = [line for line in output.splitlines() if " trials ended (" in line]
    assert f"{len(stopped)} stopped by BTTackler" in progress[-1], progress  # counted as ours, not NNI's


def test_without_an_assessor_every_trial_runs_to_its_end(baseline_run):
    assert {t.status for t in baseline_run.experiment.trials} == {"SUCCEEDED"}
    assert all(len(t.intermediate) == 10 for t in baseline_run.experiment.trials)


def test_stop_and_resume_keeps_the_assessors_state(tmp_path, repair_state):
    repair.revert()
    with isolated_nni(tmp_path) as env:
        space = search_space(tmp_path / "space.json", **GOOD_AND_BAD)
        overrides = short_digits_run(space, trials=40, seed=5)
        config = load_config(DIGITS_CONFIG, overrides[1::2])
        check_config(config)
        experiment = create(config, free_port(), env)
        journal = experiment.directory / "checkpoint" / JOURNAL_DIR / VERDICTS_FILE

        def ended_stop_and_success() -> bool:
            stopped = {line["trial"] for line in read_jsonl(journal) if line.get("stop")}
            statuses = {t["trialJobId"]: t["status"] for t in rest(experiment, "trial-jobs")}
            killed = any(statuses.get(trial) == "USER_CANCELED" for trial in stopped)
            return killed and "SUCCEEDED" in statuses.values()

        wait_until(ended_stop_and_success, timeout=240, what="a stopped trial killed and a succeeded trial")
        nnictl("stop", experiment.id, env=env)
        lines = list(read_jsonl(journal))
        stopped_before = {line["trial"] for line in lines if line.get("stop")}
        verdicts_before = sum("event" not in line for line in lines)
        peer_epochs = len({line["epoch"] for line in lines if line.get("train_loss")})

        # Without the repair NNI records our kills as cancelled by the user: the journal tells them apart.
        stored = store.load(experiment.directory)
        killed = [stored.trial(t) for t in stopped_before if stored.trial(t).status != "RUNNING"]
        assert killed and {t.status for t in killed} == {"USER_CANCELED"}
        assert all(t.stopped_by_bttackler for t in killed)

        # Damage both journals as a crash and a disk error might: a bad byte, a torn last line.
        feedback = journal.with_name(TUNER_FEEDBACK_FILE)
        fed_before = len(list(read_jsonl(feedback)))
        for damaged in (journal, feedback):
            damaged.write_bytes(damaged.read_bytes() + b'\xff\xfe\n{"trial": "torn", "rep')
        trials_before = len(stored.trials)

        port = free_port()
        nnictl("resume", experiment.id, "--port", str(port), env=env)
        resumed = RunningExperiment(experiment.id, port, experiment.directory)
        log = experiment.directory / "log" / "dispatcher.log"
        wait_until(lambda: "BTTackler restored" in log.read_text(), timeout=60, what="the assessor's restore")
        restored = [line for line in log.read_text().splitlines() if "BTTackler restored" in line][-1]
        assert f"restored {verdicts_before} verdicts" in restored
        assert f"peer losses at {peer_epochs} epochs" in restored
        assert f"{len(stopped_before)} stopped trials" in restored
        # The tuner replays in update_search_space, a command NNI sends after both load_checkpoint calls.
        replayed = f"replayed {fed_before} of {fed_before} stopped trials' results"
        wait_until(lambda: replayed in log.read_text(), timeout=60, what="the tuner's replay")
        wait_until(
            lambda: len(rest(resumed, "trial-jobs")) > trials_before,
            timeout=120,
            what="a new trial after the resume",
        )
        after = list(read_jsonl(journal))
        assert after[: len(lines)] == lines  # appended to, never rewritten, damage skipped
        assert (
            "Traceback" not in log.read_text()
            and "Dispatcher exiting" not in log.read_text().split("BTTackler restored")[-1]
        )
        nnictl("stop", experiment.id, env=env)


def test_registered_names_work_in_any_experiment_config(tmp_path):
    with isolated_nni(tmp_path) as env:
        registered = bttackler("register", env=env)
        assert registered.returncode == 0, registered.stderr
        listed = nnictl("algo", "list", env=env)
        assert "BTTackler" in listed and "BTTacklerTuner" in listed
        space = search_space(tmp_path / "space.json", **{**GOOD_AND_BAD, "lr": [1e-7]})
        config = tmp_path / "registered.yml"
        config.write_text(
            f"searchSpaceFile: {space}\n"
            f"trialCommand: python train.py --epochs 6 --samples-per-epoch 20000\n"
            f"trialCodeDirectory: {DIGITS_CONFIG.parents[2] / 'examples' / 'digits'}\n"
            "trialConcurrency: 2\nmaxTrialNumber: 2\n"
            "tuner: {name: BTTacklerTuner, classArgs: {tuner: Random}}\n"
            "assessor: {name: BTTackler, classArgs: {patience: 1}}\n"
            "trainingService: {platform: local}\n"
        )
        result = bttackler("run", str(config), env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        experiment = only_experiment(env)
        assert [t.stop_verdict.reason.indicator for t in experiment.trials] == ["PLC", "PLC"]
        assert bttackler("register", "--undo", env=env).returncode == 0
        assert "BTTacklerTuner" not in nnictl("algo", "list", env=env)


def test_web_ui_data_offers_the_scalar_diagnostics(tmp_path):
    with isolated_nni(tmp_path) as env:
        space = search_space(tmp_path / "space.json", **{**GOOD_AND_BAD, "lr": [2e-3]})
        config = load_config(DIGITS_CONFIG, short_digits_run(space, trials=1, seed=1)[1::2])
        experiment = create(config, free_port(), env)
        wait_until(
            lambda: rest(experiment, "trial-jobs") and rest(experiment, "metric-data"),
            timeout=120,
            what="the first intermediate result",
        )
        trial = rest(experiment, "trial-jobs")[0]["trialJobId"]
        with urllib.request.urlopen(f"{experiment.url}/api/v1/nni/metric-data/{trial}") as response:
            metrics = json.loads(response.read())
        record = store.decode_metric(metrics[0]["data"])
        scalars = {k for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        # NNI's "Intermediate results" dialog offers exactly a record's numeric top-level keys.
        assert {
            "default",
            "train_loss",
            "val_loss",
            "val_acc",
            "grad_median",
            "grad_ratio_median",
            "zero_grad_share",
            "nonfinite",
            "epoch",
        } <= scalars


def test_a_stop_the_trial_command_does_not_pass_on_still_ends_the_trial(tmp_path):
    # `...; echo done`: NNI's SIGINT reaches only bash, which waits for Python. NNI kills bash 5 s
    # later; the Reporter sees its parent gone and exits, saying why, instead of training on unseen.
    # (`bttackler check` refuses such a command; run_to_end does not check, as plain nnictl would not.)
    epochs = 80  # about 12 s of training: far more than the 5 s NNI gives bash
    with isolated_nni(tmp_path / "nni") as env:
        space = search_space(tmp_path / "space.json", **{**GOOD_AND_BAD, "lr": [1e-7]})  # PLC stops both
        overrides = short_digits_run(space, 2, 1, epochs)[1::2]  # the values of its --set pairs
        command = f"trialCommand=python train.py --epochs {epochs} --samples-per-epoch 20000; echo done"
        config = load_config(DIGITS_CONFIG, [*overrides, command])
        with pytest.raises(ExperimentConfigError, match="a command after the training"):
            check_config(config)
        run_to_end(config, env, timeout=600)
        experiment = only_experiment(env)
    assert len(experiment.trials) == 2
    for trial in experiment.trials:
        assert trial.stopped_by_bttackler and trial.final is None
        assert len(trial.intermediate) < epochs
        stderr = (experiment.trial_log_dir(trial.id) / "trial.stderr").read_text()
        assert stderr.rstrip().endswith(ORPHANED) and "Traceback" not in stderr, stderr
