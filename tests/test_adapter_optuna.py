"""BTTacklerPruner on real Optuna studies (CPU, digits): broken trials pruned with reasons, peers shared."""

from __future__ import annotations

import collections
import logging
import time

import pytest

optuna = pytest.importorskip("optuna")

import torch  # noqa: E402
from digits_task import split_digits, train_epoch  # noqa: E402
from digits_torch import mlp  # noqa: E402

from bttackler_nni import AssessorConfig, ConfigError, Reporter, Verdict  # noqa: E402
from bttackler_nni.adapters.optuna import STOP_ATTR, BTTacklerPruner, report_epoch, stored_records  # noqa: E402
from bttackler_nni.diagnosis.engine import Diagnoser  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
EPOCHS = 6
DATA = split_digits()


def objective(trial: optuna.Trial) -> float:
    """``EPOCHS`` epochs of an MLP on digits with SGD at the suggested learning rate."""
    model = mlp(trial.suggest_int("depth", 1, 3), width=64)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=trial.suggest_float("lr", 1e-8, 1e3, log=True), momentum=0.9
    )
    reporter = Reporter(model, optimizer, max_epochs=EPOCHS, report_to_nni=False)
    generator = torch.Generator().manual_seed(trial.number)
    for _ in range(EPOCHS):
        train_loss, _, val_acc = train_epoch(model, optimizer, DATA, generator)
        report_epoch(trial, reporter.end_epoch(train_loss=train_loss, val_acc=val_acc))
    reporter.close()
    return val_acc


def run_study(
    trials: list[dict], config: AssessorConfig | None = None
) -> tuple[optuna.Study, BTTacklerPruner]:
    pruner = BTTacklerPruner(config)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for params in trials:
        study.enqueue_trial(params)
    study.optimize(objective, n_trials=len(trials))
    return study, pruner


HEALTHY = {"depth": 2, "lr": 0.05}
EXPLODING = {"depth": 3, "lr": 500.0}
STALLED = {"depth": 1, "lr": 1e-7}


def test_broken_trials_are_pruned_with_their_indicator_and_healthy_ones_complete(caplog):
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        study, _ = run_study([HEALTHY, EXPLODING, STALLED])
    healthy, exploding, stalled = study.trials
    assert healthy.state == optuna.trial.TrialState.COMPLETE and STOP_ATTR not in healthy.user_attrs
    assert len(stored_records(healthy)) == EPOCHS and healthy.value > 0.9
    assert exploding.state == stalled.state == optuna.trial.TrialState.PRUNED
    exploded, stall = (Verdict.from_json(t.user_attrs[STOP_ATTR]) for t in (exploding, stalled))
    assert (exploded.reason.indicator, exploded.epoch, exploded.trial) == ("AGV", 0, "1")
    assert (stall.reason.indicator, stall.epoch) == ("PLC", 2)  # PLC needs three losses, in the first half
    assert exploding.last_step == 0 and len(stored_records(exploding)) == 1
    assert "BTTackler prunes trial 1 stopped at epoch 0 (report 1) by AGV" in caplog.text


def test_peers_across_trials_protect_the_best_from_the_protected_indicators():
    # three peers at each epoch, then a trial better than all of them at every epoch: protected
    config = AssessorConfig(min_peers=3, protect_percentile=10)
    study, pruner = run_study([{"depth": 1, "lr": 1e-3}] * 3 + [HEALTHY], config)
    assert [pruner.verdicts[n].protected for n in range(4)] == [False, False, False, True]
    assert study.trials[3].state == optuna.trial.TrialState.COMPLETE


def test_another_process_judges_the_stored_study_the_same(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner(), storage=storage)
    for params in (HEALTHY, EXPLODING):
        study.enqueue_trial(params)
    study.optimize(objective, n_trials=2)
    # a second worker: a fresh pruner on the same storage, which only sees what the storage holds
    loaded = optuna.load_study(study_name=study.study_name, storage=storage)
    again = BTTacklerPruner()
    assert [again.prune(loaded, t) for t in loaded.trials] == [False, True]
    assert again.verdicts[1].to_json() == loaded.trials[1].user_attrs[STOP_ATTR]


def test_threads_of_one_study_judge_each_record_once(monkeypatch):
    # study.optimize(n_jobs=4) calls the pruner from four threads at once; a record judged twice
    # would count twice towards patience. A short sleep inside assess widens the window.
    judged: collections.Counter[tuple[str, int]] = collections.Counter()
    assess = Diagnoser.assess

    def slow_assess(self, trial, history):
        judged[trial, len(history)] += 1
        time.sleep(0.001)
        return assess(self, trial, history)

    monkeypatch.setattr(Diagnoser, "assess", slow_assess)

    def synthetic(trial: optuna.Trial) -> float:
        rate = trial.suggest_float("rate", 0.0, 1.0)
        for epoch in range(EPOCHS):
            value = 0.1 + 0.1 * epoch * rate
            record = {"epoch": epoch, "max_epochs": EPOCHS, "train_loss": 2.0 - 0.2 * epoch * rate}
            report_epoch(trial, {**record, "val_acc": value, "default": value})
        return value

    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner())
    study.optimize(synthetic, n_trials=24, n_jobs=4)
    assert judged and max(judged.values()) == 1
    assert sum(judged.values()) == sum(len(stored_records(t)) for t in study.trials)


def declining_losses(trial: optuna.Trial) -> float:
    """A regression study: each trial's val loss falls 2% per epoch from its start ``base``."""
    base = trial.suggest_float("base", 0.1, 1.0)
    for epoch in range(EPOCHS):
        loss = base * (1 - 0.02 * epoch)
        record = {"epoch": epoch, "max_epochs": EPOCHS, "train_loss": loss, "val_loss": loss}
        report_epoch(trial, {**record, "default": loss})
    return loss


def test_a_minimizing_study_ranks_trials_as_it_minimizes():
    study = optuna.create_study(direction="minimize", pruner=BTTacklerPruner())
    for base in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.2):  # the last, the lowest loss, is the best trial
        study.enqueue_trial({"base": base})
    study.optimize(declining_losses, n_trials=7)
    best, worst = study.trials[6], study.trials[5]
    assert best.state == optuna.trial.TrialState.COMPLETE
    assert worst.state == optuna.trial.TrialState.PRUNED
    assert Verdict.from_json(worst.user_attrs[STOP_ATTR]).reason.indicator == "RNK"


def test_settings_that_rank_against_the_study_are_refused_at_the_first_report():
    study = optuna.create_study(direction="minimize", pruner=BTTacklerPruner(AssessorConfig(patience=2)))
    with pytest.raises(ConfigError, match=r"direction is maximize, but the study's direction is minimize"):
        study.optimize(declining_losses, n_trials=1)
