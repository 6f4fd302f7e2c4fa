"""RNK (a healthy trial ranked below its peers) and its veto, the noise guard of NMG and ULC, presets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic import OSCILLATING_UP, healthy_history, metric_follows_loss, record, with_losses

from bttackler_nni.diagnosis.config import AssessorConfig, ConfigError, Preset
from bttackler_nni.diagnosis.direction import Direction
from bttackler_nni.diagnosis.engine import Diagnoser, Verdict
from bttackler_nni.diagnosis.history import TrialHistory
from bttackler_nni.diagnosis.indicators import Kind, RankedBelowPeers
from bttackler_nni.diagnosis.peers import PeerValues, TrialTimes
from bttackler_nni.evaluation.summary import explain_trial, summarize
from bttackler_nni.experiments.store import Experiment, Trial
from bttackler_nni.record import parse_record

PAPER = AssessorConfig(preset="paper")
FROM_EPOCH_5 = AssessorConfig(indicators={"RNK": {"start_fraction": 0.25}})
"""RNK from epoch 5 of 20: a trial then has the veto's 3 epochs of losses before RNK may first fire."""
PEER_LEVELS = [0.5 + 0.03 * i for i in range(10)]  # median 0.635


def slow(metric: float, epochs: int = 20, **overrides) -> list[dict]:
    """A healthy trial whose metric sits at ``metric`` and whose train loss falls 2% a step: too
    slowly for RNK's veto (10% over 3 epochs), fast enough for PLC."""
    return [
        record(e, train_loss=1.0 - 0.02 * e, default=metric, **overrides.get(e, {})) for e in range(epochs)
    ]


def run(diagnoser: Diagnoser, trial: str, history: list) -> list[Verdict]:
    """Every verdict of a trial assessed report by report, up to its stop."""
    verdicts = []
    for n in range(1, len(history) + 1):
        verdicts.append(diagnoser.assess(trial, history[:n]))
        if verdicts[-1].stop:
            break
    return verdicts


def with_peers(
    config: AssessorConfig | None = None,
    levels: list[float] = PEER_LEVELS,
    history: Callable[[float], list[dict]] = slow,
) -> Diagnoser:
    """A diagnoser that has assessed one peer per level, each reporting ``history(level)``, none stopped."""
    diagnoser = Diagnoser(config)
    for i, level in enumerate(levels):
        assert not run(diagnoser, f"peer{i}", history(level))[-1].stop
    return diagnoser


# RNK ---------------------------------------------------------------------------------------------


def test_rnk_stops_a_healthy_trial_below_the_median_of_its_peers_and_says_why():
    diagnoser = with_peers()
    verdict = run(diagnoser, "hopeless", slow(0.6))[-1]
    assert verdict.stop and verdict.epoch == 0  # from the first epoch, ranks there foretelling the end
    reason = verdict.reason
    assert (reason.indicator, reason.title, reason.kind) == ("RNK", "Ranked Below Peers", Kind.HOPELESS)
    assert reason.value == pytest.approx(6 / 10) and reason.threshold == 0.5  # 0.62 ... 0.77 are better
    assert reason.rule == (
        "share of the 10 peers whose best default up to epoch 0 beats its best so far 0.6 by more than "
        "noise_k x its noise (0) > max_share_better; the 10 peers that reached epoch 19 rank at epoch 0 "
        "as at 19 (Spearman 1.00 >= min_rank_agreement 0.8)"
    )
    line = verdict.to_json()
    assert line["kind"] == "hopeless" and Verdict.from_json(line) == verdict
    assert "by RNK (Ranked Below Peers) [hopeless]" in verdict.explain()
    assert not run(diagnoser, "good", slow(0.7))[-1].stop


def test_rnk_needs_min_peers_at_the_epoch():
    diagnoser = with_peers(AssessorConfig(indicators={"RNK": {"min_peers": 10}}), PEER_LEVELS[:9])
    assert not any(v.stop for v in run(diagnoser, "hopeless", slow(0.1)))
    assert diagnoser.peer_metrics.count(5) == 10  # the trial is a peer of later ones, never of itself
    assert run(diagnoser, "next", slow(0.1))[-1].stop
    assert RankedBelowPeers.Settings().min_peers == 5


def test_rnk_follows_the_direction_of_the_metric():
    # the peers arrive from the worst (highest) to the best, so that none of them is ranked
    diagnoser = with_peers(AssessorConfig(direction="minimize"), PEER_LEVELS[::-1])
    assert not run(diagnoser, "low", slow(0.55))[-1].stop  # only 0.5 and 0.53 are lower: better
    verdict = run(diagnoser, "high", slow(0.7))[-1]  # 8 of its 11 peers ("low" now one) are lower
    assert (
        verdict.stop and verdict.reason.indicator == "RNK" and verdict.reason.value == pytest.approx(8 / 11)
    )


