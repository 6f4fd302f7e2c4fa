"""The tuner wrapper feeds a real TPE the results of trials the assessor stops (NNI's call order)."""

from __future__ import annotations

import logging
import math

import pytest
from synthetic import record, with_losses

from bttackler_nni import BTTacklerAssessor, BTTacklerTuner, ConfigError
from bttackler_nni.dispatcher.journal import JOURNAL_DIR, TUNER_FEEDBACK_FILE, read_jsonl

SPACE = {
    "lr": {"_type": "loguniform", "_value": [1e-5, 1.0]},
    "width": {"_type": "choice", "_value": [16, 32]},
}
FLAT = with_losses([2.3, 2.299, 2.298])


@pytest.fixture
def pair(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    tuner = BTTacklerTuner("TPE", {"optimize_mode": "maximize"})
    tuner.update_search_space(SPACE)
    return tuner, BTTacklerAssessor()


def end_trial(tuner, assessor, trial: str, parameter_id: int, success: bool) -> None:
    """What NNI's dispatcher does on a trial's end: assessor.trial_end, then tuner.trial_end."""
    assessor.trial_end(trial, success)
    tuner.trial_end(parameter_id, success)


def tpe_losses(tuner) -> list[float]:
    return [r.loss for r in tuner.inner._history[("lr",)]]


def stop(assessor, trial: str, history: list, parameter_id: int | None) -> None:
    """Report ``history`` as a Reporter trial that ran ``parameter_id`` (``None``: a plain trial)."""
    if parameter_id is not None:
        history = [{**r, "trial": {"parameter_id": parameter_id}} for r in history]
    for n in range(1, len(history) + 1):
        assessor.assess_trial(trial, history[:n])


def test_stopped_trial_reaches_tpe_with_its_last_metric(pair, tmp_path):
    tuner, assessor = pair
    parameters = tuner.generate_multiple_parameters([0, 1])
    stop(assessor, "A", FLAT, 0)
    end_trial(tuner, assessor, "A", 0, success=False)
    assert tpe_losses(tuner) == [pytest.approx(-FLAT[-1]["default"])]  # TPE minimises -accuracy
    assert 0 not in tuner.inner._running_params
    lines = list(read_jsonl(tmp_path / JOURNAL_DIR / TUNER_FEEDBACK_FILE))
    assert [(x["trial"], x["parameter_id"], x["indicator"]) for x in lines] == [("A", 0, "PLC")]
    assert lines[0]["parameters"] == parameters[0] and lines[0]["value"] == pytest.approx(FLAT[-1]["default"])


def test_finished_and_failed_trials_are_not_fed_twice_or_invented(pair):
    tuner, assessor = pair
    parameters = tuner.generate_multiple_parameters([0, 1, 2])
    assessor.assess_trial("ok", [record(0)])
    tuner.receive_trial_result(0, parameters[0], 0.9)
    end_trial(tuner, assessor, "ok", 0, success=True)
    end_trial(tuner, assessor, "crashed", 1, success=False)  # not stopped by us: nothing to feed
    stop(assessor, "raced", FLAT, 2)
    tuner.receive_trial_result(2, parameters[2], 0.5)  # its final result arrived before the kill
    end_trial(tuner, assessor, "raced", 2, success=False)
    assert tpe_losses(tuner) == [pytest.approx(-0.9), pytest.approx(-0.5)]


def test_a_final_result_arriving_after_the_feed_is_dropped_not_raised(pair):
    # Seen live: NNI handled the stopped trial's end (and our feed) before its late final result;
    # TPE raises KeyError on a second result, which would kill NNI's dispatcher.
    tuner, assessor = pair
    parameters = tuner.generate_multiple_parameters([0])
    stop(assessor, "late", FLAT, 0)
    end_trial(tuner, assessor, "late", 0, success=False)
    tuner.receive_trial_result(0, parameters[0], 0.95)
    assert tpe_losses(tuner) == [pytest.approx(-FLAT[-1]["default"])]


def test_nni_parameter_id_mix_up_is_corrected_with_the_ids_trials_report(pair, tmp_path):
    # NNI 3.0 hands parameters to concurrently started trials in request order, and may end trial
    # "slow" (which ran parameter 1) as parameter 0, the one "fast" (still running) received.
    tuner, assessor = pair
    parameters = tuner.generate_multiple_parameters([0, 1])
    stop(assessor, "slow", FLAT, 1)
    end_trial(tuner, assessor, "slow", 0, success=False)
    assert list(tuner.inner._running_params) == [0]  # parameter 0 is still running
    fed = list(read_jsonl(tmp_path / JOURNAL_DIR / TUNER_FEEDBACK_FILE))
    assert [(x["parameter_id"], x["parameters"]) for x in fed] == [(1, parameters[1])]
    tuner.receive_trial_result(0, parameters[0], 0.9)  # "fast" finishes: no KeyError, both recorded
    assert sorted(tpe_losses(tuner)) == [pytest.approx(-0.9), pytest.approx(-FLAT[-1]["default"])]


def test_a_stopped_trial_that_never_said_its_parameters_is_not_fed_to_the_wrong_ones(pair, caplog):
    # A plain trial (bare numbers, or dicts without the Reporter's parameter id) ended by NNI under
    # parameter 1, which another trial really ran: its 0.1 would teach TPE the wrong parameters.
    tuner, assessor = pair
    parameters = tuner.generate_multiple_parameters([0, 1])
    stop(assessor, "plain", FLAT, None)
    with caplog.at_level(logging.INFO, logger="bttackler_nni"):
        end_trial(tuner, assessor, "plain", 1, success=False)
    assert tpe_losses(tuner) == [] and "its result is not fed to TPE" in caplog.text
    tuner.receive_trial_result(1, parameters[1], 0.9)  # the trial that did run parameter 1
    assert tpe_losses(tuner) == [pytest.approx(-0.9)]


def test_tpe_without_an_optimize_mode_minimizes_and_so_does_the_worst_result(tmp_path, monkeypatch):
    # TPE minimizes unless its classArgs say otherwise: a NaN result must become the largest so far,
    # not the smallest, which would be TPE's best
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    tuner = BTTacklerTuner("TPE")
    tuner.update_search_space(SPACE)
    parameters = tuner.generate_multiple_parameters([0, 1, 2])
    for parameter_id, value in enumerate([0.2, 5.0, math.nan]):
        tuner.receive_trial_result(parameter_id, parameters[parameter_id], value)
    assert tpe_losses(tuner) == [0.2, 5.0, 5.0]


def test_non_finite_metric_is_replaced_by_the_worst_result(pair):
    tuner, assessor = pair
    parameters = tuner.generate_multiple_parameters([0, 1, 2])
    tuner.receive_trial_result(0, parameters[0], {"default": 0.7})
    tuner.receive_trial_result(1, parameters[1], 0.2)
    stop(assessor, "nan", [{"default": math.nan, "train_loss": math.nan}], 2)
    end_trial(tuner, assessor, "nan", 2, success=False)
    assert tpe_losses(tuner)[-1] == pytest.approx(-0.2)


def test_minimising_tuner_gets_the_largest_result_as_worst(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    tuner = BTTacklerTuner("TPE", {"optimize_mode": "minimize"})
    tuner.update_search_space(SPACE)
    parameters = tuner.generate_multiple_parameters([0, 1, 2])
    tuner.receive_trial_result(0, parameters[0], 0.3)
    tuner.receive_trial_result(1, parameters[1], math.inf)
    assert tpe_losses(tuner) == [0.3, 0.3]


def test_resume_replays_fed_results_into_a_fresh_tuner(pair):
    tuner, assessor = pair
    tuner.generate_multiple_parameters([0])
    stop(assessor, "A", FLAT, 0)
    end_trial(tuner, assessor, "A", 0, success=False)
    resumed = BTTacklerTuner("TPE", {"optimize_mode": "maximize"})
    resumed.load_checkpoint()  # NNI's order on resume: checkpoint first, search space later
    resumed.update_search_space(SPACE)
    assert tpe_losses(resumed) == tpe_losses(tuner)


@pytest.mark.parametrize("name", ["GP", "gp", "Gp"])
def test_gp_in_any_case_is_the_package_s_working_gp_not_nni_s(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    assert type(BTTacklerTuner(name).inner).__module__ == "bttackler_nni.tuners.gp"


def test_other_tuners_are_wrapped_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    tuner = BTTacklerTuner("Random")
    tuner.update_search_space(SPACE)
    assert len(tuner.generate_multiple_parameters([0, 1, 2])) == 3


@pytest.mark.parametrize(
    "tuner, tuner_args, message",
    [
        ("NoSuchTuner", None, "classArgs.tuner = 'NoSuchTuner'"),
        ("", None, "must be an NNI tuner name"),
        ("TPE", [1], "tuner_args = [1]: must be a mapping"),
    ],
)
def test_bad_class_args_name_the_key(tuner, tuner_args, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        BTTacklerTuner(tuner, tuner_args)
