"""Whatever a trial reports, the engine and the assessor never raise and other trials are unaffected."""

from __future__ import annotations

import logging
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import healthy_history, record, with_losses

from bttackler_nni import BTTacklerAssessor
from bttackler_nni.diagnosis.engine import Diagnoser
from bttackler_nni.record import MAX_LAYERS, parse_record

weird_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=4),
)
weird_values = st.recursive(
    weird_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)
record_keys = st.sampled_from(
    [
        "default",
        "epoch",
        "max_epochs",
        "train_loss",
        "val_loss",
        "train_acc",
        "val_acc",
        "grad_median",
        "grad_ratio_median",
        "zero_grad_share",
        "dead_activation_share",
        "nonfinite",
        "sample_every",
        "overhead_share",
        "epoch_seconds",
        "startup_seconds",
        "layers",
        "activations",
    ]
)
layer_sections = st.fixed_dictionaries(
    {},
    optional={
        "names": weird_values,
        "grad": st.one_of(weird_values, st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6)),
        "zero_share": st.one_of(weird_values, st.lists(st.floats(), max_size=6)),
        "dead_share": weird_values,
    },
)
malformed_records = st.one_of(
    weird_values,
    st.dictionaries(record_keys, st.one_of(weird_values, layer_sections), max_size=10),
    st.builds(
        lambda base, patch: {**base, **patch},
        st.builds(record, st.integers(0, 30)),
        st.dictionaries(record_keys, st.one_of(weird_values, layer_sections), max_size=4),
    ),
)
malformed_histories = st.lists(malformed_records, max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=malformed_histories)
def test_parse_and_assess_never_raise(history):
    for raw in history:
        parsed, problems = parse_record(raw)
        assert isinstance(problems, list)
    diagnoser = Diagnoser()
    for n in range(len(history) + 1):
        diagnoser.assess("weird", history[:n])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=malformed_histories)
def test_malformed_trial_never_changes_another_trials_verdicts(history):
    def verdicts_of_peers(diagnoser: Diagnoser) -> list:
        out = []
        for i in range(12):
            losses = [2.0 + 0.05 * i - 0.01 * e for e in range(8)]
            peer = with_losses(losses)
            out.extend(
                (v.stop, v.fired, v.protected)
                for v in (diagnoser.assess(f"p{i}", peer[:n]) for n in range(1, 9))
            )
        return out

    clean = Diagnoser()
    expected = verdicts_of_peers(clean)
    polluted = Diagnoser()
    for n in range(1, len(history) + 1):
        polluted.assess("weird", history[:n])
    assert verdicts_of_peers(polluted) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=malformed_histories)
def test_assessor_never_raises_and_returns_an_nni_result(history, tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    assessor = BTTacklerAssessor()
    for n in range(1, len(history) + 1):
        assert assessor.assess_trial("weird", history[:n]) is not None
    assessor.trial_end("weird", False)
    assessor._on_exit()


def test_strings_and_bare_numbers_give_one_warning_per_trial(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    assessor = BTTacklerAssessor()
    history = ["oops", {"default": "0.5", "train_loss": "x"}, 0.3, {"default": 0.2, "epoch": -1}]
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        for n in range(1, len(history) + 1):
            assessor.assess_trial("strings", history[:n])
        for n in range(1, 4):
            assessor.assess_trial("other", ["bad"] * n)
    warnings = [r for r in caplog.records if "ignored malformed values" in r.getMessage()]
    assert [("strings" in r.getMessage(), "other" in r.getMessage()) for r in warnings] == [
        (True, False),
        (False, True),
    ]


def test_nan_metric_from_plain_trial_is_a_verdict_not_a_crash():
    verdict = Diagnoser().assess("plain", [0.3, float("nan")])
    assert verdict.stop and verdict.reason.indicator == "AGV"


def test_oversized_lists_are_ignored_with_a_problem():
    huge = record(0, grad=[1e-3] * (MAX_LAYERS + 1), zero_share=[0.1] * (MAX_LAYERS + 1))
    verdict = Diagnoser().assess("huge", [huge])
    assert not verdict.stop and any("more than" in p for p in verdict.problems)


def test_very_long_history_is_bounded():
    history = [record(e % 20, train_loss=2.3 * 0.8 ** (e % 20)) for e in range(20_000)]
    verdict = Diagnoser().assess("long", history)
    assert verdict.report == 20_000 and isinstance(verdict.stop, bool)


def test_numpy_values_are_accepted():
    raw = record(0)
    raw["train_loss"] = np.float32(1.5)
    raw["epoch"] = np.int64(0)
    raw["layers"]["grad"] = np.array([1e-3, 2e-3, 3e-3])
    parsed, problems = parse_record(raw)
    assert problems == [] and parsed.train_loss == 1.5 and parsed.grad_median == 2e-3


def test_healthy_history_has_no_problems():
    assert all(parse_record(r)[1] == [] for r in healthy_history(20))
    assert math.isfinite(parse_record(healthy_history(1)[0])[0].grad_median)


def test_integers_too_large_for_a_float_are_judged_not_raised():
    huge = 10**400
    verdict = Diagnoser().assess("huge", [record(0, train_loss=huge)])
    assert (
        verdict.stop
        and verdict.reason.indicator == "AGV"
        and verdict.reason.rule == "train_loss is not finite"
    )
    parsed, problems = parse_record({**record(0), "epoch": huge})
    assert parsed.epoch is None and problems == [f"epoch is int {str(huge)[:40]}..., not a whole number >= 0"]


def test_impossible_statistics_are_problems_not_findings():
    parsed, problems = parse_record(record(5, grad=[-1e-3, -2e-3, -4e-3], zero_share=[0.1, 2.0, 0.1]))
    assert parsed.grad is None and parsed.zero_share is None
    assert problems == [
        "layers.grad holds values outside [0, inf]",
        "layers.zero_share holds values outside [0, 1]",
    ]
    parsed, problems = parse_record({"default": 0.5, "grad_median": -3.0, "zero_grad_share": 2.0})
    assert parsed.grad_median is None and parsed.zero_grad_share is None and len(problems) == 2
    verdict = Diagnoser().assess("negative", [record(0, grad=[-1e-3, -2e-3, -4e-3])])
    assert not verdict.stop and verdict.problems  # no ERG on a gradient that cannot exist


def test_max_epochs_zero_is_a_problem_not_a_silent_switch():
    history = with_losses([2.3, 2.299, 2.298])
    for report in history:
        report["max_epochs"] = 0
    verdict = Diagnoser().assess("zero", history)
    assert any(p.startswith("max_epochs is int 0") for p in verdict.problems)
    assert verdict.max_epochs is None  # unknown, as if it had not been sent (first-half indicators wait)
