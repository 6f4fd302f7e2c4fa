"""What an experiment's summary says about trials whose reports leave BTTackler's indicators blind, and
about trials that failed after their final result."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import healthy_history

from bttackler_nni.diagnosis.config import AssessorConfig
from bttackler_nni.evaluation.summary import blind_trials_note, outcome, summarize
from bttackler_nni.experiments.store import Experiment, Trial


def experiment_of(reports: dict[str, list], assessor_settings: dict | None) -> Experiment:
    trials = [
        Trial(id=trial, sequence=n, parameter_id=n, parameters={}, status="SUCCEEDED", intermediate=history)
        for n, (trial, history) in enumerate(reports.items())
    ]
    return Experiment(
        id="exp1",
        directory=Path("/nonexistent"),
        start_time=0.0,
        config={},
        trials=trials,
        verdicts=[],
        assessor_settings=assessor_settings,
    )


DEFAULTS = AssessorConfig().to_dict()


def test_trials_that_report_plain_numbers_are_named_with_the_indicators_they_leave_blind_and_the_fix():
    reports = {
        "Plain": [0.4, 0.5],
        "Plain2": [0.3],
        "Rprtr": healthy_history(3),
        "Own": [{"default": 0.4, "train_loss": 1.0}],
    }
    note = blind_trials_note(experiment_of(reports, DEFAULTS))
    assert note == [
        "  2 of 4 trial(s) (Plain, Plain2) reported no gradient statistics and no train_loss: EAG, ERG, LAR, "
        "PLC, ULC, NMG cannot judge such reports; only AGV, RNK can",
        "  1 of 4 trial(s) (Own) reported no gradient statistics: EAG, ERG, LAR cannot judge such reports; "
        "only AGV, PLC, ULC, NMG, RNK can",
        "    Fix: report through bttackler_nni.Reporter in the trial script (README, Quickstart)",
    ]
    assert note[0] in summarize(experiment_of(reports, DEFAULTS))


def test_only_the_indicators_the_experiment_ran_are_named():
    settings = AssessorConfig.from_class_args({"indicators": {"EAG": False, "LAR": False}}).to_dict()
    (line, _fix) = blind_trials_note(experiment_of({"Plain": [0.4]}, settings))
    assert "reported no gradient statistics and no train_loss: ERG, PLC, ULC, NMG cannot judge" in line


@pytest.mark.parametrize(
    "reports, settings",
    [
        ({"Rprtr": healthy_history(3)}, DEFAULTS),  # the Reporter's records leave nothing blind
        ({"Plain": [0.4]}, None),  # BTTackler did not judge this experiment
        ({"Silent": []}, DEFAULTS),  # no report, nothing judged
    ],
)
def test_nothing_is_said_where_every_indicator_could_judge_or_none_ran(reports, settings):
    assert blind_trials_note(experiment_of(reports, settings)) == []


def test_more_than_three_blind_trials_are_counted_and_three_named():
    reports = {f"T{n}": [0.5] for n in range(5)}
    (line, _fix) = blind_trials_note(experiment_of(reports, DEFAULTS))
    assert line.startswith("  5 of 5 trial(s) (T0, T1, T2, ...) reported no gradient statistics")


def test_a_trial_that_failed_after_its_final_result_is_told_apart_from_one_that_never_sent_it():
    experiment = experiment_of({"Done": [0.4, 0.5], "Crash": [0.4]}, DEFAULTS)
    done, crash = experiment.trials
    done.status, done.final = "FAILED", 0.5  # e.g. torch aborted at exit, after training ended
    crash.status = "FAILED"
    assert outcome(done, experiment) == "failed after its final result"
    assert outcome(crash, experiment) == "failed"
    assert "failed 1, failed after its final result 1" in summarize(experiment)