def test_rnk_ranks_best_so_far_so_that_one_bad_epoch_does_not_stop_a_trial():
    # At 0.7 (above 7 of the 10 peers) but for one dip to 0.45 at epoch 6: ranked by its latest metric
    # it is below every peer there and is stopped; by its best so far it stays ahead of 7.
    dipping = [{**r, "default": 0.45} if e == 6 else r for e, r in enumerate(slow(0.7))]
    latest = AssessorConfig(indicators={"RNK": {"start_fraction": 0.25, "best_so_far": False}})
    stopped = run(with_peers(latest), "t", dipping)[-1]
    assert stopped.stop and stopped.epoch == 6 and stopped.reason.value == pytest.approx(1.0)
    assert not any(v.stop for v in run(with_peers(FROM_EPOCH_5), "t", dipping))


def test_rnk_ranks_against_the_peers_best_up_to_the_same_epoch_not_beyond():
    # Peers at 0.35-0.44 for 10 epochs, then 0.5 higher (ranked alike throughout, so ranks agree from
    # the first epoch): up to epoch 9 a trial at 0.6 is ahead of all of them, though every peer's
    # final best is ahead of it; at epoch 10 it is behind all.
    def late_bloomer(level: float) -> list[dict]:
        return [{**r, "default": level - 0.5} if e < 10 else r for e, r in enumerate(slow(level))]

    diagnoser = with_peers(FROM_EPOCH_5, [0.85 + 0.01 * i for i in range(10)], late_bloomer)
    verdicts = run(diagnoser, "t", slow(0.6))
    assert verdicts[-1].stop and verdicts[-1].epoch == 10 and verdicts[-1].reason.value == pytest.approx(1.0)
    assert "best default up to epoch 10 beats its best so far 0.6" in verdicts[-1].reason.rule


def test_peer_values_count_each_trials_best_up_to_an_epoch():
    peers = PeerValues(Direction.MINIMIZE)
    for trial, losses in {"a": [0.5, 0.7, 0.2], "b": [0.9, 0.3], "c": [0.6]}.items():
        for epoch, loss in enumerate(losses):
            peers.add(trial, epoch, loss)
    peers.add("a", 1, 0.1)  # a second value for (trial, epoch) never enters
    assert [peers.count_better_so_far(1, level) for level in (0.6, 0.4, 0.3)] == [2, 1, 0]  # a 0.5, b 0.3
    assert peers.count_better_so_far(2, 0.25) == 1 and peers.count_better_so_far(3, 0.0) == 0
    with pytest.raises(ValueError, match="direction"):
        PeerValues().count_better_so_far(0, 1.0)


def test_rnk_fires_only_inside_its_epochs():
    assert RankedBelowPeers().epochs(20) == range(0, 18)
    late = RankedBelowPeers(RankedBelowPeers.Settings(start_fraction=0.5, end_fraction=0.6))
    assert late.epochs(20) == range(10, 12) and late.epochs(10) == range(5, 6)
    # Good until epoch 17, then far behind: too late for a stop to be worth it.
    diagnoser = with_peers()
    fading = [record(e, train_loss=1.0 - 0.02 * e, default=0.9 if e < 18 else 0.1) for e in range(20)]
    assert not any(v.stop for v in run(diagnoser, "fading", fading))
    # Without a known max_epochs its epochs are unknown: it never applies.
    unknown_length = TrialHistory([parse_record(r)[0] for r in slow(0.1, 12)], None)
    assert not RankedBelowPeers().applies(unknown_length, protected=False)


def test_rnk_counts_a_peer_as_ahead_only_beyond_noise_k_times_the_trials_own_noise():
    # Alternating 0.55 / 0.61: noise 0.06, so with noise_k 4 only peers above 0.61 + 4 x 0.06 = 0.85
    # count as ahead; with noise_k 0, the six peers above 0.61 do. (From epoch 5: at a first report
    # there is no noise to measure.)
    noisy = [record(e, train_loss=1.0 - 0.02 * e, default=0.55 + 0.06 * (e % 2)) for e in range(20)]
    lenient = AssessorConfig(indicators={"RNK": {"noise_k": 4, "start_fraction": 0.25}})
    assert not any(v.stop for v in run(with_peers(lenient), "noisy", noisy))
    verdict = run(with_peers(FROM_EPOCH_5), "noisy", noisy)[-1]
    assert verdict.stop and verdict.reason.indicator == "RNK" and verdict.epoch == 5


def reversing(level: float) -> list[dict]:
    """A healthy peer at ``level`` for its first 10 epochs and at ``1.2 - level`` after: ranks at
    epochs 0-9 are the reverse of its final ranks."""
    return [record(e, train_loss=1.0 - 0.02 * e, default=level if e < 10 else 1.2 - level) for e in range(20)]


