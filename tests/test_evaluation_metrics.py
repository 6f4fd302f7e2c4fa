"""Top10HR and TSBA on hand-computed runs, their tie and NaN rules, argument checks and properties."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bttackler_nni.evaluation import metrics, top10_hit_ratio, tsba
from bttackler_nni.evaluation.reports import compare, write_comparison
from bttackler_nni.experiments.store import Experiment, Trial

NAN, INF = math.nan, math.inf

# (end_time, value); read as accuracies (max) or as losses (min).
ENHANCED = [(10.0, 0.80), (20.0, 0.95), (30.0, 0.70), (40.0, 0.92)]
BASELINE = [(5.0, 0.90), (15.0, 0.60), (25.0, 0.93), (35.0, 0.85)]


def test_docstring_examples_run():
    failed, attempted = doctest.testmod(metrics)
    assert attempted > 0 and failed == 0


# Top10HR ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, k, expected",
    [
        ("maximize", 1, 1.0),  # 0.95 E
        ("maximize", 3, 2 / 3),  # 0.95 E, 0.93 B, 0.92 E
        ("maximize", 4, 0.5),  # ... 0.90 B
        ("minimize", 1, 0.0),  # 0.60 B
        ("minimize", 3, 2 / 3),  # 0.60 B, 0.70 E, 0.80 E
        ("minimize", 5, 0.4),  # ... 0.85 B, 0.90 B
    ],
)
def test_hit_ratio_hand_computed(mode, k, expected):
    assert top10_hit_ratio(ENHANCED, BASELINE, direction=mode, k=k) == pytest.approx(expected)


def test_hit_ratio_defaults_to_the_top_ten_by_maximum():
    enhanced = [(float(t), 0.5 + t / 100) for t in range(1, 11)]  # 0.51 .. 0.60
    baseline = [(float(t), 0.555) for t in range(1, 11)]
    # Top ten: 0.60 .. 0.56 (five enhanced), then five baseline trials at 0.555.
    assert top10_hit_ratio(enhanced, baseline) == 0.5


def test_hit_ratio_uses_every_trial_when_fewer_than_k():
    assert top10_hit_ratio([(1.0, 0.9)], [(2.0, 0.1), (3.0, 0.2)]) == pytest.approx(1 / 3)
    assert top10_hit_ratio(ENHANCED, BASELINE, k=100) == 0.5


def test_hit_ratio_is_zero_when_enhanced_has_no_trial():
    assert top10_hit_ratio([], BASELINE) == 0.0


@pytest.mark.parametrize("mode", ["maximize", "minimize"])
def test_hit_ratio_breaks_value_ties_by_earlier_end_time(mode):
    assert top10_hit_ratio([(10.0, 0.9)], [(20.0, 0.9)], direction=mode, k=1) == 1.0
    assert top10_hit_ratio([(20.0, 0.9)], [(10.0, 0.9)], direction=mode, k=1) == 0.0
    # The tie sits at the cut: 0.95 B is in either way, the earlier of the two 0.9 trials joins it.
    assert top10_hit_ratio([(30.0, 0.9)], [(40.0, 0.9), (50.0, 0.95)], k=2) == 0.5
    assert top10_hit_ratio([(30.0, 0.9)], [(20.0, 0.9), (50.0, 0.95)], k=2) == 0.0


def test_hit_ratio_gives_a_full_tie_to_the_baseline():
    assert top10_hit_ratio([(10.0, 0.9)], [(10.0, 0.9)], k=1) == 0.0
    assert top10_hit_ratio([(10.0, 0.9)], [(10.0, 0.9)], k=2) == 0.5
    assert top10_hit_ratio([(10.0, 0.9), (10.0, 0.9)], [(10.0, 0.9)], k=2) == 0.5


def test_hit_ratio_drops_non_finite_values():
    # NaN is never the best, whatever the mode, and is not counted in the pool.
    assert top10_hit_ratio([(1.0, NAN), (2.0, 0.5)], [(3.0, 0.4)], k=1) == 1.0
    assert top10_hit_ratio([(1.0, NAN)], [(2.0, 0.4)], direction="minimize", k=1) == 0.0
    assert top10_hit_ratio([(1.0, NAN), (2.0, NAN)], [(3.0, 0.5)]) == 0.0
    assert top10_hit_ratio([(1.0, NAN)], [(2.0, 0.5), (3.0, NAN)]) == 0.0
    # An infinite accuracy or loss is a broken report, not a best trial.
    assert top10_hit_ratio([(1.0, INF)], [(2.0, 0.5)], k=1) == 0.0
    assert top10_hit_ratio([(1.0, -INF)], [(2.0, 0.5)], direction="minimize", k=1) == 0.0
    assert top10_hit_ratio([(1.0, 0.5)], [(2.0, -INF), (3.0, INF)]) == 1.0


@pytest.mark.parametrize("enhanced, baseline", [([], []), ([(1.0, NAN)], [(2.0, INF)]), ([(1.0, -INF)], [])])
def test_hit_ratio_of_an_empty_pool_raises(enhanced, baseline):
    with pytest.raises(ValueError, match="empty pool"):
        top10_hit_ratio(enhanced, baseline)


def test_hit_ratio_accepts_numpy_rows_and_iterators():
    assert top10_hit_ratio(np.array(ENHANCED), iter(BASELINE), k=3) == pytest.approx(2 / 3)


# TSBA ------------------------------------------------------------------------------------------


def test_tsba_maximise_uses_the_earliest_of_tied_baseline_bests():
    baseline = [(100.0, 0.90), (500.0, 0.93), (300.0, 0.93)]
    # T_j = 300 (not 500), T_i = 180: the first enhanced trial at least as good as 0.93.
    assert tsba([(100.0, 0.91), (180.0, 0.94)], baseline) == pytest.approx(0.4)


def test_tsba_minimise():
    baseline = [(100.0, 0.5), (200.0, 0.3), (250.0, 0.3)]
    assert tsba([(50.0, 0.4), (120.0, 0.3)], baseline, direction="minimize") == pytest.approx(0.4)


def test_tsba_counts_an_equal_value_as_reaching():
    assert tsba([(150.0, 0.93)], [(300.0, 0.93)]) == pytest.approx(0.5)


def test_tsba_takes_the_earliest_enhanced_trial_that_reaches_not_the_best():
    assert tsba([(50.0, 0.93), (20.0, 0.99), (10.0, 0.5)], [(100.0, 0.93)]) == pytest.approx(0.8)


def test_tsba_is_negative_when_enhanced_is_slower():
    assert tsba([(360.0, 0.95)], [(300.0, 0.93)]) == pytest.approx(-0.2)


def test_tsba_is_one_when_enhanced_reaches_at_time_zero():
    assert tsba([(0.0, 0.95)], [(300.0, 0.93)]) == 1.0


@pytest.mark.parametrize(
    "enhanced",
    [[(100.0, 0.92)], [], [(10.0, NAN), (20.0, INF)]],
    ids=["worse", "no trials", "non-finite only"],
)
def test_tsba_is_none_when_never_reached(enhanced):
    assert tsba(enhanced, [(300.0, 0.93)]) is None


def test_tsba_ignores_non_finite_values():
    baseline = [(50.0, NAN), (60.0, INF), (100.0, 0.8)]
    assert tsba([(40.0, NAN), (60.0, 0.8)], baseline) == pytest.approx(0.4)
    assert tsba([(60.0, -INF)], [(100.0, 0.3), (10.0, -INF)], direction="minimize") is None


@pytest.mark.parametrize("baseline", [[], [(10.0, NAN), (20.0, -INF)]], ids=["empty", "non-finite only"])
def test_tsba_raises_when_baseline_has_nothing_to_reach(baseline):
    with pytest.raises(ValueError, match="baseline has no trial with a finite value"):
        tsba([(10.0, 0.9)], baseline)


def test_tsba_raises_when_the_baseline_best_ends_at_time_zero():
    with pytest.raises(ValueError, match="time 0"):
        tsba([(0.0, 0.95)], [(0.0, 0.93), (10.0, 0.5)])


# Invalid arguments -----------------------------------------------------------------------------

BOTH = [top10_hit_ratio, tsba]


@pytest.mark.parametrize("metric", BOTH)
@pytest.mark.parametrize("direction", ["max", "up", "", None])
def test_bad_direction_raises(metric, direction):
    with pytest.raises(ValueError, match=r"direction must be maximize or minimize"):
        metric(ENHANCED, BASELINE, direction=direction)


def test_direction_is_read_in_any_case():
    assert top10_hit_ratio(ENHANCED, BASELINE, direction="MAXIMIZE") == top10_hit_ratio(ENHANCED, BASELINE)


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "10"])
def test_bad_k_raises(k):
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        top10_hit_ratio(ENHANCED, BASELINE, k=k)


@pytest.mark.parametrize("metric", BOTH)
@pytest.mark.parametrize(
    "run, where",
    [
        ([(1.0, 0.5), (1.0, 2.0, 3.0)], r"enhanced\[1\] must be an \(end_time, value\) pair"),
        ([0.5], r"enhanced\[0\] must be an \(end_time, value\) pair"),
        ([("1", 0.5)], r"enhanced\[0\] must be a pair of real numbers"),
        ([(1.0, None)], r"enhanced\[0\] must be a pair of real numbers"),
        ([(1.0, True)], r"enhanced\[0\] must be a pair of real numbers"),
        ([(1.0, 0.5), (2.0, 0.6), "ab"], r"enhanced\[2\] must be a pair of real numbers"),
        (None, "enhanced must be an iterable"),
    ],
)
def test_malformed_results_raise_type_error_naming_the_index(metric, run, where):
    with pytest.raises(TypeError, match=where):
        metric(run, BASELINE)


@pytest.mark.parametrize("metric", BOTH)
@pytest.mark.parametrize("end_time", [-1.0, NAN, INF])
def test_bad_end_time_raises_naming_the_index(metric, end_time):
    with pytest.raises(ValueError, match=r"baseline\[1\] has end time"):
        metric(ENHANCED, [(1.0, 0.5), (end_time, 0.5)])


# Properties ------------------------------------------------------------------------------------

# Small integers make ties in value and in time common; the floats cover the rest.
end_times = st.integers(1, 20).map(float) | st.floats(1e-3, 1e6)
values = st.integers(-3, 3).map(float) | st.floats(allow_nan=True, allow_infinity=True)
runs = st.lists(st.tuples(end_times, values), max_size=15)
modes = st.sampled_from(["maximize", "minimize"])
ks = st.integers(1, 12)


def has_finite_value(*run_lists: list[tuple[float, float]]) -> bool:
    return any(math.isfinite(value) for run in run_lists for _, value in run)


def negated(run: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(end_time, -value) for end_time, value in run]


def outcome(metric, *args, **kwargs):
    """The metric's result, or the type of the error it raised."""
    try:
        return metric(*args, **kwargs)
    except ValueError:
        return ValueError


