"""An Optuna study whose broken trials BTTackler prunes, each with its reason.

TPE searches an MLP's depth and SGD learning rate on scikit-learn's digits over a deliberately wide
range: huge learning rates blow up (AGV, EAG), tiny ones do not move the loss (PLC). Run::

    python examples/optuna/study.py --trials 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import optuna
import torch

from bttackler_nni import Reporter
from bttackler_nni.adapters.optuna import STOP_ATTR, BTTacklerPruner, report_epoch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from digits_task import mlp, split_digits, train_epoch  # noqa: E402

EPOCHS = 10
DATA = split_digits()


def objective(trial: optuna.Trial) -> float:
    model = mlp(trial.suggest_int("depth", 1, 3))
    lr = trial.suggest_float("lr", 1e-7, 1e3, log=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    reporter = Reporter(model, optimizer, max_epochs=EPOCHS, report_to_nni=False)  # BTTackler (1/2)
    generator = torch.Generator().manual_seed(trial.number)
    for _ in range(EPOCHS):
        train_loss, val_loss, val_acc = train_epoch(model, optimizer, DATA, generator)
        record = reporter.end_epoch(train_loss=train_loss, val_loss=val_loss, val_acc=val_acc)
        report_epoch(trial, record)  # BTTackler (2/2): trial.report, and raises TrialPruned with the reason
    reporter.close()
    return val_acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed), pruner=BTTacklerPruner()
    )
    study.optimize(objective, n_trials=args.trials)
    for trial in study.trials:
        params = f"depth={trial.params['depth']} lr={trial.params['lr']:.3g}"
        if trial.state == optuna.trial.TrialState.PRUNED:
            stop = trial.user_attrs[STOP_ATTR]
            reason = f"{stop['indicator']} ({stop['title']}), observed {stop['value']:.4g}"
            print(f"trial {trial.number:>2} {params:<22} pruned at epoch {stop['epoch']}: {reason}")
        else:
            print(
                f"trial {trial.number:>2} {params:<22} {trial.state.name.lower()}: val_acc {trial.value:.4f}"
            )
    print(f"best: trial {study.best_trial.number}, val_acc {study.best_value:.4f}")


if __name__ == "__main__":
    main()
