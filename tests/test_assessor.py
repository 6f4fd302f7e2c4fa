"""The NNI adapter: verdicts to AssessResult, one log line per stop, the journal, resume, never raising."""

from __future__ import annotations

import base64
import json
import logging
import sys

import pytest
from nni.assessor import AssessResult
from synthetic import healthy_history, with_losses

from bttackler_nni import BTTacklerAssessor, ConfigError
from bttackler_nni.dispatcher.handoff import ENDED_TRIALS, EndedTrial
from bttackler_nni.dispatcher.journal import JOURNAL_DIR, VERDICTS_FILE, read_jsonl

FLAT = with_losses([2.3, 2.299, 2.298, 2.297])


@pytest.fixture
def checkpoint_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    return tmp_path


def run(assessor: BTTacklerAssessor, trial: str, history: list) -> list[AssessResult]:
    return [assessor.assess_trial(trial, history[:n]) for n in range(1, len(history) + 1)]


def test_bad_trial_gets_bad_and_healthy_trial_good(checkpoint_dir):
    assessor = BTTacklerAssessor()
    assert run(assessor, "flat", FLAT[:3]) == [AssessResult.Good, AssessResult.Good, AssessResult.Bad]
    assert set(run(assessor, "good", healthy_history(20))) == {AssessResult.Good}


def test_every_verdict_is_journaled_and_each_stop_logged_once(checkpoint_dir, caplog):
    assessor = BTTacklerAssessor()
    with caplog.at_level(logging.INFO, logger="bttackler_nni"):
        run(assessor, "flat", FLAT)  # the 4th report arrives after the stop, as NNI may send it
        run(assessor, "good", healthy_history(3))
    lines = list(read_jsonl(checkpoint_dir / JOURNAL_DIR / VERDICTS_FILE))
    assert lines[0]["event"] == "start" and lines[0]["config"]["patience"] == 1
    verdicts = lines[1:]
    assert [(v["trial"], v["report"], v["stop"]) for v in verdicts] == [
        ("flat", 1, False),
        ("flat", 2, False),
        ("flat", 3, True),
        ("good", 1, False),
        ("good", 2, False),
        ("good", 3, False),
    ]
    stop = verdicts[2]
    assert (
        stop["indicator"] == "PLC" and stop["kind"] == "problem" and stop["epoch"] == 2 and stop["time"] > 0
    )
    stop_logs = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert stop_logs == [
        "BTTackler trial flat stopped at epoch 2 (report 3) by PLC (Passive Loss Changes) "
        "[problem]: mean |L[t]-L[t-1]| < rel_change_min * |L[0]|, observed 0.001, threshold 0.023"
        "; protected: no"
    ]


def test_journal_lines_are_strict_json(checkpoint_dir):
    assessor = BTTacklerAssessor()
    run(assessor, "nan", [{"default": float("nan"), "train_loss": float("inf")}])
    text = (checkpoint_dir / JOURNAL_DIR / VERDICTS_FILE).read_text()
    for line in text.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_load_checkpoint_restores_state_written_by_a_previous_dispatcher(checkpoint_dir, caplog):
    first = BTTacklerAssessor()
    for i in range(10):
        run(first, f"peer{i}", with_losses([2.0 + 0.1 * i, 1.9 + 0.1 * i, 1.7 + 0.1 * i]))
    run(first, "flat", FLAT[:3])
    first._on_exit()

    resumed = BTTacklerAssessor()
    with caplog.at_level(logging.INFO, logger="bttackler_nni"):
        resumed.load_checkpoint()
    assert "restored 33 verdicts" in caplog.text and "1 stopped trials" in caplog.text
    # The restored peers protect a new flat trial with the best loss; without them it would be stopped.
    assert set(run(resumed, "best", with_losses([0.5, 0.499, 0.498]))) == {AssessResult.Good}
    assert run(BTTacklerAssessor(), "best", with_losses([0.5, 0.499, 0.498]))[-1] is AssessResult.Bad
    # The journal was appended to, not replaced.
    starts = [line for line in read_jsonl(checkpoint_dir / JOURNAL_DIR / VERDICTS_FILE) if "event" in line]
    assert len(starts) == 3


def test_torn_last_line_after_a_crash_is_skipped(checkpoint_dir):
    first = BTTacklerAssessor()
    run(first, "flat", FLAT[:3])
    with open(checkpoint_dir / JOURNAL_DIR / VERDICTS_FILE, "a") as journal:
        journal.write('{"trial": "half", "rep')
    resumed = BTTacklerAssessor()
    resumed.load_checkpoint()
    assert resumed.assess_trial("flat", FLAT) is AssessResult.Bad  # still known as stopped


def test_an_internal_error_never_escapes(checkpoint_dir, caplog, monkeypatch):
    assessor = BTTacklerAssessor()

    def broken(*_args):
        raise RuntimeError("bug")

    monkeypatch.setattr(assessor._diagnoser, "assess", broken)
    with caplog.at_level(logging.ERROR, logger="bttackler_nni"):
        assert assessor.assess_trial("t", [0.5]) is AssessResult.Good
    assert "BTTacklerAssessor.assess_trial(trial t) failed; the trial continues" in caplog.text


def test_works_without_nni_directories(monkeypatch):
    monkeypatch.delenv("NNI_CHECKPOINT_DIRECTORY", raising=False)
    assessor = BTTacklerAssessor()
    assert run(assessor, "flat", FLAT[:3])[-1] is AssessResult.Bad
    assessor.load_checkpoint()


