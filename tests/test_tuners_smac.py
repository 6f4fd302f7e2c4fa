"""SMAC3 behind NNI's tuner interface: every NNI type, nested choices, small spaces, resume, feedback."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from smac.runhistory.enumerations import StatusType
from synthetic import with_losses

from bttackler_nni import BTTacklerAssessor, BTTacklerTuner
from bttackler_nni.tuners.configspace import NNIConfigurationSpace
from bttackler_nni.tuners.smac import SMACTuner

EVERY_TYPE = {
    "c": {"_type": "choice", "_value": ["relu", 3, 0.5, "relu"]},
    "r": {"_type": "randint", "_value": [2, 5]},
    "u": {"_type": "uniform", "_value": [-1, 1]},
    "qu": {"_type": "quniform", "_value": [0.1, 3, 0.5]},
    "lu": {"_type": "loguniform", "_value": [1e-4, 1]},
    "qlu": {"_type": "qloguniform", "_value": [1, 1000, 10]},
    "n": {"_type": "normal", "_value": [0, 2]},
    "qn": {"_type": "qnormal", "_value": [10, 3, 2]},
    "ln": {"_type": "lognormal", "_value": [0, 1]},
    "qln": {"_type": "qlognormal", "_value": [2, 1, 5]},
    "layer": {
        "_type": "choice",
        "_value": [
            {"_name": "empty"},
            {
                "_name": "conv",
                "kernel": {"_type": "choice", "_value": [1, 3]},
                "pool": {
                    "_type": "choice",
                    "_value": [
                        {"_name": "max", "size": {"_type": "randint", "_value": [2, 4]}},
                        {"_name": "none"},
                    ],
                },
            },
        ],
    },
}


def is_multiple(x: float, q: float) -> bool:
    return math.isclose(x / q, round(x / q), abs_tol=1e-9)


def assert_legal(p: dict) -> None:
    assert p["c"] in ("relu", 3, 0.5)
    assert p["r"] in (2, 3, 4) and isinstance(p["r"], int)
    assert -1 <= p["u"] <= 1 and 1e-4 <= p["lu"] <= 1
    assert (0.1 <= p["qu"] <= 3) and (is_multiple(p["qu"], 0.5) or p["qu"] in (0.1, 3))  # NNI clips to range
    assert 1 <= p["qlu"] <= 1000 and (is_multiple(p["qlu"], 10) or p["qlu"] == 1)
    assert math.isfinite(p["n"]) and is_multiple(p["qn"], 2) and p["ln"] > 0 and is_multiple(p["qln"], 5)
    layer = p["layer"]
    if layer["_name"] == "empty":
        assert layer == {"_name": "empty"}
    else:
        assert (
            layer["_name"] == "conv"
            and set(layer) == {"_name", "kernel", "pool"}
            and layer["kernel"] in (1, 3)
        )
        assert layer["pool"] == {"_name": "none"} or (
            set(layer["pool"]) == {"_name", "size"} and layer["pool"]["size"] in (2, 3)
        )


def run(tuner: SMACTuner, space: dict, objective, rounds: int) -> list[dict]:
    tuner.update_search_space(space)
    suggestions = []
    for parameter_id in range(rounds):
        parameters = tuner.generate_parameters(parameter_id)
        suggestions.append(parameters)
        tuner.receive_trial_result(parameter_id, parameters, objective(parameters))
    return suggestions


def test_every_nni_type_and_nested_choices_come_out_as_nni_would_give_them():
    def objective(p):
        return p["u"] - abs(p["n"]) + (p["layer"]["_name"] == "conv")

    suggestions = run(SMACTuner(seed=1, initial_configs=5), EVERY_TYPE, objective, rounds=25)
    for p in suggestions:
        assert_legal(p)
    assert {p["layer"]["_name"] for p in suggestions} == {"empty", "conv"}
    assert {p["c"] for p in suggestions} == {"relu", 3, 0.5}


def test_parameters_convert_to_a_configuration_and_back_unchanged():
    space = NNIConfigurationSpace(EVERY_TYPE, seed=3)
    for config in space.space.sample_configuration(30):
        parameters = space.to_parameters(config)
        if parameters["qln"] == 0:  # exp(x) rounded to 0 has no logarithm: such a result is skipped
            with pytest.raises(ValueError, match="do not fit"):
                space.to_configuration(parameters)
            continue
        assert space.to_parameters(space.to_configuration(parameters)) == parameters
    with pytest.raises(ValueError, match="do not fit"):
        space.to_configuration({"c": "gelu"})


def test_the_forest_concentrates_on_the_optimum():
    space = {
        "x": {"_type": "uniform", "_value": [0, 10]},
        "k": {"_type": "choice", "_value": ["a", "b", "c"]},
    }

    def objective(p):
        return -((p["x"] - 7) ** 2) - 5 * (p["k"] != "b")

    # SMAC3 is not reproducible across processes even when seeded (its choices depend on Python's
    # string hashing), so the assertion is one that held under each of 170 hash seeds (0-69 and
    # 100-199): 14, 18 or 19 of the 25 suggestions after the initial design lay near x = 7.
    # Counting only the last 15 did not hold: under hash seeds 36 and 61 SMAC wandered to x = 9.1-9.5
    # late in the run and 5 of them were near. (Nor does finding k = "b": in 19 of the 170 runs SMAC
    # settled on x = 7 with k = "a".)
    suggestions = run(SMACTuner(seed=4, initial_configs=5), space, objective, rounds=30)
    near = [p for p in suggestions[5:] if abs(p["x"] - 7) < 1]
    assert len(near) >= 12  # random search: 5 of 25 expected, 12 or more with probability 0.15%


def test_a_small_space_runs_out_into_random_repeats_instead_of_an_error():
    space = {"a": {"_type": "choice", "_value": [1, 2]}, "b": {"_type": "choice", "_value": ["x", "y"]}}
    suggestions = run(SMACTuner(seed=1, initial_configs=2), space, lambda p: p["a"], rounds=10)
    assert len({(p["a"], p["b"]) for p in suggestions[:4]}) == 4  # every configuration once, first
    assert all(p["a"] in (1, 2) and p["b"] in ("x", "y") for p in suggestions)


def test_minimise_and_maximise_tell_smac_the_right_cost():
    space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    for mode, sign in (("maximize", -1), ("minimize", 1)):
        tuner = SMACTuner(mode, seed=1)
        tuner.update_search_space(space)
        parameters = tuner.generate_parameters(0)
        tuner.receive_trial_result(0, parameters, {"default": 0.25, "other": 3})
        assert [value.cost for value in tuner._session.smac.runhistory.values()] == [sign * 0.25]


def test_resume_data_non_finite_and_foreign_results():
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "k": {"_type": "choice", "_value": ["a", "b"]}}
    tuner = SMACTuner(seed=1)
    tuner.update_search_space(space)
    tuner.import_data(
        [{"parameter": {"x": 0.5, "k": "a"}, "value": 0.9}, {"parameter": {"x": 2.0, "k": "a"}, "value": 1}]
    )
    parameters = [tuner.generate_parameters(i) for i in range(3)]
    tuner.receive_trial_result(0, parameters[0], math.nan)
    tuner.trial_end(1, False)  # ended without a result: forgotten
    tuner.receive_trial_result(2, parameters[2], 0.4)
    tuner.receive_trial_result(7, {"x": 0.1, "k": "b"}, 0.3)  # a customised trial SMAC never proposed
    values = tuner._session.smac.runhistory.values()
    finished = [value.cost for value in values if value.status == StatusType.SUCCESS]
    assert sorted(finished) == [-0.9, -0.4, -0.3]
    assert tuner.generate_parameters(3)["k"] in ("a", "b")


def test_wrapped_smac_learns_the_result_of_a_trial_bttackler_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    tuner, assessor = BTTacklerTuner("SMAC", {"seed": 1}), BTTacklerAssessor()
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    parameters = tuner.generate_parameters(0)
    flat = [{**r, "trial": {"parameter_id": 0}} for r in with_losses([2.3, 2.299, 2.298])]  # a Reporter trial
    for n in range(1, len(flat) + 1):
        assessor.assess_trial("A", flat[:n])
    assessor.trial_end("A", False)
    tuner.trial_end(0, False)
    ((key, value),) = tuner.inner._session.smac.runhistory.items()
    assert value.cost == pytest.approx(-flat[-1]["default"])
    assert tuner.inner._session.smac.runhistory.get_config(key.config_id)["x"] == pytest.approx(
        parameters["x"]
    )


def test_smacs_files_are_removed_at_exit():
    tuner = SMACTuner(seed=1)
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    folder = Path(tuner._session._folder.name)
    assert folder.is_dir()
    tuner._on_exit()
    assert not folder.exists()