@given(runs, runs, modes, ks)
def test_hit_ratio_is_in_unit_interval_or_raises_on_an_empty_pool(a, b, mode, k):
    if has_finite_value(a, b):
        assert 0.0 <= top10_hit_ratio(a, b, direction=mode, k=k) <= 1.0
    else:
        with pytest.raises(ValueError):
            top10_hit_ratio(a, b, direction=mode, k=k)


@given(runs, runs, modes, ks)
def test_hit_ratios_of_swapped_sides_sum_to_one_without_cross_side_full_ties(a, b, mode, k):
    b = [pair for pair in b if pair not in set(a)]
    if has_finite_value(a, b):
        total = top10_hit_ratio(a, b, direction=mode, k=k) + top10_hit_ratio(b, a, direction=mode, k=k)
        assert total == pytest.approx(1.0)


@given(runs, ks)
def test_a_run_against_itself_never_wins(a, k):
    if has_finite_value(a):
        assert top10_hit_ratio(a, a, k=k) <= 0.5


@given(runs, runs, ks)
def test_minimising_is_maximising_the_negated_values(a, b, k):
    assert outcome(top10_hit_ratio, a, b, direction="maximize", k=k) == outcome(
        top10_hit_ratio, negated(a), negated(b), direction="minimize", k=k
    )
    assert outcome(tsba, a, b, direction="maximize") == outcome(
        tsba, negated(a), negated(b), direction="minimize"
    )