def test_rnk_ranks_at_an_epoch_only_when_finished_peers_ranked_there_as_they_finished():
    diagnoser = Diagnoser(AssessorConfig(indicators={"RNK": {"min_peers": 10}}))  # the peers never rank
    for i, level in enumerate(PEER_LEVELS):
        assert not run(diagnoser, f"peer{i}", reversing(level))[-1].stop
    assert diagnoser.peer_metrics.rank_agreement(5, 19) == (pytest.approx(-1.0), 10)
    # Ranks at epochs 5-9 foretold nothing (Spearman -1 with the end); from epoch 10 they are the final ones.
    verdict = run(diagnoser, "behind", slow(0.1))[-1]
    assert verdict.stop and verdict.epoch == 10
    assert verdict.reason.rule.endswith("rank at epoch 10 as at 19 (Spearman 1.00 >= min_rank_agreement 0.8)")
    # Told to trust any agreement, or not to check, it stops the same trial at its first chance.
    for rnk in ({"min_rank_agreement": -1}, {"min_finished": 0}):
        verdicts = run(with_peers(AssessorConfig(indicators={"RNK": rnk}), PEER_LEVELS), "behind", slow(0.1))
        assert verdicts[-1].stop and verdicts[-1].epoch == 0


def test_rnk_needs_min_finished_peers_that_reached_the_trials_last_epoch():
    diagnoser = Diagnoser()
    for i, level in enumerate(PEER_LEVELS):  # ten peers at epoch 5, four of them finished
        assert not run(diagnoser, f"peer{i}", slow(level, epochs=20 if i < 4 else 12))[-1].stop
    assert not any(v.stop for v in run(diagnoser, "behind", slow(0.1)))  # finished now, the fifth
    verdict = run(diagnoser, "next", slow(0.1))[-1]
    assert verdict.stop and "the 5 peers that reached epoch 19 rank at epoch 0" in verdict.reason.rule


def test_trial_times_weigh_the_epochs_a_stop_saves_against_start_up_and_all_epochs():
    times = TrialTimes()
    assert times.saving_share(0, 10) is None and times.timed_trials() == 0
    times.add("a", 0, 1.0, 4.0)
    times.add("a", 1, 3.0, None)  # mean 2 s, start-up 4 s
    times.add("a", 1, 30.0, None)  # the same report again: never counted twice
    times.add("b", 0, 2.0, 6.0)
    times.add("b", 1, float("nan"), float("inf"))  # never counted
    times.add("c", 0, 50.0, None)  # no start-up: not timed
    assert times.timed_trials() == 2
    # medians: 2 s per epoch, 5 s start-up; after epoch 0, 9 of 10 epochs remain: 18 / (5 + 20)
    assert times.saving_share(0, 10) == pytest.approx(18 / 25)
    assert times.saving_share(9, 10) == 0 and times.saving_share(12, 10) == 0
    times.add("c", 1, None, 0.0)
    assert times.timed_trials() == 3 and times.saving_share(0, 10) == pytest.approx(9 * 2 / (4 + 20))


def timed(history: list[dict], startup: float, epoch_seconds: float = 1.0) -> list[dict]:
    """``history`` as a Reporter times it: seconds per epoch, the start-up in the first record."""
    return [
        {**r, "epoch_seconds": epoch_seconds, **({"startup_seconds": startup} if r["epoch"] == 0 else {})}
        for r in history
    ]


def unfinished_peers(config: AssessorConfig, startup: float) -> Diagnoser:
    """Ten timed peers that stopped reporting at epoch 11 of 20: no finished peer shows rank agreement."""
    return with_peers(config, history=lambda level: timed(slow(level, epochs=12), startup))


def test_rnk_fires_without_rank_agreement_where_a_stop_saves_at_least_min_saving():
    gate = AssessorConfig(indicators={"RNK": {"min_saving": 0.6, "saving_first_epoch": 0}})
    # 1 s epochs, 2 s start-up: a stop after epoch 0 saves 19 of 22 s.
    verdict = run(unfinished_peers(gate, startup=2.0), "behind", timed(slow(0.6), 2.0))[-1]
    assert verdict.stop and verdict.epoch == 0 and verdict.reason.indicator == "RNK"
    assert verdict.reason.rule.endswith(
        "; a stop at epoch 0 saves 86% of a trial's cost (remaining epochs against start-up plus all "
        "epochs, medians of 10 trials; min_saving 60%)"
    )
    # The default: 60% from epoch 1 only, where a stop saves 18 of 22 s.
    verdict = run(unfinished_peers(AssessorConfig(), startup=2.0), "behind", timed(slow(0.6), 2.0))[-1]
    assert verdict.stop and verdict.epoch == 1 and "saves 82%" in verdict.reason.rule
    # A 30 s start-up: a stop saves at most 19 of 50 s, and RNK waits for finished peers.
    slow_start = run(unfinished_peers(gate, startup=30.0), "behind", timed(slow(0.6), 30.0))
    assert not any(v.stop for v in slow_start)


