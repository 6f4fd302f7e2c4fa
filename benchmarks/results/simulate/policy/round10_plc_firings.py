"""Round 10 analysis: on which trials of a bank PLC fires, replayed trial by trial (no search, no peers'
order): for each PLC threshold, how many trials it would fire on in its stage, and how many of those
end in the bank's best 10% and 20% of final results; and how many of its firings (at 0.01, the
default) a veto "at most a quarter of the other trials beat its metric at that epoch" would hold.

    python benchmarks/results/simulate/policy/round10_plc_firings.py benchmarks/banks/*.jsonl
"""

import sys

import numpy as np

from bttackler_nni.evaluation.banks import read_bank

THRESHOLDS = (0.01, 0.005, 0.0025)
MIN_EPOCHS = 3  # PLC's default


def _train_loss(record):
    return record.get("train_loss") if isinstance(record, dict) else None


def first_firing(losses, max_epochs, rel_change_min):
    """The first epoch of the first half at which PLC's rule holds on ``losses``, or ``None``."""
    for epoch in range(MIN_EPOCHS - 1, len(losses)):
        if epoch >= max_epochs / 2:
            return None
        seen = np.array([x for x in losses[: epoch + 1] if x is not None and np.isfinite(x)])
        if seen.size >= MIN_EPOCHS and np.mean(np.abs(np.diff(seen))) < rel_change_min * abs(seen[0]):
            return epoch
    return None


def main():
    for path in sys.argv[1:]:
        bank = read_bank(path)
        score = bank.direction.score
        finals = sorted((t.value for t in bank.trials if t.value is not None), key=score)
        cut10, cut20 = (score(finals[max(0, len(finals) // k - 1)]) for k in (10, 5))
        cells, held, held_good = [], 0, 0
        for threshold in THRESHOLDS:
            fired = top10 = top20 = 0
            for trial in bank.trials:
                losses = [_train_loss(e.record) for e in trial.epochs]
                epoch = first_firing(losses, bank.max_epochs, threshold)
                if epoch is None:
                    continue
                fired += 1
                final = score(trial.value) if trial.value is not None else float("inf")
                top10 += final <= cut10
                top20 += final <= cut20
                if threshold == THRESHOLDS[0]:
                    value = trial.epochs[epoch].value
                    peers = [
                        o.epochs[epoch].value
                        for o in bank.trials
                        if o is not trial and len(o.epochs) > epoch and o.epochs[epoch].value is not None
                    ]
                    if value is not None and sum(score(p) < score(value) for p in peers) <= 0.25 * len(peers):
                        held += 1
                        held_good += final <= cut20
            cells.append(f"{threshold:<6g} {fired:3d} ({top10} / {top20})")
        print(
            f"{bank.name:26s} {len(bank.trials):3d} {bank.max_epochs:2d} | "
            + " | ".join(cells)
            + f" | held {held:2d} ({held_good} in top 20%)"
        )


if __name__ == "__main__":
    main()