@given(runs, modes)
def test_tsba_of_a_run_against_itself_is_zero(a, mode):
    if has_finite_value(a):
        assert tsba(a, a, direction=mode) == 0.0


def run(
    name: str, results: list[tuple[float, float]], config: dict | None = None, ranked: str | None = None
) -> Experiment:
    """An experiment of finished trials with these (end time, value) results, its ``config``, and
    the direction its BTTackler assessor ``ranked`` with."""
    trials = [
        Trial(f"{name}-{i}", i, i, {}, "SUCCEEDED", start=0.0, end=end, final=value)
        for i, (end, value) in enumerate(results)
    ]
    settings = {"direction": ranked} if ranked else None
    return Experiment(name, Path(name), 0.0, config or {}, trials, [], assessor_settings=settings)


def test_compare_ranks_in_the_direction_any_run_states_and_refuses_runs_that_disagree():
    # A loss task: the baseline's Random tuner has no optimize_mode; the assessor ranked minimizing.
    baseline = run("b", [(50.0, 0.5), (100.0, 0.3)], {"tuner": {"name": "Random"}})
    enhanced = run("e", [(40.0, 0.2)], {"tuner": {"name": "Random"}}, ranked="minimize")
    stated = compare([baseline], [enhanced])
    assert stated.direction.value == "minimize" and stated.tsbas == [pytest.approx(1 - 40 / 100)]
    assert compare([baseline], [run("e", [(40.0, 0.2)])]).direction.value == "maximize"  # none states one
    maximizing = run(
        "m", [(40.0, 0.2)], {"tuner": {"name": "TPE", "classArgs": {"optimize_mode": "maximize"}}}
    )
    with pytest.raises(
        ValueError, match=r"different directions \(e minimize, m maximize\); give --direction"
    ):
        compare([baseline], [enhanced, maximizing])
    assert compare([baseline], [enhanced, maximizing], direction="minimize").direction.value == "minimize"


