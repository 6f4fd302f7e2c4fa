"""What BTTacklerPruner costs an Optuna study, against no pruner, measured side by side.

Each trial of an in-memory study reports ``--epochs`` synthetic Reporter-shaped records (no
training: only the pruner's own work is timed) through ``report_epoch``; a share of them is pruned,
so the pruned study runs fewer reports. Printed per study size: seconds with ``NopPruner`` and with
``BTTacklerPruner`` (the best of ``--repeats`` rounds each, the two alternating), and the pruner's
cost per report: the pruned study's seconds less what the unpruned one took for as many reports.
The cost per report grows with the study only as far as the diagnosis does (RNK ranks against
more peers); a pruner that walked every trial the study ever ran at every report would add a
cost that grows with the study too.

    python benchmarks/optuna_pruner_cost.py --trials 200 600 1800
"""

from __future__ import annotations

import argparse
import logging
import platform
import time

import optuna

from bttackler_nni.adapters.optuna import BTTacklerPruner, report_epoch


def study_seconds(pruner: optuna.pruners.BasePruner, trials: int, epochs: int) -> tuple[float, int]:
    """Seconds to run the study, and the reports it made."""
    reports = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal reports
        rate = trial.suggest_float("rate", 0.5, 1.0)
        value = 0.0
        for epoch in range(epochs):
            value = 0.1 + 0.04 * epoch * rate
            record = {"epoch": epoch, "max_epochs": epochs, "train_loss": 2.0 - 0.09 * epoch * rate}
            reports += 1
            report_epoch(trial, {**record, "val_acc": value, "default": value})
        return value

    study = optuna.create_study(direction="maximize", pruner=pruner, sampler=optuna.samplers.RandomSampler(0))
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - started, reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[200, 600, 1800], help="study sizes")
    parser.add_argument("--epochs", type=int, default=20, help="reports per trial that is not pruned")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (no pruner, BTTackler)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("bttackler_nni").setLevel(logging.ERROR)  # one warning per pruned trial
    print(f"# optuna {optuna.__version__}, python {platform.python_version()}, {platform.machine()}")
    print(f"{'trials':>7} {'reports':>8} {'no pruner s':>12} {'BTTackler s':>12} {'pruner ms/report':>17}")
    for trials in args.trials:
        plain, bttackler, reports = [], [], 0
        for _ in range(args.repeats):
            plain.append(study_seconds(optuna.pruners.NopPruner(), trials, args.epochs)[0])
            seconds, reports = study_seconds(BTTacklerPruner(), trials, args.epochs)
            bttackler.append(seconds)
        per_report = (min(bttackler) - min(plain) * reports / (trials * args.epochs)) / reports
        print(
            f"{trials:>7} {reports:>8} {min(plain):>12.2f} {min(bttackler):>12.2f} {1000 * per_report:>17.3f}"
        )


if __name__ == "__main__":
    main()
