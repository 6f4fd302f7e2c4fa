"""Real NNI 3.0 experiments (nnictl, digits) with the GP and SMAC tuners, wrapped and plain.

One experiment per tuner (wrapped, with BTTackler stopping trials), plus the dispatcher-start
failure of an unsupported search space; the plain class and registered names are built and asked
for parameters exactly as the dispatcher does (``check_config``), without a run of their own.

Each test uses its own NNI home and port and stops its experiment even when it fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nni_harness import DIGITS_CONFIG, REPO, bttackler, isolated_nni, wait_until

from bttackler_nni.dispatcher.journal import JOURNAL_DIR, TUNER_FEEDBACK_FILE, read_jsonl
from bttackler_nni.experiments import store
from bttackler_nni.experiments.config import check_config, load_config
from bttackler_nni.experiments.launch import create, free_port, rest, stop, wait

pytestmark = pytest.mark.nni

SPACE = {  # lr 1e-7 never learns (BTTackler's PLC stops it); randint and string choices on purpose
    "optimizer": {"_type": "choice", "_value": ["Adam"]},
    "lr": {"_type": "choice", "_value": [1e-7, 2e-3, 3e-3]},
    "depth": {"_type": "randint", "_value": [1, 3]},
    "width": {"_type": "choice", "_value": [64, 128]},
    "activation": {"_type": "choice", "_value": ["relu", "tanh"]},
    "bias_init": {"_type": "choice", "_value": [0.0]},
    "batch_size": {"_type": "choice", "_value": [128]},
}
# Seed 1: both tuners' first suggestion has lr 1e-7 and their second a good lr (checked offline),
# so a stop happens during the random start and later suggestions come from the model.
TUNER_ARGS = {
    "GP": {"seed": 1, "cold_start_num": 2, "selection_num_warm_up": 5000, "selection_num_starting_points": 5},
    "SMAC": {"seed": 1, "initial_configs": 2},
}


def digits_config(tmp_path: Path, space: dict, trials: int, epochs: int, concurrency: int) -> dict:
    (tmp_path / "space.json").write_text(json.dumps(space))
    return load_config(
        DIGITS_CONFIG,
        [
            f"searchSpaceFile={tmp_path / 'space.json'}",
            f"maxTrialNumber={trials}",
            f"trialConcurrency={concurrency}",
            f"trialCommand=python train.py --epochs {epochs} --samples-per-epoch 20000",
            "assessor.classArgs.indicators.NMG=false",
        ],
    )


def run_to_the_end(config: dict, env: dict[str, str]) -> store.Experiment:
    check_config(config)
    experiment = create(config, free_port(), env)
    try:
        assert wait(experiment, timeout=300) == "DONE"
    finally:
        stop(experiment, env)
    return store.load(experiment.directory)


def dispatcher_log(experiment: store.Experiment) -> str:
    return (experiment.directory / "log" / "dispatcher.log").read_text()


@pytest.mark.parametrize("tuner", ["GP", "SMAC"])
def test_wrapped_tuner_runs_to_done_and_learns_from_stopped_trials(tuner, tmp_path):
    with isolated_nni(tmp_path) as env:
        config = digits_config(tmp_path, SPACE, trials=6, epochs=10, concurrency=2)
        config["tuner"]["classArgs"] = {
            "tuner": tuner,
            "tuner_args": {"optimize_mode": "maximize", **TUNER_ARGS[tuner]},
        }
        experiment = run_to_the_end(config, env)
    log = dispatcher_log(experiment)
    assert "Traceback" not in log and " ERROR " not in log
    assert len(experiment.trials) == 6
    stopped = [t for t in experiment.trials if t.stopped_by_bttackler]
    assert stopped and all(t.parameters["lr"] == 1e-7 for t in stopped)
    assert all(t.status == "SUCCEEDED" for t in experiment.trials if t not in stopped)
    fed = list(read_jsonl(experiment.directory / "checkpoint" / JOURNAL_DIR / TUNER_FEEDBACK_FILE))
    assert sorted(line["trial"] for line in fed) == sorted(t.id for t in stopped)
    assert f"BTTackler tuner fed {tuner} the result" in log
    for trial in experiment.trials:
        assert set(trial.parameters) == set(SPACE) and trial.parameters["depth"] in (1, 2)


@pytest.mark.parametrize(
    "tuner, section",
    [
        ("GP", {"codeDirectory": str(REPO), "className": "bttackler_nni.tuners.GPTuner"}),
        ("SMAC", {"name": "BTTacklerSMAC"}),  # after `bttackler register`
    ],
)
def test_plain_tuner_by_class_name_or_registered_name_starts_as_the_dispatcher_builds_it(
    tuner, section, tmp_path, monkeypatch
):
    with isolated_nni(tmp_path) as env:
        if "name" in section:
            assert bttackler("register", env=env).returncode == 0
            # check_config builds the tuner here, as the dispatcher will: from the same registrations
            monkeypatch.setenv("NNI_CONFIG_DIR", env["NNI_CONFIG_DIR"])
        config = digits_config(tmp_path, SPACE, trials=4, epochs=3, concurrency=1)
        config["tuner"] = {**section, "classArgs": {"optimize_mode": "maximize", **TUNER_ARGS[tuner]}}
        config["assessor"] = None
        check_config(config)  # builds the tuner, gives it the search space, asks for parameters


def test_a_search_space_the_tuner_cannot_handle_fails_the_plain_experiment_with_the_reason(tmp_path):
    # What a plain `nnictl create` user sees: ERROR instead of a hung RUNNING experiment, and one
    # line in dispatcher.log naming the parameter and its type.
    with isolated_nni(tmp_path) as env:
        config = digits_config(tmp_path, {**SPACE, "wd": {"_type": "normal", "_value": [0, 1]}}, 2, 3, 1)
        config["tuner"] = {"codeDirectory": str(REPO), "className": "bttackler_nni.tuners.GPTuner"}
        experiment = create(config, free_port(), env)  # no check_config: as `nnictl create` would
        try:
            wait_until(
                lambda: rest(experiment, "check-status")["status"] == "ERROR", timeout=60, what="ERROR"
            )
            errors = rest(experiment, "check-status")["errors"]
            assert rest(experiment, "trial-jobs") == []
        finally:
            stop(experiment, env)
    assert any("Tuner did not connect" in error for error in errors)
    log = (experiment.directory / "log" / "dispatcher.log").read_text()
    assert (
        "search space parameter 'wd' has type 'normal', which the GP tuner cannot handle. Fix: give it "
        "one of the types choice, randint, uniform, quniform, loguniform, qloguniform, or use the TPE or "
        "SMAC tuner"
    ) in log