def test_the_comparisons_stopped_count_keeps_to_the_budget(tmp_path):
    stopped = [
        Trial(f"s{i}", i, i, {}, "EARLY_STOPPED", start=0.0, end=end, intermediate=[0.2])
        for i, end in enumerate((80.0, 150.0, 300.0))
    ]
    enhanced = Experiment("e", Path("e"), 0.0, {}, stopped, [])
    write_comparison([run("b", [(50.0, 0.5)])], [enhanced], tmp_path, direction="maximize", until=100)
    assert "| enhanced | e | 1 | 1 | 0.2 |" in (tmp_path / "compare.md").read_text()


def test_compare_pairs_every_run_with_every_run_or_the_ith_with_the_ith():
    baselines = [run("b0", BASELINE), run("b1", [(2.0, 0.99)])]
    enhanced = [run("e0", ENHANCED), run("e1", [(1.0, 0.99)])]
    every = compare(baselines, enhanced, direction="maximize")
    assert every.pairs == [("e0", "b0"), ("e0", "b1"), ("e1", "b0"), ("e1", "b1")]
    assert every.tsbas == [pytest.approx(1 - 20 / 25), None, pytest.approx(1 - 1 / 25), 0.5]
    paired = compare(baselines, enhanced, direction="maximize", paired=True)
    assert paired.pairs == [("e0", "b0"), ("e1", "b1")]
    assert paired.tsbas == [pytest.approx(0.2), 0.5]
    assert paired.mean_tsba == pytest.approx(0.35) and paired.median_tsba == pytest.approx(0.35)
    assert every.median_tsba == pytest.approx(0.5) and every.mean_tsba == pytest.approx(
        (0.2 + 0.96 + 0.5) / 3
    )
    with pytest.raises(ValueError, match="as many enhanced runs as baseline runs"):
        compare(baselines, enhanced[:1], direction="maximize", paired=True)
