"""Every shipped experiment config: valid for NNI and BTTackler, right direction, real trial command."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from bttackler_nni import BTTacklerTuner
from bttackler_nni.experiments.config import check_config, load_config
from bttackler_nni.tuners import tuner_class
from bttackler_paper import cifar10_cnn, cifar10_lstm, ex96trans

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ALL_YAMLS = sorted(CONFIGS.glob("*/*.yml"))
TASKS = {
    "cifar10cnn": (cifar10_cnn, "maximize", "curvefitting"),
    "cifar10lstm": (cifar10_lstm, "maximize", "curvefitting"),
    "ex96trans": (ex96trans, "minimize", "medianstop"),
}

ACT = ["ReLU", "Tanh", "Sigmoid", "ELU", "LeakyReLU"]
OPT = ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta"]
BATCH = [45, 90, 180, 360, 720]
PAPER_SPACES = {  # docs/method.md section 8, in NNI's search-space format
    "cifar10cnn": {
        "conv1_k_num": ("randint", [8, 32]),
        "conv2_k_num": ("randint", [32, 64]),
        "conv3_k_num": ("randint", [64, 128]),
        "conv4_k_num": ("randint", [64, 128]),
        "conv_k_size": ("choice", [2, 3]),
        "mlp_f_num": ("randint", [10, 1000]),
        "lr": ("loguniform", [1e-4, 0.4]),
        "weight_decay": ("loguniform", [1e-5, 1e-3]),
        "act": ("choice", ACT),
        "opt": ("choice", OPT),
        "batch_size": ("choice", BATCH),
        "batch_norm": ("choice", [0, 1]),
        "drop_rate": ("uniform", [0, 0.9]),
    },
    "cifar10lstm": {
        "hidden_size": ("choice", [16, 32, 64, 128]),
        "mlp_f_num": ("randint", [10, 1000]),
        "lr": ("loguniform", [1e-4, 0.4]),
        "weight_decay": ("loguniform", [1e-5, 1e-3]),
        "act": ("choice", ACT),
        "opt": ("choice", OPT),
        "batch_size": ("choice", BATCH),
        "drop_rate": ("uniform", [0, 0.9]),
    },
    "ex96trans": {
        "e_layers": ("randint", [1, 4]),
        "d_layers": ("randint", [1, 4]),
        "d_model": ("choice", [256, 512, 1024]),
        "n_heads": ("randint", [5, 15]),
        "d_ff": ("randint", [1024, 2048]),
        "learning_rate": ("loguniform", [1e-5, 1e-3]),
        "batch_size": ("choice", [16, 32, 64]),
        "dropout": ("choice", [0.05, 0.1, 0.15, 0.2]),
    },
}


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_validates_with_nni_and_bttackler_and_runs_an_existing_script(path):
    config = load_config(path)
    check_config(config)
    command = shlex.split(config["trialCommand"])
    assert command[0] == "python" and (Path(config["trialCodeDirectory"]) / command[1]).is_file()
    assert (
        "&&" not in config["trialCommand"] and ";" not in config["trialCommand"]
    )  # single command: no orphans
    json.loads(Path(config["searchSpaceFile"]).read_text())


@pytest.mark.parametrize("task", TASKS)
def test_each_task_ships_every_tuner_and_arm(task):
    rule = TASKS[task][2]
    names = {p.name for p in (CONFIGS / task).glob("*.yml")}
    assert names == {
        f"{tuner}_{arm}.yml"
        for tuner in ("random", "tpe", "gp", "smac")
        for arm in ("baseline", "bttackler", rule)
    }


@pytest.mark.parametrize("task", TASKS)
def test_search_space_is_the_papers_and_every_key_reaches_the_model(task):
    space = json.loads((CONFIGS / task / "search_space.json").read_text())
    assert {key: (spec["_type"], spec["_value"]) for key, spec in space.items()} == PAPER_SPACES[task]
    assert set(space) == set(TASKS[task][0].SCHEMA)


@pytest.mark.parametrize("path", [p for p in ALL_YAMLS if p.parent.name in TASKS], ids=lambda p: p.name)
def test_optimisation_direction_is_right_everywhere(path):
    config = load_config(path)
    expected = TASKS[path.parent.name][1]
    class_args = config["tuner"]["classArgs"]
    assert class_args.get("optimize_mode", class_args.get("tuner_args", {}).get("optimize_mode")) == expected
    assessor = config.get("assessor") or {}
    if assessor.get("className") == "bttackler_nni.BTTacklerAssessor":
        assert assessor["classArgs"].get("direction", "maximize") == expected
    if assessor.get("name") == "Medianstop":
        assert assessor["classArgs"]["optimize_mode"] == expected
    if assessor.get("name") == "Curvefitting":
        assert expected == "maximize"  # NNI's Curvefitting assumes higher is better
    assert config["trialConcurrency"] == 8 and config["maxExperimentDuration"] == "6h"


def test_bttackler_arms_feed_their_tuner():
    for path in CONFIGS.glob("*/*_bttackler.yml"):
        config = load_config(path)
        assert config["tuner"]["className"] == "bttackler_nni.BTTacklerTuner"
        assert config["assessor"]["className"] == "bttackler_nni.BTTacklerAssessor"


@pytest.mark.parametrize(
    "path",
    sorted(CONFIGS.glob("*/gp_*.yml")) + sorted(CONFIGS.glob("*/smac_*.yml")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_gp_and_smac_arms_use_the_working_tuners_not_nnis_broken_ones(path):
    from nni.tools.package_utils import create_customized_class_instance

    tuner = create_customized_class_instance(load_config(path)["tuner"])  # as NNI's dispatcher does
    if isinstance(tuner, BTTacklerTuner):
        tuner = tuner.inner
    assert isinstance(tuner, tuner_class(path.name.split("_")[0].upper()))
