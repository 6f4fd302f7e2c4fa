"""What a ranking rule could see early in a trace bank, and what a stop saves: the four analyses of
benchmarks/results/simulate/policy/round7.txt, read from the bank files.

A trace's result here is its best reported ``default`` metric (a run's final result is its best
epoch); a trace without a finite one counts as the worst.

    python benchmarks/bank_signals.py signals benchmarks/banks/pools/*.jsonl    # analysis 1
    python benchmarks/bank_signals.py gains benchmarks/banks/pools/*.jsonl      # analysis 2
    python benchmarks/bank_signals.py saving BANK...                            # analysis 3
    python benchmarks/bank_signals.py speed BANK...                             # analysis 4

(The pools are written by benchmarks/simulate_pools.sh.)
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import spearmanr

from bttackler_nni.diagnosis.direction import Direction
from bttackler_nni.evaluation.banks import Bank, BankError, BankTrial, read_bank

WORST = -1e9  # the score of a trace or epoch without a finite metric


def score(bank: Bank, value: float | None) -> float:
    """``value`` turned so that higher is better; ``WORST`` when missing or not finite."""
    if value is None or not math.isfinite(value):
        return WORST
    return -bank.direction.score(value)


def results(bank: Bank) -> np.ndarray:
    """Each trace's best score over its epochs."""
    return np.array([max(score(bank, epoch.value) for epoch in trial.epochs) for trial in bank.trials])


def best_share(scores: np.ndarray, share: float) -> np.ndarray:
    """Which traces are among the best ``share`` by their :func:`results` ``scores``."""
    return scores >= np.quantile(scores, 1 - share)


def mean_epoch_seconds(trial: BankTrial) -> float:
    return trial.seconds / len(trial.epochs)


def name(bank: Bank) -> str:
    return bank.path.name if bank.path else bank.task


def signals(bank: Bank) -> str:
    """Analysis 1: at epochs 0-2, Spearman of the default metric, the validation loss and the train
    loss (each turned so that higher is better) with the result, and after the slash the share of the
    best tenth below the median of that quantity."""
    scores = results(bank)
    best = best_share(scores, 0.1)
    sign = 1.0 if bank.direction is Direction.MAXIMIZE else -1.0
    quantities: dict[str, Callable[[BankTrial, int], float]] = {
        "def": lambda trial, e: sign * _field(trial, e, "default"),
        "vl": lambda trial, e: -_field(trial, e, "val_loss"),
        "tl": lambda trial, e: -_field(trial, e, "train_loss"),
    }
    parts = [name(bank)[:22]]
    for epoch in range(3):
        reached = [i for i, trial in enumerate(bank.trials) if len(trial.epochs) > epoch]
        cells = []
        for label, quantity in quantities.items():
            values = np.array([quantity(bank.trials[i], epoch) for i in reached])
            finite = np.isfinite(values)
            rho = spearmanr(values[finite], scores[reached][finite])[0]
            below = values < np.median(values[finite])
            winners = best[reached]
            cells.append(f"{label} {rho:.2f}/{share_of(winners, below):.2f}")
        parts.append(f"e{epoch}: " + " ".join(cells))
    return " | ".join(parts)


def _field(trial: BankTrial, epoch: int, key: str) -> float:
    """One record field at one epoch, NaN when missing or zero (as the analysis was first run)."""
    record = trial.epochs[epoch].record
    value = record.get(key) if isinstance(record, dict) else None
    return float(value) if value else math.nan


def gains(bank: Bank, share: float = 0.25) -> str:
    """Analysis 2: among the traces below the median at epoch e (1-3), the best ``share`` against the
    rest: how many of the best stood there, the share of each whose gain since e-1 beat the median
    gain ("fast"), and the share whose value plus that gain reached the median ("proj")."""
    best = best_share(results(bank), share)
    parts = [name(bank)[:22]]
    for epoch in (1, 2, 3):
        reached = [i for i, trial in enumerate(bank.trials) if len(trial.epochs) > epoch]
        now = np.array([score(bank, bank.trials[i].epochs[epoch].value) for i in reached])
        before = np.array([score(bank, bank.trials[i].epochs[epoch - 1].value) for i in reached])
        gain, median = now - before, np.median(now)
        below = now < median
        winners, others = below & best[reached], below & ~best[reached]
        fast, reaches = gain > np.median(gain), now + gain >= median
        parts.append(
            f"e{epoch}: win<med {winners.sum()} fast {share_of(winners, fast):.2f} vs "
            f"{share_of(others, fast):.2f} proj {share_of(winners, reaches):.2f} vs "
            f"{share_of(others, reaches):.2f}"
        )
    return " | ".join(parts)


def share_of(mask: np.ndarray, hits: np.ndarray) -> float:
    """The share of ``hits`` among the traces in ``mask``; NaN when it holds none."""
    return float(np.mean(hits[mask])) if mask.any() else math.nan


def saving_share(epochs: int, epoch_seconds: float, startup: float) -> float:
    """The share of a trial's cost a stop at its first report saves."""
    return (epochs - 1) * epoch_seconds / (startup + epochs * epoch_seconds)


def saving(bank: Bank) -> str:
    """Analysis 3: the median trace's length and epoch, the bank's start-up, and what a stop at the
    first report saves of such a trace."""
    epoch_seconds = float(np.median([mean_epoch_seconds(trial) for trial in bank.trials]))
    trial_seconds = float(np.median([trial.seconds for trial in bank.trials]))
    startup = _startup(bank)
    share = saving_share(bank.max_epochs, epoch_seconds, startup)
    return (
        f"{name(bank).removesuffix('.jsonl'):26s} {bank.max_epochs:6d} {trial_seconds:8.1f} "
        f"{epoch_seconds:17.2f} {startup:11.1f} {share:10.2f}"
    )


SAVING_HEADER = (
    "bank                       epochs  trial s  epoch s (median)  start-up s  e0 saving share (median trial)"
)


def speed(bank: Bank) -> str:
    """Analysis 4: how a trace's epoch speed goes with its result, and the saving share of the best
    tenth against all when each trace's own speed is used."""
    scores = results(bank)
    best = best_share(scores, 0.1)
    speeds = np.array([mean_epoch_seconds(trial) for trial in bank.trials])
    startup = _startup(bank)
    shares = np.array([saving_share(bank.max_epochs, seconds, startup) for seconds in speeds])
    return (
        f"{name(bank)[:24]:24s} rho(epoch s, final)={spearmanr(speeds, scores)[0]:+.2f}  epoch s: "
        f"top10% median {np.median(speeds[best]):.2f} vs all {np.median(speeds):.2f}; e0 saving share "
        f"(measured start-up) top10% {np.median(shares[best]):.2f} all {np.median(shares):.2f}, "
        f"share of trials >=0.7: {np.mean(shares >= 0.7):.2f}"
    )


def _startup(bank: Bank) -> float:
    if bank.startup_seconds is None:
        raise SystemExit(f"{name(bank)}: its header has no startup_seconds; the saving share needs one")
    return bank.startup_seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("analysis", choices=("signals", "gains", "saving", "speed"))
    parser.add_argument("banks", nargs="+")
    args = parser.parse_args(argv)
    analysis = {"signals": signals, "gains": gains, "saving": saving, "speed": speed}[args.analysis]
    if args.analysis == "saving":
        print(SAVING_HEADER)
    for path in args.banks:
        try:
            bank = read_bank(path)
        except BankError as error:
            raise SystemExit(str(error)) from None
        print(analysis(bank))


if __name__ == "__main__":
    main()