def test_the_saving_gate_needs_min_peers_timed_trials_and_is_off_at_one():
    gate = AssessorConfig(indicators={"RNK": {"min_saving": 0.6, "min_peers": 5}})
    diagnoser = Diagnoser(gate)
    for i, level in enumerate(PEER_LEVELS):  # untimed peers (no start-up sent): the share is unknown
        assert not run(diagnoser, f"peer{i}", slow(level, epochs=12))[-1].stop
    assert not any(v.stop for v in run(diagnoser, "behind", timed(slow(0.6), 2.0)))
    off = AssessorConfig(indicators={"RNK": {"min_saving": 1}})
    assert not any(v.stop for v in run(unfinished_peers(off, 0.0), "behind", timed(slow(0.6), 0.0)))
    with pytest.raises(ConfigError, match="min_saving"):
        AssessorConfig(indicators={"RNK": {"min_saving": 1.5}})


def test_the_saving_gate_knows_the_tasks_times_again_after_a_restore_from_the_journal():
    original = Diagnoser()
    journal = []
    for i, level in enumerate(PEER_LEVELS):
        journal.extend(v.to_json() for v in run(original, f"peer{i}", timed(slow(level, epochs=12), 2.0)))
    assert journal[0]["startup_seconds"] == 2.0 and journal[1]["epoch_seconds"] == 1.0
    restored = Diagnoser()
    restored.restore(Verdict.from_json(line) for line in journal)
    verdict = run(restored, "behind", timed(slow(0.6), 2.0))[-1]
    assert verdict.stop and verdict.epoch == 1 and "saves 82%" in verdict.reason.rule
    assert "medians of 11 trials" in verdict.reason.rule  # the ten peers' and its own
    # A journal without the seconds (written before they were journaled) restores the ranks only.
    untimed = Diagnoser()
    untimed.restore(
        Verdict.from_json({k: v for k, v in line.items() if not k.endswith("_seconds")}) for line in journal
    )
    assert not any(v.stop for v in run(untimed, "behind", timed(slow(0.6), 2.0)))


def test_rank_agreement_is_spearmans_correlation_with_ties_sharing_their_mean_rank():
    peers = PeerValues()
    for trial, (early, final) in enumerate([(0.1, 0.2), (0.5, 0.4), (0.3, 0.5), (0.3, 0.1), (0.9, 0.8)]):
        peers.add(str(trial), 2, early)
        peers.add(str(trial), 7, final)
    peers.add("unfinished", 2, 0.7)
    # ranks at 2: 1, 4, 2.5, 2.5, 5; at 7: 2, 3, 4, 1, 5; r = 6.5 / sqrt(9.5 * 10)
    assert peers.rank_agreement(2, 7) == (pytest.approx(6.5 / 95**0.5), 5)
    assert peers.rank_agreement(2, 9) == (None, 0)
    flat = PeerValues()
    for trial in "abc":
        flat.add(trial, 0, 0.5)
        flat.add(trial, 3, float(ord(trial)))
    assert flat.rank_agreement(0, 3) == (None, 3)  # equal values at epoch 0 rank nothing


def timed_peers(config: AssessorConfig | None = None) -> Diagnoser:
    """The ten finished peers of PEER_LEVELS, each taking 1 s an epoch."""
    return with_peers(config, history=lambda level: timed(slow(level), 2.0))


def test_rnk_asks_a_trial_whose_epochs_cost_more_than_its_peers_to_rank_higher():
    # 0.7: 3 of the 10 peers ahead (0.71, 0.74, 0.77), below max_share_better 0.5.
    assert not any(v.stop for v in run(timed_peers(), "as fast", timed(slow(0.7), 2.0)))
    verdict = run(timed_peers(), "twice as slow", timed(slow(0.7), 2.0, epoch_seconds=2.0))[-1]
    assert verdict.stop and verdict.epoch == 0 and verdict.reason.indicator == "RNK"
    assert verdict.reason.value == pytest.approx(0.3) and verdict.reason.threshold == pytest.approx(0.25)
    assert (
        "> max_share_better 0.5 x (median epoch of 10 peers 1 s / its own 2 s) ** cost_exponent 1 = 0.25; "
        in verdict.reason.rule
    )
    # The bar follows the trial's mean over its epochs so far, and cost_exponent weighs the ratio.
    half_weight = AssessorConfig(indicators={"RNK": {"cost_exponent": 0.5}})  # 0.5 / 2 ** 0.5 = 0.35
    assert not any(v.stop for v in run(timed_peers(half_weight), "slow", timed(slow(0.7), 2.0, 2.0)))


def test_rnk_gives_a_trial_whose_epochs_cost_less_more_time_and_cost_exponent_zero_turns_that_off():
    # 0.6: 6 of 10 peers ahead, above max_share_better 0.5; at 0.5 s an epoch the bar is 0.5 / 0.5 = 1.
    assert run(timed_peers(), "as fast", timed(slow(0.6), 2.0))[-1].stop
    assert not any(v.stop for v in run(timed_peers(), "twice as fast", timed(slow(0.6), 2.0, 0.5)))
    plain = AssessorConfig(indicators={"RNK": {"cost_exponent": 0}})
    verdict = run(timed_peers(plain), "twice as fast", timed(slow(0.6), 2.0, 0.5))[-1]
    assert verdict.stop and verdict.reason.threshold == 0.5
    assert "> max_share_better; " in verdict.reason.rule
    # Absurd times never break the bar: 1e-300 s an epoch against 1 s, squared, overflows to no bar.
    squared = AssessorConfig(indicators={"RNK": {"cost_exponent": 2}})
    assert not any(v.stop for v in run(timed_peers(squared), "instant", timed(slow(0.6), 2.0, 1e-300)))


