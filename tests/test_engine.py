"""The diagnosis engine: decisions, cross-trial protection, patience, verdict records, restore."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic import healthy_history, metric_follows_loss, record, with_losses

from bttackler_nni.diagnosis.config import AssessorConfig
from bttackler_nni.diagnosis.engine import Diagnoser, PeerValues, Verdict

FLAT = [2.3, 2.299, 2.298, 2.297]  # PLC fires from the third epoch


def feed(diagnoser: Diagnoser, trial: str, history: list) -> Verdict:
    """Assess a history report by report, as NNI does, and return the last verdict."""
    verdict = None
    for n in range(1, len(history) + 1):
        verdict = diagnoser.assess(trial, history[:n])
    return verdict


def add_peers(diagnoser: Diagnoser, losses_by_trial: dict[str, list[float]]) -> None:
    for trial, losses in losses_by_trial.items():
        feed(diagnoser, trial, with_losses(losses))


def test_healthy_trial_runs_to_the_end():
    diagnoser = Diagnoser()
    for n in range(1, 21):
        assert not diagnoser.assess("good", healthy_history(n)).stop


def test_stop_verdict_explains_itself():
    verdict = feed(Diagnoser(), "flat", with_losses(FLAT[:3]))
    assert verdict.stop and verdict.reason.indicator == "PLC" and verdict.epoch == 2 and verdict.report == 3
    line = verdict.to_json()
    assert line["indicator"] == "PLC" and line["kind"] == "problem" and line["rule"].startswith("mean |L[t]")
    assert line["value"] == pytest.approx(0.001) and line["threshold"] == pytest.approx(0.023)
    assert "trial flat stopped at epoch 2" in verdict.explain() and "PLC" in verdict.explain()


def test_a_stopped_trial_stays_stopped_without_reevaluation():
    diagnoser = Diagnoser()
    first = feed(diagnoser, "flat", with_losses(FLAT[:3]))
    later = diagnoser.assess("flat", with_losses(FLAT))
    assert later is first and diagnoser.stopped["flat"] is first


def test_priority_order_picks_the_reason_and_all_firings_are_listed():
    raw = record(0, grad=[2e4, 3e4, 0.0], train_loss=math.nan)
    verdict = Diagnoser().assess("t", [raw])
    assert verdict.reason.indicator == "AGV" and verdict.fired == ("AGV", "EAG", "ERG")


def test_non_finite_values_are_serialised_as_strings():
    verdict = Diagnoser().assess("t", [record(0, train_loss=math.inf)])
    line = verdict.to_json()
    assert line["value"] == "Infinity" and line["train_loss"] is None
    assert Verdict.from_json(line).reason.value == math.inf


def test_patience_needs_consecutive_firing_reports():
    diagnoser = Diagnoser(AssessorConfig.from_class_args({"patience": 2}))
    history = with_losses([2.3, 2.299, 2.298, 2.297])
    assert not any(diagnoser.assess("t", history[:n]).stop for n in (1, 2))
    first_firing = diagnoser.assess("t", history[:3])
    assert first_firing.fired == ("PLC",) and not first_firing.stop
    assert diagnoser.assess("t", history[:4]).stop  # second consecutive firing report


def test_patience_streak_resets_when_the_indicator_goes_quiet():
    diagnoser = Diagnoser(AssessorConfig.from_class_args({"patience": 2, "indicators": {"PLC": False}}))
    spikes = [record(e, grad=[2e4, 3e4, 4e4] if e in (0, 2, 4) else None) for e in range(5)]
    assert not any(diagnoser.assess("t", spikes[:n]).stop for n in range(1, 6))


def test_disabled_indicator_never_fires():
    diagnoser = Diagnoser(AssessorConfig.from_class_args({"indicators": {"PLC": {"enabled": False}}}))
    assert not feed(diagnoser, "flat", with_losses(FLAT)).stop


def test_max_epochs_setting_is_used_when_reports_lack_it():
    flat = [{"default": 0.1, "epoch": e, "train_loss": loss} for e, loss in enumerate(FLAT)]
    assert not feed(Diagnoser(), "t", flat).stop  # PLC is first-half only: unknown stage, no verdict
    assert feed(Diagnoser(AssessorConfig.from_class_args({"max_epochs": 20})), "t", flat).stop


def test_epoch_falls_back_to_report_position():
    verdict = Diagnoser().assess("t", [0.1, 0.2, 0.3])
    assert verdict.epoch == 2 and verdict.report == 3


# Cross-trial protection -------------------------------------------------------------------------


def test_trial_among_the_best_losses_is_protected_from_protected_indicators():
    diagnoser = Diagnoser()
    add_peers(diagnoser, {f"peer{i}": [2.0 + 0.1 * i] * 4 for i in range(10)})
    # The peers are flat too and were stopped by PLC; a flat trial with the lowest loss is not.
    verdict = feed(diagnoser, "best", with_losses([1.0, 0.999, 0.998, 0.997]))
    assert verdict.protected and not verdict.stop and verdict.fired == ()
    assert "best" in diagnoser.protected_trials


def test_protection_needs_min_peers():
    diagnoser = Diagnoser()
    add_peers(diagnoser, {f"peer{i}": [2.0 + 0.1 * i] * 4 for i in range(9)})
    verdict = feed(diagnoser, "best", with_losses([1.0, 0.999, 0.998]))
    assert not verdict.protected and verdict.stop


def test_protection_percentile_is_honoured():
    config = AssessorConfig.from_class_args({"min_peers": 4, "protect_percentile": 50})
    diagnoser = Diagnoser(config)
    add_peers(diagnoser, {"a": [1.0] * 3, "b": [2.0] * 3, "c": [3.0] * 3, "d": [4.0] * 3})
    assert feed(diagnoser, "median", with_losses([2.5, 2.499, 2.498])).protected  # 50th pct = 2.5
    assert not feed(diagnoser, "worse", with_losses([2.6, 2.599, 2.598])).protected


def test_protection_never_shields_unprotected_indicators():
    diagnoser = Diagnoser()
    add_peers(diagnoser, {f"peer{i}": [2.0 + 0.1 * i] * 2 for i in range(10)})
    exploding = [record(0, train_loss=0.5), record(1, train_loss=0.4, grad=[2e4, 3e4, 4e4])]
    verdict = feed(diagnoser, "t", exploding)
    assert verdict.protected and verdict.stop and verdict.reason.indicator == "EAG"


def test_protection_is_sticky_by_default_and_can_be_turned_off():
    def run(sticky: bool) -> Verdict:
        diagnoser = Diagnoser(AssessorConfig.from_class_args({"sticky_protection": sticky}))
        add_peers(diagnoser, {f"peer{i}": [1.0 + 0.1 * i] + [1.0] * 4 for i in range(10)})
        # Best at epoch 0 only; mostly dead units from the start, which LAR judges from epoch 4.
        losses = [0.5, 2.0, 1.9, 1.8, 1.7]
        dying = [record(e, train_loss=loss, zero_share=[0.8] * 3) for e, loss in enumerate(losses)]
        return feed(diagnoser, "t", dying)

    assert not run(sticky=True).stop
    verdict = run(sticky=False)
    assert verdict.stop and verdict.reason.indicator == "LAR"


def test_non_finite_losses_never_enter_peer_lists():
    diagnoser = Diagnoser()
    for i in range(20):
        feed(diagnoser, f"nan{i}", [record(0, train_loss=math.nan)])
        feed(diagnoser, f"inf{i}", [record(0, train_loss=math.inf)])
    assert diagnoser.peers.count(0) == 0


def test_a_trial_is_not_its_own_peer():
    diagnoser = Diagnoser(AssessorConfig.from_class_args({"min_peers": 1}))
    assert not diagnoser.assess("solo", with_losses([1.0])).protected
    assert diagnoser.peers.count(0) == 1


def test_peer_percentile_matches_numpy():
    peers = PeerValues()
    values = np.random.default_rng(0).lognormal(size=101)
    for i, value in enumerate(values):
        peers.add(f"t{i}", 3, float(value))
    for q in (0, 10, 37.5, 50, 100):
        assert peers.percentile(3, q) == pytest.approx(np.percentile(values, q))


# Restore ----------------------------------------------------------------------------------------


def test_restore_from_journal_rebuilds_cross_trial_state():
    original = Diagnoser()
    journal = []

    def journaled(trial: str, history: list) -> None:
        journal.extend(original.assess(trial, history[:n]).to_json() for n in range(1, len(history) + 1))

    for i in range(12):
        journaled(f"t{i}", metric_follows_loss(with_losses([2.0 + 0.1 * i, 1.8 + 0.1 * i, 1.5 + 0.1 * i])))
    journaled("best", with_losses([0.5, 0.499, 0.498]))
    journaled("flat", with_losses(FLAT[:3]))

    restored = Diagnoser()
    assert restored.restore(Verdict.from_json(line) for line in journal) == len(journal)
    for epoch in range(3):
        assert restored.peers.count(epoch) == original.peers.count(epoch) == 14
        assert restored.peers.percentile(epoch, 10) == original.peers.percentile(epoch, 10)
        assert restored.peer_metrics.count(epoch) == original.peer_metrics.count(epoch) == 14  # RNK's peers
    agreement = original.peer_metrics.rank_agreement(0, 2)  # RNK's check reads each trial's own values
    assert restored.peer_metrics.rank_agreement(0, 2) == agreement and agreement[1] == 14
    assert restored.protected_trials == original.protected_trials == {"best"}
    assert restored.stopped.keys() == original.stopped.keys() == {"flat"}
    assert restored.stopped["flat"].reason == original.stopped["flat"].reason


def test_a_train_loss_standing_in_for_the_metric_is_not_ranked_where_trials_maximize():
    # the Reporter's records before a trial's first validation: default is the train loss, flagged
    before_validation = record(0, default=2.3, train_loss=2.3, default_is_train_loss=1)
    validated = record(1, default=0.8, train_loss=1.1, val_acc=0.8)
    for direction, ranked_at_epoch_0 in (("maximize", 0), ("minimize", 1)):
        diagnoser = Diagnoser(AssessorConfig(direction=direction))
        first = diagnoser.assess("t1", [before_validation])
        second = diagnoser.assess("t1", [before_validation, validated])
        assert diagnoser.peer_metrics.count(0) == ranked_at_epoch_0 and diagnoser.peer_metrics.count(1) == 1
        assert first.default == (None if direction == "maximize" else 2.3) and second.default == 0.8
    # a metric that happens to equal the train loss is still a metric
    assert Diagnoser().assess("t2", [record(0, default=0.62, train_loss=0.62)]).default == 0.62
