"""Round 10 side check: would a median rule at an early epoch keep each bank's best trials?

For each bank, over its trials that reported every planned epoch: of the bank's best 10% of final
results, how many stood in the better half of all those trials at epochs 0-3, and the worst place
(the share of trials ahead) any of them held there. A rule that stops the worse half at an epoch
(NNI's Medianstop, or RNK without its agreement check and saving gate) loses the others.

    python benchmarks/results/simulate/policy/round10_epoch0_median.py benchmarks/banks/*.jsonl
"""

import sys

import numpy as np

from bttackler_nni.evaluation.banks import read_bank


def main():
    for path in sys.argv[1:]:
        bank = read_bank(path)
        score, epochs = bank.direction.score, bank.max_epochs
        full = [
            t
            for t in bank.trials
            if len(t.epochs) == epochs and all(e.value is not None and np.isfinite(e.value) for e in t.epochs)
        ]
        best = sorted(full, key=lambda t: score(t.epochs[-1].value))[: max(1, len(full) // 10)]
        cells = []
        for epoch in range(min(epochs - 1, 4)):
            scores = sorted(score(t.epochs[epoch].value) for t in full)
            median = scores[len(scores) // 2]
            kept = sum(score(t.epochs[epoch].value) <= median for t in best)
            worst = max(sum(s < score(t.epochs[epoch].value) for s in scores) / len(scores) for t in best)
            cells.append(f"e{epoch} {kept}/{len(best)} (worst {worst:.2f})")
        print(f"{bank.name:26s} {epochs:2d} epochs | " + "  ".join(cells))


if __name__ == "__main__":
    main()