def test_the_cost_bar_needs_min_peers_timed_peers_and_a_timed_trial():
    # Untimed peers: a slow trial is judged by max_share_better alone (3 of 10 ahead: no stop).
    assert not any(v.stop for v in run(with_peers(), "slow", timed(slow(0.7), 2.0, 3.0)))
    # Timed peers, an untimed trial: the same.
    assert not any(v.stop for v in run(timed_peers(), "untimed", slow(0.7)))
    few = AssessorConfig(indicators={"RNK": {"min_peers": 11}})  # 10 timed peers are too few
    assert not any(v.stop for v in run(timed_peers(few), "slow", timed(slow(0.7), 2.0, 3.0)))


def test_trial_times_give_the_median_of_the_other_trials_mean_epoch_seconds():
    times = TrialTimes()
    assert times.median_epoch_seconds() is None
    times.add("a", 0, 1.0, None)
    times.add("a", 1, 3.0, None)  # mean 2 s; no start-up needed
    times.add("b", 0, 5.0, 1.0)
    times.add("c", 0, 9.0, 1.0)
    times.add("c", 1, float("inf"), 1.0)  # never counted
    assert times.median_epoch_seconds() == (5.0, 3)
    assert times.median_epoch_seconds(exclude="b") == (5.5, 2)
    assert times.median_epoch_seconds(exclude="nobody") == (5.0, 3)


def test_rnk_honours_its_share_threshold():
    strict = AssessorConfig(indicators={"RNK": {"max_share_better": 0.9}})
    assert not run(with_peers(strict), "middling", slow(0.55))[-1].stop  # 8 of 10 better: not > 0.9
    assert run(with_peers(strict), "worst", slow(0.45))[-1].stop


# The veto -------------------------------------------------------------------------------------------


def test_a_trial_still_learning_fast_gets_more_time_and_the_veto_is_recorded():
    diagnoser = with_peers(FROM_EPOCH_5)
    learning = [record(e, train_loss=2.3 * 0.8**e, default=0.3) for e in range(20)]  # -49% per 3 epochs
    verdicts = run(diagnoser, "learning", learning)
    assert not verdicts[-1].stop and len(verdicts) == 20
    vetoed = [v for v in verdicts if v.notes]
    assert [v.epoch for v in vetoed] == list(range(5, 18))
    note = vetoed[0].notes[0]
    assert note.startswith("RNK vetoed: no problem diagnosed and the train loss fell 48.8% over the last 3")
    assert "RNK" not in vetoed[0].fired
    assert Verdict.from_json(vetoed[0].to_json()).notes == (note,)


def test_rnk_spares_a_trial_whose_best_so_far_leads_the_other_trials():
    # At 0.8 for its first 5 epochs, then at 0.55 (below 8 of the 10 peers at 0.5-0.77), training
    # slowly. Ranked by its latest metric (best_so_far false), only the leader guard spares it.
    fell = [{**r, "default": 0.8} if e < 5 else r for e, r in enumerate(slow(0.55))]
    latest = {"start_fraction": 0.25, "best_so_far": False}
    unguarded = AssessorConfig(indicators={"RNK": {**latest, "leader_share": 0}})
    assert run(with_peers(unguarded), "t", fell)[-1].reason.indicator == "RNK"
    verdicts = run(with_peers(AssessorConfig(indicators={"RNK": latest})), "t", fell)  # leader_share 0.1
    assert not verdicts[-1].stop
    assert verdicts[5].notes == (
        "RNK vetoed: its best default 0.8 so far is beaten by the best of 0 of the 10 other trials "
        "(share 0.00 <= leader_share 0.1)",
    )


def test_the_veto_needs_veto_window_epochs_of_losses():
    # RNK from the first epoch: behind all ten peers at its first report, the trial has no
    # 3-epoch loss drop yet to show that it is learning, so it is stopped there.
    learning = [record(e, train_loss=2.3 * 0.8**e, default=0.3) for e in range(20)]
    verdicts = run(with_peers(), "learning", learning)
    assert verdicts[-1].stop and verdicts[-1].epoch == 0 and verdicts[-1].notes == ()


def test_the_veto_ends_when_the_loss_stops_falling_fast():
    diagnoser = with_peers(FROM_EPOCH_5)
    losses = [2.3 * 0.8**e if e < 8 else 2.3 * 0.8**8 * (1 - 0.01 * (e - 8)) for e in range(20)]
    verdicts = run(
        diagnoser, "slowing", [record(e, train_loss=loss, default=0.3) for e, loss in enumerate(losses)]
    )
    assert verdicts[-1].stop and verdicts[-1].reason.indicator == "RNK"
    assert verdicts[-1].epoch == 11  # 3-epoch drops: 49% at epoch 8, 37% at 9, 22% at 10, 3% at 11
    assert all(v.notes for v in verdicts[5:-1])


