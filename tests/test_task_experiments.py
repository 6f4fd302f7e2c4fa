"""One short real NNI run per paper task: a good and a deliberately bad configuration.

Small setting (a slice of the data in ../shared/data, 4 epochs) with NNI's GridSearch over the
learning rate, so the two trials are exactly the task's default configuration and the same with a
huge learning rate. Nothing may fail: the good trial succeeds, the bad one is stopped by BTTackler
within the first half of its epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nni_harness import bttackler

from bttackler_nni.experiments.store import load
from bttackler_paper import cifar10_cnn, cifar10_lstm, ex96trans

pytestmark = pytest.mark.nni

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
EPOCHS = 4
TASKS = {
    # task: (module, learning-rate key, huge rate, data env var, data file, data fraction)
    "cifar10cnn": (cifar10_cnn, "lr", 10.0, "BTTACKLER_CIFAR10", "cifar10_subset.npz", "0.025"),
    "cifar10lstm": (cifar10_lstm, "lr", 10.0, "BTTACKLER_CIFAR10", "cifar10_subset.npz", "0.05"),
    "ex96trans": (ex96trans, "learning_rate", 10.0, "BTTACKLER_EXCHANGE_RATE", "exchange_rate.csv", "0.015"),
}


@pytest.mark.parametrize("task", TASKS)
def test_good_trial_succeeds_and_bad_trial_is_stopped_in_its_first_half(
    task, nni_env, repaired_nni, tmp_path
):
    module, rate_key, huge_rate, env_var, data_file, fraction = TASKS[task]
    if not (SHARED_DATA / data_file).exists():
        pytest.skip(f"{SHARED_DATA / data_file} is not on this machine")
    good_rate = module.DEFAULT_PARAMS[rate_key]
    space = {key: {"_type": "choice", "_value": [value]} for key, value in module.DEFAULT_PARAMS.items()}
    space[rate_key] = {"_type": "choice", "_value": [good_rate, huge_rate]}
    (tmp_path / "space.json").write_text(json.dumps(space))
    env = {
        **nni_env,
        env_var: str(SHARED_DATA / data_file),
        "BTTACKLER_DATA_FRACTION": fraction,
        "BTTACKLER_EPOCHS": str(EPOCHS),
        "BTTACKLER_THREADS": "1",
    }
    before = set((Path(env["HOME"]) / "nni-experiments").glob("[!._]*"))
    result = bttackler(
        "run",
        str(REPO / "configs" / task / "tpe_bttackler.yml"),
        "--set",
        f"searchSpaceFile={tmp_path / 'space.json'}",
        "--set",
        "tuner.classArgs.tuner=GridSearch",
        "--set",
        "trialConcurrency=2",
        "--set",
        "maxTrialNumber=2",
        "--set",
        "assessor.classArgs={}",  # no direction: the assessor ranks as the tuner optimizes
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (directory,) = set((Path(env["HOME"]) / "nni-experiments").glob("[!._]*")) - before
    experiment = load(directory)
    assert experiment.assessor_settings["direction"] == ("minimize" if task == "ex96trans" else "maximize")
    trials = {trial.parameters[rate_key]: trial for trial in experiment.trials}

    good, bad = trials[good_rate], trials[huge_rate]
    assert good.status == "SUCCEEDED" and len(good.intermediate) == EPOCHS and good.final is not None
    assert good.stop_verdict is None
    assert bad.status == "EARLY_STOPPED" and bad.stop_verdict.epoch < EPOCHS / 2
    assert bad.stop_verdict.reason.indicator in ("AGV", "EAG")
    assert not any(
        line.startswith("Traceback")
        for line in (directory / "log" / "dispatcher.log").read_text().splitlines()
    )
