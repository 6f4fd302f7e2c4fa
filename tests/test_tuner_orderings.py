"""Chaos: the tuner wrapper under every order in which NNI 3.0 can deliver a trial's events.

For concurrent trials that may run each other's parameters (NNI's first-come hand-out), each with
an outcome (final result, stopped by BTTackler, crash, success without a final result, a stopped
trial whose final result still arrives), the events of each trial keep their own order (reports,
then the final result and the end in either order, as NNI's two dispatcher threads race), and the
trials interleave arbitrarily. Whatever the order, the wrapped tuner never raises (the guard never
has to catch anything) and learns every result exactly once.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import healthy_history, with_losses

import bttackler_nni.tuner as tuner_module
from bttackler_nni import BTTacklerAssessor, BTTacklerTuner

pytestmark = pytest.mark.chaos

SPACE = {
    "lr": {"_type": "loguniform", "_value": [1e-5, 1.0]},
    "width": {"_type": "choice", "_value": [16, 32, 64]},
}
FLAT = with_losses([2.3, 2.299, 2.298])  # PLC stops it at its third report

OUTCOMES = (
    "final",
    "final_without_reports",
    "no_final",
    "crash",
    "crash_after_reports",
    "stopped",
    "stopped_late_final",
)
GIVES_A_RESULT = {"final", "final_without_reports", "stopped", "stopped_late_final"}


def trial_events(index: int, outcome: str, ran: int, final_first: bool) -> list[tuple]:
    """The events of trial ``t<index>``, created with parameter ``index``, which ran parameter ``ran``."""
    trial = f"t{index}"
    reports: list[dict] = []
    if outcome in ("stopped", "stopped_late_final"):
        reports = FLAT
    elif outcome in ("final", "crash_after_reports", "no_final"):
        reports = healthy_history(2)
    reports = [{**r, "trial": {"parameter_id": ran}} for r in reports]
    events: list[tuple] = [("report", trial, reports[: n + 1]) for n in range(len(reports))]
    success = outcome in ("final", "final_without_reports", "no_final")
    end = ("end", trial, index, success, bool(reports))
    if outcome in ("final", "final_without_reports", "stopped_late_final"):
        final = ("final", trial, ran, 0.5 + 0.01 * index)
        events += [final, end] if final_first else [end, final]
    else:
        events.append(end)
    return events


@st.composite
def scenarios(draw):
    count = draw(st.integers(1, 4))
    ran = draw(st.permutations(range(count)))
    outcomes = draw(st.lists(st.sampled_from(OUTCOMES), min_size=count, max_size=count))
    queues = [trial_events(i, outcomes[i], ran[i], draw(st.booleans())) for i in range(count)]
    order = []
    while any(queues):
        i = draw(st.sampled_from([i for i, q in enumerate(queues) if q]))
        order.append(queues[i].pop(0))
    return count, outcomes, order


def drive(tuner: BTTacklerTuner, with_assessor: bool, count: int, order: list[tuple]) -> None:
    """Play the events as NNI's dispatcher does (assessor.trial_end only for trials with reports)."""
    assessor = BTTacklerAssessor() if with_assessor else None
    parameters = tuner.generate_multiple_parameters(list(range(count)), st_callback=lambda *_: None)
    for event in order:
        if event[0] == "report" and assessor is not None:
            assessor.assess_trial(event[1], event[2])
        elif event[0] == "final":
            _, trial, ran, value = event
            tuner.receive_trial_result(ran, parameters[ran], value, trial_job_id=trial)
        elif event[0] == "end":
            _, trial, created_with, success, reported = event
            if assessor is not None and reported:
                assessor.trial_end(trial, success)
            tuner.trial_end(created_with, success)


def settle(tuner: BTTacklerTuner, next_id: int, monkeypatch) -> None:
    """The next request for parameters, long after: ends that waited for a result are passed on."""
    monkeypatch.setattr(tuner_module, "END_WAIT_SECONDS", -1.0)
    tuner.generate_multiple_parameters([next_id], st_callback=lambda *_: None)


@pytest.fixture
def quiet_nni(caplog):
    caplog.set_level(logging.WARNING, logger="nni")
    caplog.set_level(logging.ERROR, logger="bttackler_nni")
    return caplog


def errors(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "bttackler_nni" and r.levelno >= logging.ERROR
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios(), with_assessor=st.booleans())
def test_tpe_learns_every_result_once_and_never_raises(
    scenario, with_assessor, tmp_path, monkeypatch, quiet_nni
):
    count, outcomes, order = scenario
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    quiet_nni.clear()
    tuner = BTTacklerTuner("TPE", {"optimize_mode": "maximize", "seed": 1})
    tuner.update_search_space(SPACE)
    drive(tuner, with_assessor, count, order)
    settle(tuner, count, monkeypatch)
    assert errors(quiet_nni) == []
    # A stopped trial gives a result through the assessor's hand-over; without an assessor nothing stops it.
    results = sum(o in GIVES_A_RESULT and (with_assessor or o != "stopped") for o in outcomes)
    assert len(tuner.inner._history[("lr",)]) == results


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios(), with_assessor=st.booleans())
def test_evolution_and_random_never_raise(scenario, with_assessor, tmp_path, monkeypatch, quiet_nni):
    count, _, order = scenario
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    for name, args in (("Evolution", {"optimize_mode": "maximize", "population_size": 8}), ("Random", {})):
        quiet_nni.clear()
        tuner = BTTacklerTuner(name, args)
        tuner.update_search_space(SPACE)
        drive(tuner, with_assessor, count, order)
        settle(tuner, count, monkeypatch)
        assert errors(quiet_nni) == [], name


def test_the_issue_repro_no_longer_raises(tmp_path, monkeypatch, quiet_nni):
    # Trial "b" (created with 1) ran parameter 0 and finished first; NNI ended it as parameter 1,
    # while trial "a" was still running parameter 1. TPE used to raise KeyError: 1.
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    tuner = BTTacklerTuner(tuner="TPE", tuner_args={"optimize_mode": "maximize", "seed": 3})
    tuner.update_search_space(SPACE)
    parameters = tuner.generate_multiple_parameters([0, 1])
    tuner.receive_trial_result(0, parameters[0], 0.958)
    tuner.trial_end(1, True)
    tuner.receive_trial_result(1, parameters[1], 0.105)
    assert errors(quiet_nni) == []
    assert sorted(r.loss for r in tuner.inner._history[("lr",)]) == [-0.958, -0.105]