def test_no_veto_when_the_diagnosis_finds_a_problem():
    diagnoser = with_peers(AssessorConfig(patience=2, indicators={"RNK": {"start_fraction": 0.25}}))
    spike = {5: {"grad": [2e4, 3e4, 4e4]}}
    history = [record(e, train_loss=2.3 * 0.8**e, default=0.3, **spike.get(e, {})) for e in range(20)]
    verdict = run(diagnoser, "exploding", history)[5]
    assert verdict.fired == ("EAG", "RNK") and verdict.notes == () and not verdict.stop


def test_vetoes_and_hopeless_stops_reach_why_and_the_summary():
    diagnoser = with_peers(FROM_EPOCH_5)
    learning = run(diagnoser, "learning", [record(e, train_loss=2.3 * 0.8**e, default=0.3) for e in range(8)])
    hopeless = run(diagnoser, "hopeless", slow(0.4))
    trials = [
        Trial("learning", 0, 0, {}, "SUCCEEDED", 0.0, 8.0, [], [], 0.3),
        Trial("hopeless", 1, 1, {}, "USER_CANCELED", 0.0, 6.0, slow(0.4, 6), [], None, hopeless[-1]),
    ]
    experiment = Experiment("exp", Path("exp"), 0.0, {}, trials, learning + hopeless)
    summary = summarize(experiment)
    assert "stops by indicator: RNK 1 (hopeless)" in summary
    assert "RNK (Ranked Below Peers) [hopeless]: share of the 11 peers whose best default up to" in summary
    why = explain_trial(experiment, "learning")
    assert "note: RNK vetoed: no problem diagnosed and the train loss fell" in why


# The noise guard of NMG and ULC ---------------------------------------------------------------------

NMG_TRAIN = [1.0 - 0.05 * e for e in range(12)]
NMG_VAL = [1.0, 0.8, 0.6, 0.5, 0.45, 0.42, 0.40, 0.41, 0.43, 0.44, 0.45, 0.46]  # NMG's rule holds at epoch 10


def with_metric(train: list[float], val: list[float] | None, metric: list[float]) -> list[dict]:
    history = with_losses(train, val)
    for raw, value in zip(history, metric, strict=True):
        raw["default"] = value
    return history


def test_nmg_spares_a_trial_near_its_own_best_that_the_paper_preset_stops():
    near_best = [0.5, 0.6, 0.7, 0.8, 0.85, 0.88, 0.9, 0.9, 0.901, 0.899, 0.9, 0.9]
    history = with_metric(NMG_TRAIN, NMG_VAL, near_best)
    paper = run(Diagnoser(PAPER), "t", history)[-1]
    assert paper.stop and paper.reason.indicator == "NMG" and paper.epoch == 10
    verdicts = run(Diagnoser(), "t", history)
    assert not verdicts[-1].stop
    assert verdicts[10].notes == (
        "NMG vetoed: latest default 0.9 is within noise_k 4 x its recent epoch-to-epoch change 0.001 "
        "of its best 0.901",
    )


def test_nmg_still_stops_a_trial_whose_metric_fell_well_below_its_best():
    falling = [0.5, 0.6, 0.7, 0.8, 0.85, 0.88, 0.9, 0.89, 0.87, 0.8, 0.6, 0.5]
    verdict = run(Diagnoser(), "t", with_metric(NMG_TRAIN, NMG_VAL, falling))[-1]
    assert verdict.stop and verdict.reason.indicator == "NMG" and verdict.epoch == 10


def test_the_guard_follows_the_direction_of_the_metric():
    mse = [1.0, 0.8, 0.6, 0.5, 0.45, 0.42, 0.40, 0.40, 0.399, 0.401, 0.40, 0.40]
    assert not run(
        Diagnoser(AssessorConfig(direction="minimize")), "t", with_metric(NMG_TRAIN, NMG_VAL, mse)
    )[-1].stop
    # Read as an accuracy, the same numbers are far below their best (1.0 at epoch 0).
    assert run(Diagnoser(), "t", with_metric(NMG_TRAIN, NMG_VAL, mse))[-1].stop


def test_ulc_spares_a_trial_near_its_own_best_that_the_paper_preset_stops():
    history = with_losses(OSCILLATING_UP)  # its metric rises every epoch: always at its best
    paper = run(Diagnoser(PAPER), "t", history)[-1]
    assert paper.stop and paper.reason.indicator == "ULC"
    verdicts = run(Diagnoser(), "t", history)
    assert not verdicts[-1].stop
    assert any(note.startswith("ULC vetoed: latest default") for v in verdicts for note in v.notes)


def test_noise_k_zero_turns_the_guard_off():
    config = AssessorConfig(indicators={"ULC": {"noise_k": 0}})
    assert run(Diagnoser(config), "t", with_losses(OSCILLATING_UP))[-1].reason.indicator == "ULC"


