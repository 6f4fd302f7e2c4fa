"""The simulator on hand-made banks whose answers are worked out by hand in each test."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hand_banks import bank, trial

from bttackler_nni.cli import main
from bttackler_nni.diagnosis.config import Preset
from bttackler_nni.diagnosis.direction import Direction
from bttackler_nni.evaluation.arms import ArmError, CurveCache, _question_seed, config_for_bank, resolve_arm
from bttackler_nni.evaluation.banks import BankTrial, read_bank, write_bank
from bttackler_nni.evaluation.metrics import top10_hit_ratio, tsba
from bttackler_nni.evaluation.simulation import (
    Arm,
    Draws,
    NoStop,
    SimulationError,
    run,
    seed_draws,
    simulate,
)
from bttackler_nni.evaluation.simulation_report import bootstrap_interval, summarize_arms, write_simulation

REPO = Path(__file__).resolve().parents[1]


class Log:
    """A policy that stops what ``stop`` says and logs every call NNI would make."""

    def __init__(self, stop=lambda trial, history: False):
        self.stop = stop
        self.calls = []

    def assess(self, trial, history):
        self.calls.append(("assess", trial, len(history)))
        return self.stop(trial, history)

    def trial_end(self, trial, success):
        self.calls.append(("end", trial, success))

    def reason(self, trial):
        return "log"


def below(threshold):
    """Stops a trial at the first report whose value is below ``threshold``."""
    return lambda trial, history: history[-1]["default"] < threshold


def stopping_arm(threshold, name="stopper"):
    return Arm(name, f"stops below {threshold}", lambda seed: Log(below(threshold)))


GOOD = trial("good", [0.3, 0.6, 0.9])  # 1 s per epoch, final 0.9
BAD = trial("bad", [0.1, 0.1, 0.1])


# One run ------------------------------------------------------------------------------------------


def test_reports_reach_the_policy_in_global_time_order_across_workers():
    hand = bank(trial("A", [0.5] * 3, 3.0), trial("B", [0.5] * 3, 2.0), trial("C", [0.5] * 2, 1.0))
    policy = Log()
    result = run(hand, Draws([0, 1, 2]), policy, concurrency=2)
    # Worker 1: A reports at 3, 6, 9. Worker 2: B at 2, 4, 6 (ends at 6), then C at 7, 8.
    # At 6 both A and B report: the earlier-drawn trial (A) goes first; B's end then starts C.
    assert policy.calls == [
        ("assess", "1:B", 1),
        ("assess", "0:A", 1),
        ("assess", "1:B", 2),
        ("assess", "0:A", 2),
        ("assess", "1:B", 3),
        ("end", "1:B", True),
        ("assess", "2:C", 1),
        ("assess", "2:C", 2),
        ("end", "2:C", True),
        ("assess", "0:A", 3),
        ("end", "0:A", True),
    ]
    assert [(t.id, t.start, t.end) for t in result.trials] == [("0:A", 0, 9), ("1:B", 0, 6), ("2:C", 6, 8)]
    assert result.makespan == 9


def test_a_stop_frees_the_worker_at_the_end_of_that_epoch_and_counts_its_last_report():
    policy = Log(below(0.2))
    result = run(bank(GOOD, BAD), Draws([1, 0]), policy, concurrency=1, startup=0.5)
    stopped, good = result.trials
    # BAD: start-up 0.5 s, first epoch ends at 1.5: stopped there; GOOD takes the worker at 1.5.
    assert (stopped.end, stopped.reports, stopped.stopped, stopped.value, stopped.reason) == (
        1.5,
        1,
        True,
        0.1,
        "log",
    )
    assert (good.start, good.end, good.stopped, good.value) == (1.5, 5.0, False, 0.9)
    assert ("end", "0:bad", False) in policy.calls and ("end", "1:good", True) in policy.calls


def test_the_first_replayed_report_carries_the_start_up_the_run_charges():
    seen = []
    policy = Log(lambda trial, history: seen.append([dict(r) for r in history]) or False)
    original = trial("t", [0.5, 0.6], startup_seconds=99.0)  # in every record, to see which one changes
    run(bank(original), Draws([0]), policy, concurrency=1, startup=3.5)
    assert [r["startup_seconds"] for r in seen[-1]] == [3.5, 99.0]  # only the first report is the run's
    assert {k: v for k, v in seen[-1][0].items() if k != "startup_seconds"} == {
        k: v for k, v in original.epochs[0].record.items() if k != "startup_seconds"
    }
    assert original.epochs[0].record["startup_seconds"] == 99.0  # the bank itself is left as recorded


def test_the_budget_cuts_the_run_and_only_ended_trials_count():
    result = run(bank(GOOD), Draws([0, 0, 0, 0]), NoStop(), concurrency=1, budget=7.5)
    # Trials end at 3 and 6; the third is at its second epoch (reported at 7) when the budget ends.
    assert [(t.end, t.reports) for t in result.trials] == [(3, 3), (6, 3), (None, 1)]
    assert result.results() == [(3, 0.9), (6, 0.9)] and len(result.ended) == 2


def test_distinct_results_count_a_recurring_trace_once_at_its_first_end():
    result = run(bank(GOOD, BAD), Draws([0, 1, 0, 0]), NoStop(), concurrency=1)
    assert result.results() == [(3, 0.9), (6, 0.1), (9, 0.9), (12, 0.9)]
    assert result.distinct_results() == [(3, 0.9), (6, 0.1)]


def test_a_failed_trial_ends_unsuccessfully_and_one_without_reports_costs_its_start_up():
    crashed = trial("crashed", [0.2, 0.3], final=None, status="FAILED")
    silent = BankTrial("silent", {}, (), None, "FAILED")
    policy = Log()
    result = run(bank(crashed, silent, GOOD), Draws([1, 0, 2]), policy, concurrency=1, startup=2.0)
    assert [(t.id, t.start, t.end, t.value) for t in result.trials] == [
        ("0:silent", 0, 2.0, None),
        ("1:crashed", 2.0, 6.0, 0.3),
        ("2:good", 6.0, 11.0, 0.9),
    ]
    assert ("end", "1:crashed", False) in policy.calls  # NNI: FAILED is not success
    assert not [call for call in policy.calls if call[1] == "0:silent"]  # NNI never tells an assessor


def test_stopping_saves_time_as_tsba_and_top10hr_measure_it():
    # BAD, BAD, GOOD one after the other: the baseline reaches 0.9 at 9 s; stopping each BAD at
    # its first report reaches it at 1 + 1 + 3 = 5 s: TSBA = 1 - 5/9.
    hand = bank(GOOD, BAD)
    baseline = run(hand, Draws([1, 1, 0]), NoStop(), concurrency=1)
    stopper = run(hand, Draws([1, 1, 0]), Log(below(0.2)), concurrency=1)
    assert [t.end for t in stopper.trials] == [1, 2, 5]
    assert tsba(stopper.results(), baseline.results()) == pytest.approx(4 / 9)
    # Pool of 6: 0.9 (stopper, 5 s), 0.9 (baseline, 9 s), then 0.1s: stopper's at 1, 2; baseline's at 3, 6.
    assert top10_hit_ratio(stopper.results(), baseline.results(), k=3) == pytest.approx(2 / 3)


# Seeds, draws and budgets -------------------------------------------------------------------------


def started_sources(outcome):
    return [t.source.trial for t in outcome.run.trials]


def test_every_arm_of_a_seed_draws_the_same_trials_and_seeds_differ():
    hand = bank(*(trial(f"t{i}", [0.1 * (i % 10)] * 3) for i in range(30)))
    simulation = simulate(
        hand,
        [resolve_arm("none", hand), stopping_arm(0.5)],
        seeds=3,
        budget_frac=0.3,
        concurrency=2,
    )
    sequences = []
    for seed in range(3):
        none, stopper = (o for o in simulation.outcomes if o.seed == seed)
        shorter, longer = sorted((started_sources(none), started_sources(stopper)), key=len)
        assert longer[: len(shorter)] == shorter  # one sequence; the stopper got further along it
        assert len(started_sources(stopper)) > len(started_sources(none))
        sequences.append(tuple(shorter[:5]))
    assert len(set(sequences)) == 3


def test_halves_give_baseline_and_arms_disjoint_trials_without_repeats():
    hand = bank(*(trial(f"t{i}", [0.5] * 2) for i in range(11)))
    baseline, arms, budget_trials = seed_draws(hand, 4, "halves")
    first = [baseline.get(k) for k in range(5)]
    second = [arms.get(k) for k in range(5)]
    assert budget_trials == 5 and baseline.get(5) is None and arms.get(5) is None
    assert len(set(first)) == len(set(second)) == 5 and not set(first) & set(second)
    again_baseline, _, _ = seed_draws(hand, 4, "halves")
    assert [again_baseline.get(k) for k in range(5)] == first  # a seed is reproducible


def test_the_budget_is_a_share_of_what_no_stopping_needs_for_the_banks_size():
    hand = bank(GOOD, BAD, trial("c", [0.5, 0.6]), trial("d", [0.4]))
    simulation = simulate(
        hand, [resolve_arm("none", hand)], seeds=2, budget_frac=0.5, concurrency=2, startup=1.0
    )
    for seed, baseline in enumerate(simulation.baselines):
        draws, _, size = seed_draws(hand, seed, "iid")
        full = run(hand, draws.prefix(size), NoStop(), concurrency=2, startup=1.0)
        assert size == 4 and baseline.budget == 0.5 * full.makespan
        assert all(t.end <= baseline.budget for t in baseline.ended)


def test_one_trial_bank_gives_hand_computed_metrics():
    # Every draw is GOOD (3 epochs of 1 s). Budget 4 x 3 s = 12 s: the baseline ends 4 trials at 0.9.
    # Stopping at every first report: 12 trials of 1 s at 0.3. Pool of 16: the top ten are the 4
    # baseline trials and 6 stopped ones: Top10HR 0.6, and 0.9 is never reached.
    hand = bank(GOOD)
    simulation = simulate(
        hand,
        [resolve_arm("none", hand), stopping_arm(1.0), stopping_arm(0.0, "keeper")],
        seeds=2,
        budget_frac=4,
        concurrency=1,
    )
    none, stopper, keeper = summarize_arms(simulation)
    assert (none.compared, none.top10hr, none.trials_within_budget, none.stopped_share) == (False, [], 4, 0)
    assert stopper.top10hr == [0.6, 0.6] and stopper.tsba_per_seed == [None, None] and stopper.tsba == []
    assert stopper.never_reached == 2
    assert (stopper.trials_within_budget, stopper.stopped_share, stopper.stop_reasons["log"]) == (12, 1, 24)
    # A rule that never fires is the baseline again: same ends, ties go to the baseline first.
    assert keeper.top10hr == [0.5, 0.5] and keeper.tsba == [0.0, 0.0]
    # Each trace once: every run found one configuration, so the pool is the stopper's 0.3 at 1 s
    # and the baseline's 0.9 at 3 s (the keeper's 0.9 at 3 s ties with it): 1 of 2 either way.
    assert stopper.top10hr_distinct == keeper.top10hr_distinct == [0.5, 0.5]


def test_under_halves_no_stopping_is_an_arm_compared_with_the_baseline():
    hand = bank(*(trial(f"t{i}", [0.05 * i] * 2) for i in range(12)))
    simulation = simulate(
        hand, [resolve_arm("none", hand)], seeds=3, budget_frac=1, concurrency=2, sampling="halves"
    )
    (none,) = summarize_arms(simulation)
    assert none.compared and len(none.top10hr) == 3 and none.stopped_share == 0
    assert none.top10hr_distinct == none.top10hr  # no trace recurs within a half
    assert none.trials_within_budget == 6  # a whole half


def test_bad_settings_are_refused_in_one_line():
    with pytest.raises(SimulationError) as error:
        simulate(bank(GOOD), [], seeds=0, budget_frac=-1, concurrency=0, sampling="all", startup=math.nan)
    message = str(error.value)
    assert "\n" not in message
    for option in ("--seeds", "--budget-frac", "--concurrency", "--sampling", "--startup"):
        assert option in message
    with pytest.raises(SimulationError, match="no baseline trial ended .* raise --budget-frac"):
        simulate(bank(GOOD), [], seeds=1, budget_frac=0.1, concurrency=1)


@pytest.mark.parametrize(("sampling", "most"), [("iid", 6), ("halves", 3)])
def test_more_workers_than_the_trials_that_set_the_budget_are_refused(sampling, most):
    hand = bank(*(trial(f"t{i}", [0.1 * i] * 2) for i in range(6)))
    arms = [resolve_arm("none", hand)]
    simulate(hand, arms, seeds=1, budget_frac=1, concurrency=most, sampling=sampling)
    with pytest.raises(SimulationError, match=f"--concurrency {most + 1} is more workers than the {most} "):
        simulate(hand, arms, seeds=1, budget_frac=1, concurrency=most + 1, sampling=sampling)


# Arms ---------------------------------------------------------------------------------------------


def test_the_default_arm_is_the_diagnosis_engine():
    broken = trial("nan", [math.nan, math.nan], train_loss=math.nan)
    policy = resolve_arm("default", bank(GOOD, broken)).make(0)
    result = run(bank(GOOD, broken), Draws([1, 0]), policy, concurrency=1)
    assert (result.trials[0].stopped, result.trials[0].reports, result.trials[0].reason) == (True, 1, "AGV")
    assert not result.trials[1].stopped


def test_the_paper_arm_is_the_engine_under_the_paper_preset_as_the_tables_ran_it():
    # The tables of benchmarks/results/simulate ran the paper preset from benchmarks/policies/paper.yml;
    # the named arm must replay a bank's trials as that file does, in the bank's direction.
    digits = read_bank(REPO / "benchmarks" / "banks" / "digits.jsonl")
    named = resolve_arm("paper", digits)
    from_file = resolve_arm(str(REPO / "benchmarks" / "policies" / "paper.yml"), digits)
    config = named.make(0).diagnoser.config
    assert (named.name, config.preset, config.direction) == ("paper", Preset.PAPER, digits.direction)
    draws = Draws(list(range(len(digits.trials))))

    def stops(arm):
        result = run(digits, draws, arm.make(0), concurrency=8)
        return [(t.source.trial, t.reports, t.reason) for t in result.trials if t.stopped]

    assert stops(named) == stops(from_file) and stops(named) != stops(resolve_arm("default", digits))


def test_two_arms_of_one_name_are_refused_before_any_seed_runs(tmp_path):
    # Outcomes are told apart by arm name: two rules named alike would pool their seeds into one row.
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "paper.yml").write_text("preset: default\n")
    arms = [resolve_arm("paper", bank(GOOD)), resolve_arm(str(tmp_path / "a" / "paper.yml"), bank(GOOD))]
    with pytest.raises(SimulationError, match="two arms are named 'paper'.*rename a file"):
        simulate(bank(GOOD), arms, seeds=1, budget_frac=1, concurrency=1)
    path = write_bank(bank(GOOD), tmp_path / "hand.jsonl")
    assert main(["simulate", str(path), "--policy", "paper", str(tmp_path / "a" / "paper.yml")]) == 1


def test_a_classargs_file_configures_the_engine(tmp_path):
    flat = trial("flat", [0.1] * 6, train_loss=2.3)  # a loss that never falls
    hand = bank(flat)
    default = run(hand, Draws([0]), resolve_arm("default", hand).make(0), concurrency=1)
    (tmp_path / "no_plc.yml").write_text("indicators: {PLC: false, NMG: false, ERG: false}\n")
    arm = resolve_arm(str(tmp_path / "no_plc.yml"), hand)
    relaxed = run(hand, Draws([0]), arm.make(0), concurrency=1)
    assert arm.name == "no_plc" and default.trials[0].stopped and not relaxed.trials[0].stopped


@pytest.mark.parametrize(
    "content, suffix, expected",
    [
        ("patience: 0\n", ".yml", "policy file .*bad.yml: classArgs.patience"),
        ("{nope", ".json", "policy file .*bad.json: not valid JSON"),
        ("indicators: {XYZ: false}\n", ".yaml", "policy file .*bad.yaml: .*XYZ"),
        (b"patience: \xff\n", ".yml", "policy file .*bad.yml: not UTF-8 text"),
    ],
)
def test_a_bad_policy_file_is_refused_in_one_line(tmp_path, content, suffix, expected):
    path = tmp_path / f"bad{suffix}"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(ArmError, match=expected) as error:
        resolve_arm(str(path), bank(GOOD))
    assert "\n" not in str(error.value)


def test_unknown_policies_and_curvefitting_on_a_minimized_metric_are_refused():
    named = "none, default, paper, medianstop, curvefitting"
    with pytest.raises(ArmError, match=f"unknown policy 'fast': give {named}"):
        resolve_arm("fast", bank(GOOD))
    with pytest.raises(ArmError, match="CurvefittingAssessor only maximizes"):
        resolve_arm("curvefitting", bank(GOOD, direction="minimize"))
    with pytest.raises(ArmError, match="policy file .*missing.yml: cannot be read"):
        resolve_arm("missing.yml", bank(GOOD))


def test_classargs_replayed_on_a_bank_take_its_direction_unless_they_set_one():
    # benchmarks/tune_policy.py once built its candidates without the bank's direction, and so judged
    # the minimized ex96trans bank as if a higher MSE were better.
    minimizing = bank(GOOD, direction="minimize")
    assert config_for_bank({}, minimizing).direction is Direction.MINIMIZE
    assert config_for_bank(None, minimizing).direction is Direction.MINIMIZE
    assert config_for_bank({"indicators": {"RNK": False}}, minimizing).direction is Direction.MINIMIZE
    assert config_for_bank({"direction": "maximize"}, minimizing).direction is Direction.MAXIMIZE
    assert resolve_arm("default", minimizing).make(0).diagnoser.config.direction is Direction.MINIMIZE


def test_tune_policy_refuses_a_candidate_named_like_another_arm(tmp_path):
    # Outcomes are told apart by arm name: a candidate named medianstop would share NNI's rule's row.
    write_bank(bank(GOOD, BAD), tmp_path / "hand.jsonl")
    tune = [sys.executable, str(REPO / "benchmarks" / "tune_policy.py"), str(tmp_path / "hand.jsonl")]
    result = subprocess.run([*tune, "--candidate", "medianstop", "{}"], capture_output=True, text=True)
    assert result.returncode == 2 and not result.stdout
    assert "arm names given twice: medianstop; give each --candidate a name of its own" in result.stderr


def test_medianstop_is_nnis_class_fed_the_records_as_nni_feeds_them():
    # GOOD completes first: running averages 0.3, 0.45, 0.6. BAD's best at step 1 (0.1) is below
    # the median of completed averages at step 1 (0.3): stopped at its first report.
    hand = bank(GOOD, BAD)
    policy = resolve_arm("medianstop", hand).make(0)
    result = run(hand, Draws([0, 1, 0]), policy, concurrency=1)
    assert type(policy.assessor).__module__ == "nni.algorithms.hpo.medianstop_assessor"
    assert [(t.source.trial, t.stopped, t.reports) for t in result.trials] == [
        ("good", False, 3),
        ("bad", True, 1),
        ("good", False, 3),
    ]
    minimizing = resolve_arm("medianstop", bank(GOOD, direction="minimize")).make(0)
    assert minimizing.assessor._high_better is False


def test_curvefitting_is_nnis_class_with_its_curve_model_cached(tmp_path):
    # NNI's rule: from the 6th report on, stop when the predicted final value is below 0.95 x the
    # best completed trial's last value. The cache file holds the predictions, so this is fast.
    rising = trial("rising", [0.3, 0.5, 0.6, 0.65, 0.7, 0.72, 0.8])
    flat = trial("flat", [0.2, 0.21, 0.22, 0.22, 0.23, 0.23, 0.23])
    path = write_bank(bank(rising, flat), tmp_path / "hand.jsonl")
    hand = read_bank(path)
    key = json.dumps([7, [0.2, 0.21, 0.22, 0.22, 0.23, 0.23]])
    entry = {"key": key, "seed": _question_seed(key), "prediction": 0.25}
    (tmp_path / "hand.jsonl.curves").write_text(json.dumps(entry) + "\n")
    policy = resolve_arm("curvefitting", hand).make(0)
    result = run(hand, Draws([0, 1]), policy, concurrency=1)
    assert type(policy.assessor).__module__.startswith("nni.algorithms.hpo.curvefitting_assessor")
    assert [(t.stopped, t.reports) for t in result.trials] == [(False, 7), (True, 6)]  # 0.25 < 0.95 x 0.8
    assert policy.curves.computed == 0


def test_the_curve_cache_computes_a_prediction_once_and_keeps_it(tmp_path):
    cache = CurveCache(tmp_path / "b.jsonl.curves")
    history = [0.3, 0.45, 0.55, 0.6, 0.64, 0.67, 0.69, 0.7, 0.71]
    first = cache.predict(10, history)
    assert cache.predict(10, history) == first and cache.computed == 1
    assert 0.7 < first < 0.8  # NNI's extrapolation of a flattening accuracy to epoch 10
    assert CurveCache(tmp_path / "b.jsonl.curves").predict(10, history) == first  # read back from the file


def test_a_damaged_curve_cache_loses_only_its_damaged_lines(tmp_path):
    history = [0.3, 0.45, 0.55, 0.6, 0.64, 0.67, 0.69, 0.7, 0.71]
    path = tmp_path / "b.jsonl.curves"
    kept = CurveCache(path).predict(10, history)
    with path.open("ab") as stream:
        stream.write(b"\xff\xfe not text\n")
    cache = CurveCache(path)
    assert cache.predict(10, history) == kept and cache.computed == 0


def test_a_curve_prediction_does_not_depend_on_what_was_asked_before(tmp_path):
    history = [0.3, 0.45, 0.55, 0.6, 0.64, 0.67, 0.69, 0.7, 0.71]
    np.random.seed(1)
    alone = CurveCache(None).predict(10, history)
    np.random.seed(2)
    after_another = CurveCache(None)
    after_another.predict(10, [0.1, 0.2, 0.25, 0.3, 0.32, 0.33])
    state = np.random.get_state()
    assert after_another.predict(10, history) == alone  # same answer whatever the generator held
    assert np.array_equal(np.random.get_state()[1], state[1])  # and the generator put back


def test_a_curve_prediction_does_not_inherit_the_curve_parameters_nni_fitted_for_another():
    # Two 9-epoch histories of cifar10cnn_e20_holdout4. Some of NNI's curve families fail to fit the
    # second, and NNI then keeps the parameters it fitted for whatever came before, in a
    # module-level dict: before the reset, the second predicted 0.085 alone and None after the first.
    first = [0.1533, 0.2, 0.2067, 0.2, 0.2133, 0.22, 0.1933, 0.1933, 0.1933]
    second = [0.0933, 0.1067, 0.0533, 0.08, 0.0867, 0.0867, 0.0867, 0.0867, 0.08]
    alone = CurveCache(None).predict(20, second)
    after_another = CurveCache(None)
    after_another.predict(20, first)
    assert after_another.predict(20, second) == alone


def test_the_curve_cache_recomputes_a_line_kept_without_its_seed(tmp_path):
    history = [0.3, 0.45, 0.55, 0.6, 0.64, 0.67, 0.69, 0.7, 0.71]
    key = json.dumps([10, history])
    (tmp_path / "b.jsonl.curves").write_text(json.dumps({"key": key, "prediction": 0.25}) + "\n")
    cache = CurveCache(tmp_path / "b.jsonl.curves")
    assert cache.predict(10, history) == CurveCache(None).predict(10, history) != 0.25
    assert cache.computed == 1


# Report and command line --------------------------------------------------------------------------


def test_bootstrap_intervals():
    assert bootstrap_interval([0.4] * 5) == (0.4, 0.4)
    assert bootstrap_interval([]) is None
    low, high = bootstrap_interval([0.0, 1.0] * 10)
    assert 0.2 < low < 0.5 < high < 0.8 and bootstrap_interval([0.0, 1.0] * 10) == (low, high)


def test_write_simulation_reports_every_arm(tmp_path):
    hand = bank(GOOD, BAD, trial("c", [0.5, 0.6, 0.7]))
    simulation = simulate(
        hand, [resolve_arm("none", hand), stopping_arm(0.2)], seeds=4, budget_frac=0.5, concurrency=2
    )
    write_simulation(simulation, tmp_path)
    text = (tmp_path / "simulate.md").read_text()
    assert "| none | 0% |" in text and "| stopper |" in text and "(baseline)" in text
    data = json.loads((tmp_path / "simulate.json").read_text())
    assert [arm["arm"] for arm in data["arms"]] == ["none", "stopper"] and data["setting"]["seeds"] == 4
    per_seed = data["arms"][1]["per_seed"]
    assert len(per_seed["top10hr"]) == len(per_seed["tsba"]) == 4  # a seed that never reached: null
    assert sum(value is None for value in per_seed["tsba"]) == data["arms"][1]["never_reached"]
    assert "Top10HR, each trace once" in text and data["arms"][1]["top10hr_distinct_mean"] is not None
    halves = simulate(hand, [stopping_arm(0.2)], seeds=2, budget_frac=1, concurrency=1, sampling="halves")
    write_simulation(halves, tmp_path / "halves")
    assert "each trace once" not in (tmp_path / "halves" / "simulate.md").read_text()  # nothing recurs


def test_the_simulate_command_writes_its_report(tmp_path, capsys):
    path = write_bank(bank(GOOD, BAD, trial("c", [0.5, 0.6, 0.7]), startup=2.0), tmp_path / "hand.jsonl")
    out = tmp_path / "out"
    code = main(
        ["simulate", str(path), "--policy", "default", "medianstop", "--seeds", "3", "--concurrency", "2"]
        + ["--budget-frac", "1", "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "start-up 2 s per trial (the bank's)" in printed and "seed 3/3" in printed
    assert (out / "simulate.md").exists() and "| medianstop |" in (out / "simulate.md").read_text()


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--policy", "fast"], "unknown policy 'fast'"),
        (["--seeds", "0"], "--seeds must be a whole number >= 1"),
        (["--policy", "curvefitting"], "only maximizes"),
    ],
)
def test_the_simulate_command_reports_errors_in_one_line(tmp_path, capsys, extra, expected):
    path = write_bank(bank(GOOD, direction="minimize"), tmp_path / "hand.jsonl")
    assert main(["simulate", str(path), *extra, "--out", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr()
    err = printed.err.strip()
    assert "\n" not in err and err.startswith("bttackler: ") and expected in err
    assert printed.out == ""  # refused before the run's header line, not after it


def test_an_out_it_cannot_write_is_refused_before_the_simulation_runs(tmp_path, capsys):
    path = write_bank(bank(GOOD, BAD), tmp_path / "hand.jsonl")
    (tmp_path / "taken").write_text("a file where the report folder would go")
    assert (
        main(["simulate", str(path), "--seeds", "1", "--concurrency", "2", "--out", str(tmp_path / "taken")])
        == 1
    )
    printed = capsys.readouterr()
    assert printed.out == ""  # no header line, no seed run
    err = printed.err.strip()
    folder = "give a folder for the report (created if missing)"
    assert err == f"bttackler: --out {tmp_path / 'taken'} is a file; {folder}"
    inside = tmp_path / "taken" / "report"
    assert main(["simulate", str(path), "--seeds", "1", "--concurrency", "2", "--out", str(inside)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"bttackler: --out {inside}: cannot write there: ")