def test_bad_class_args_fail_at_construction():
    with pytest.raises(ConfigError, match="patience"):
        BTTacklerAssessor(patience=0)


def test_trial_end_hands_each_ended_trial_to_the_tuner_with_its_own_parameter_id(checkpoint_dir):
    assessor = BTTacklerAssessor()
    run(assessor, "flat", [{**r, "trial": {"parameter_id": 7}} for r in FLAT[:3]])
    run(assessor, "good", healthy_history(3))
    assessor.trial_end("good", True)
    assert ENDED_TRIALS.take() == EndedTrial("good", None)
    assessor.trial_end("flat", False)
    ended = ENDED_TRIALS.take()
    assert (ended.trial, ended.parameter_id) == ("flat", 7)
    assert ended.stop is not None and ended.stop.reason is not None and ended.stop.reason.indicator == "PLC"
    assert ended.stop.default == pytest.approx(0.18)
    assert ENDED_TRIALS.take() is None


def test_a_stopped_trial_that_succeeded_anyway_is_not_handed_over_as_stopped(checkpoint_dir):
    assessor = BTTacklerAssessor()
    run(assessor, "flat", FLAT[:3])
    assessor.trial_end("flat", True)  # it finished before NNI's kill arrived
    assert ENDED_TRIALS.take() == EndedTrial("flat", None)


def _dispatcher_argv(tuner: dict) -> list[str]:
    """The command line NNI 3.0 starts its dispatcher with: the experiment config as base64 JSON."""
    config = {"tuner": tuner, "assessor": {"className": "bttackler_nni.BTTacklerAssessor"}}
    return ["nni/__main__.py", "--exp_params", base64.b64encode(json.dumps(config).encode()).decode()]


MINIMIZING_TUNER = {
    "className": "bttackler_nni.BTTacklerTuner",
    "classArgs": {"tuner": "Random", "tuner_args": {"optimize_mode": "minimize"}},
}


def test_in_the_dispatcher_an_assessor_without_a_direction_ranks_as_the_tuner_optimizes(
    checkpoint_dir, monkeypatch
):
    monkeypatch.setattr(sys, "argv", _dispatcher_argv(MINIMIZING_TUNER))
    assert BTTacklerAssessor().config.direction.value == "minimize"
    start = next(read_jsonl(checkpoint_dir / JOURNAL_DIR / VERDICTS_FILE))  # what `why` reads back
    assert start["config"]["direction"] == "minimize"
    assert BTTacklerAssessor(direction="minimize", patience=2).config.patience == 2
    monkeypatch.setattr(sys, "argv", _dispatcher_argv({"name": "Random"}))  # a tuner with no direction
    assert BTTacklerAssessor().config.direction.value == "maximize"


@pytest.mark.parametrize(
    ("tuner", "class_args", "message"),
    [
        (
            MINIMIZING_TUNER,
            {"direction": "maximize"},
            "assessor.classArgs.direction = maximize, but the tuner's optimize_mode is minimize: BTTackler "
            "would rank trials backwards. Fix: set assessor.classArgs.direction: minimize",
        ),
        (
            {"name": "TPE"},  # TPE minimizes unless told: an accuracy search forgot optimize_mode
            {},
            "assessor.classArgs.direction = maximize (the default), but the tuner's optimize_mode is "
            "minimize (its default: its classArgs give none): BTTackler would rank trials backwards. Fix: "
            "set assessor.classArgs.direction: minimize, or give the tuner optimize_mode: maximize",
        ),
    ],
)
def test_in_the_dispatcher_an_assessor_ranking_against_the_tuner_fails_at_construction(
    checkpoint_dir, monkeypatch, tuner, class_args, message
):
    monkeypatch.setattr(sys, "argv", _dispatcher_argv(tuner))
    with pytest.raises(ConfigError) as raised:
        BTTacklerAssessor(**class_args)
    assert str(raised.value) == message


def test_outside_the_dispatcher_the_classargs_alone_decide(checkpoint_dir, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--exp_params", "not base64 json"])
    assert BTTacklerAssessor().config.direction.value == "maximize"


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            0.42,  # nni.report_intermediate_result(acc), no Reporter
            "trial T reports no gradient statistics and no train_loss: EAG, ERG, LAR, PLC, ULC, NMG "
            "cannot judge such reports; only AGV, RNK can. Fix: report through bttackler_nni.Reporter",
        ),
        (
            {"default": 0.42, "train_loss": 1.2},  # a dict of its own
            "trial T reports no gradient statistics: EAG, ERG, LAR cannot judge such reports; only AGV, "
            "PLC, ULC, NMG, RNK can",
        ),
        (
            {"default": 0.42, "val_loss": 1.3, "grad_median": 0.01, "zero_grad_share": 0.0},
            "trial T reports no train_loss: PLC cannot judge such reports; only AGV, EAG, ERG, LAR, ULC, "
            "NMG, RNK can",
        ),
    ],
)
def test_reports_that_leave_indicators_blind_are_named_once_per_experiment(
    checkpoint_dir, caplog, report, expected
):
    assessor = BTTacklerAssessor()
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        run(assessor, "T", [report] * 3)
        run(assessor, "U", [report] * 2)
    warnings = [r.getMessage() for r in caplog.records if "cannot judge" in r.getMessage()]
    assert len(warnings) == 1 and expected in warnings[0]


def test_a_reporters_records_leave_no_indicator_blind(checkpoint_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        run(BTTacklerAssessor(), "T", healthy_history(4))
    assert "cannot judge" not in caplog.text