LEADER = {"NMG": {"leader_share": 0.1, "protected": False}, "ULC": {"leader_share": 0.1}, "RNK": False}
"""The leader guard on; RNK and NMG's protection off (the trials below train faster than the peers of
:func:`with_peers`, whose train losses would protect them), so that only the guard decides."""
FELL_FROM_LEAD = [0.5, 0.6, 0.7, 0.8, 0.85, 0.88, 0.9, 0.89, 0.87, 0.8, 0.6, 0.5]
"""A metric that fell well below its best (0.9), so that the noise guard does not hold it."""


def test_nmg_spares_a_trial_whose_best_leads_its_peers():
    diagnoser = with_peers(AssessorConfig(indicators=LEADER))  # 10 peers at 0.5-0.77
    verdicts = run(diagnoser, "t", with_metric(NMG_TRAIN, NMG_VAL, FELL_FROM_LEAD))
    assert not verdicts[-1].stop
    assert verdicts[10].notes == (
        "NMG vetoed: its best default 0.9 so far is beaten by the best of 0 of the 10 other trials "
        "(share 0.00 <= leader_share 0.1)",
    )


def test_nmg_stops_a_trial_that_more_than_leader_share_of_its_peers_beat():
    diagnoser = with_peers(AssessorConfig(indicators=LEADER), [0.88 + 0.01 * i for i in range(10)])
    verdict = run(diagnoser, "t", with_metric(NMG_TRAIN, NMG_VAL, FELL_FROM_LEAD))[-1]
    assert verdict.stop and verdict.reason.indicator == "NMG" and verdict.epoch == 10


def test_the_leader_guard_needs_one_over_leader_share_peers():
    diagnoser = with_peers(AssessorConfig(indicators=LEADER), PEER_LEVELS[:9])
    verdict = run(diagnoser, "t", with_metric(NMG_TRAIN, NMG_VAL, FELL_FROM_LEAD))[-1]
    assert verdict.stop and verdict.reason.indicator == "NMG"


def test_ulc_spares_a_trial_whose_best_leads_its_peers():
    unguarded = {**LEADER, "ULC": {"noise_k": 0, "leader_share": 0.1}}
    history = metric_follows_loss(with_losses(OSCILLATING_UP))
    alone = run(Diagnoser(AssessorConfig(indicators=unguarded)), "t", history)[-1]
    assert alone.stop and alone.reason.indicator == "ULC"
    verdicts = run(
        with_peers(AssessorConfig(indicators=unguarded), [0.1 + 0.01 * i for i in range(10)]), "t", history
    )
    assert not verdicts[-1].stop
    assert any(note.startswith("ULC vetoed: its best default") for v in verdicts for note in v.notes)


# Presets ---------------------------------------------------------------------------------------------


def test_the_paper_preset_is_the_published_method():
    settings = PAPER.indicators
    assert [i.id for i in PAPER.build_indicators()] == ["AGV", "EAG", "ERG", "LAR", "PLC", "ULC", "NMG"]
    assert (settings["ULC"].noise_k, settings["NMG"].noise_k) == (0, 0)
    assert (settings["ULC"].leader_share, settings["NMG"].leader_share) == (0, 0)
    assert (settings["EAG"].grad_max, settings["EAG"].ratio_max) == (1e4, 1e3)
    assert (settings["ERG"].grad_min, settings["ERG"].ratio_min) == (1e-5, 1e-4)
    assert (settings["LAR"].start_epoch, settings["LAR"].zero_share_max, settings["LAR"].dead_share_max) == (
        4,
        0.5,
        0.7,
    )
    assert (settings["PLC"].min_epochs, settings["PLC"].rel_change_min) == (3, 0.01)
    ulc = settings["ULC"]
    assert (ulc.min_window, ulc.window_fraction, ulc.slope_min, ulc.cv_min) == (5, 0.25, 0.01, 0.2)
    assert (settings["NMG"].min_epochs, settings["NMG"].window, settings["NMG"].min_delta) == (6, 3, 0.0)
    assert (PAPER.min_peers, PAPER.protect_percentile, PAPER.patience) == (10, 10.0, 1)


SYNTHETIC = {  # history -> (indicator, epoch) that stops it under the paper's method, or None
    "healthy": (healthy_history(20), None),
    "flat": (with_losses([2.3, 2.299, 2.298, 2.297]), ("PLC", 2)),
    "oscillating": (with_losses(OSCILLATING_UP), ("ULC", 11)),  # losses 7-11: slope/mean 0.094, CV 0.23
    "converged": (with_losses(NMG_TRAIN, NMG_VAL), ("NMG", 10)),
    "exploding": ([record(0), record(1, grad=[2e4, 3e4, 4e4])], ("EAG", 1)),
    "dying": ([record(e, zero_share=[0.8] * 3) for e in range(6)], ("LAR", 4)),
}


@pytest.mark.parametrize("name", SYNTHETIC)
def test_the_paper_preset_stops_the_synthetic_histories_as_the_paper_does(name):
    history, expected = SYNTHETIC[name]
    verdict = run(Diagnoser(PAPER), name, history)[-1]
    assert ((verdict.reason.indicator, verdict.epoch) if verdict.stop else None) == expected


def test_the_paper_preset_never_ranks_trials():
    diagnoser = with_peers(PAPER)
    assert not any(v.stop for v in run(diagnoser, "hopeless", slow(0.1)))
    assert run(with_peers(), "hopeless", slow(0.1))[-1].stop


def test_settings_given_with_a_preset_apply_on_top_of_it():
    config = AssessorConfig.from_class_args(
        {"preset": "paper", "indicators": {"RNK": True, "NMG": {"window": 4}}}
    )
    assert config.preset is Preset.PAPER and config.indicators["RNK"].enabled
    assert (config.indicators["NMG"].window, config.indicators["NMG"].noise_k) == (4, 0)
    assert config.indicators["ULC"].noise_k == 0
    assert AssessorConfig.from_class_args({"indicators": {"NMG": False}}).indicators["NMG"].noise_k == 4
    assert config.to_dict()["preset"] == "paper" and config.to_dict()["direction"] == "maximize"
    assert AssessorConfig.from_class_args(config.to_dict()) == config  # the journal's start line reads back


@pytest.mark.parametrize(
    "class_args, expected",
    [
        ({"preset": "papers"}, "classArgs.preset = 'papers': is not one of default, paper. Fix: give one of"),
        ({"direction": "max"}, "classArgs.direction = 'max': is not one of maximize, minimize"),
        (
            {"indicators": {"RNK": {"max_share_better": 1.5}}},
            "classArgs.indicators.RNK.max_share_better = 1.5",
        ),
        ({"indicators": {"RNK": {"veto_drop": 0}}}, "classArgs.indicators.RNK.veto_drop = 0: must be > 0"),
        ({"indicators": {"NMG": {"noise_k": -1}}}, "classArgs.indicators.NMG.noise_k = -1: must be >= 0"),
        (
            {"indicators": {"RNK": {"cost_exponent": -1}}},
            "classArgs.indicators.RNK.cost_exponent = -1: must be >= 0",
        ),
        ({"indicators": {"RNK": {"min_peer": 3}}}, "RNK has no key 'min_peer' (did you mean 'min_peers'?)"),
    ],
)
def test_invalid_new_settings_name_the_key_and_the_fix(class_args, expected):
    with pytest.raises(ConfigError) as error:
        AssessorConfig.from_class_args(class_args)
    assert expected in str(error.value)


def test_the_direction_setting_is_the_packages_direction():
    assert AssessorConfig(direction="minimize").direction is Direction.MINIMIZE


def test_a_replay_judges_an_experiment_with_the_preset_it_ran_with():
    from bttackler_nni.evaluation.replay import replay

    def settings(assessor_settings: dict) -> AssessorConfig:
        return replay(Experiment("e", Path("e"), 0.0, {}, [], [], assessor_settings)).config

    assert settings({"patience": 1}).preset is Preset.PAPER  # journaled before presets existed
    assert settings(AssessorConfig().to_dict()) == AssessorConfig()


def test_a_replay_without_assessor_settings_ranks_in_the_experiment_s_direction():
    from bttackler_nni.evaluation.replay import replay

    def direction(config: dict, assessor_settings: dict | None = None) -> Direction:
        experiment = Experiment("e", Path("e"), 0.0, config, [], [], assessor_settings)
        return replay(experiment).config.direction

    minimizing_random = {"tuner": {"name": "Random", "classArgs": {"optimize_mode": "minimize"}}}
    assert direction(minimizing_random) is Direction.MINIMIZE  # a baseline run without an assessor
    assert direction({"tuner": {"name": "TPE"}}) is Direction.MINIMIZE  # TPE's own default
    assert direction({"tuner": {"name": "Random"}}) is Direction.MAXIMIZE
    # a tuner without optimize_mode: the summary's best follows the direction the assessor ranked in
    ranked_down = Experiment(
        "e", Path("e"), 0.0, {"tuner": {"name": "Random"}}, [], [], {"direction": "minimize"}
    )
    assert ranked_down.direction is Direction.MINIMIZE


def test_simulated_bttackler_arms_rank_in_the_banks_direction(tmp_path):
    from hand_banks import bank, trial

    from bttackler_nni.evaluation.arms import resolve_arm

    mse = bank(trial("t", [0.5, 0.4]), direction="minimize")
    assert resolve_arm("default", mse).make(0).diagnoser.config.direction is Direction.MINIMIZE
    (tmp_path / "paper.yml").write_text("preset: paper\n")
    (tmp_path / "up.yml").write_text("direction: maximize\n")
    assert (
        resolve_arm(str(tmp_path / "paper.yml"), mse).make(0).diagnoser.config.direction is Direction.MINIMIZE
    )
    assert resolve_arm(str(tmp_path / "up.yml"), mse).make(0).diagnoser.config.direction is Direction.MAXIMIZE
