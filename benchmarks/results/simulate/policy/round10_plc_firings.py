"""Round 10 analysis: on which trials of a bank PLC fires, replayed trial by trial (no search, no peers'
order): for each PLC threshold, how many trials it would fire on in its stage, and how many of those
end in the bank's best 10% and 20% of final results; and how many of its firings (at 0.01, the
default) a veto "at most a quarter of the other trials beat its metric at that epoch" would hold.

    python benchmarks/results/simulate/policy/round10_plc_firings.py benchmarks/banks/*.jsonl
"""

import sys

from bttackler_nni.diagnosis.history import TrialHistory
from bttackler_nni.diagnosis.indicators import PassiveLossChanges
from bttackler_nni.evaluation.banks import read_bank
from bttackler_nni.record import parse_record

THRESHOLDS = (0.01, 0.005, 0.0025)


def first_firing(records, max_epochs, plc):
    """The first epoch at which the indicator ``plc`` fires on the trial's ``records``, or ``None``
    (its own stage and rule; no protection, since that depends on the search's order)."""
    for epoch in range(len(records)):
        history = TrialHistory(records[: epoch + 1], max_epochs)
        if plc.applies(history, protected=False) and plc.check(history):
            return epoch
    return None


def main():
    for path in sys.argv[1:]:
        bank = read_bank(path)
        score = bank.direction.score
        finals = sorted((t.value for t in bank.trials if t.value is not None), key=score)
        cut10, cut20 = (score(finals[max(0, len(finals) // k - 1)]) for k in (10, 5))
        cells, held, held_good = [], 0, 0
        parsed = {t.trial: [parse_record(e.record)[0] for e in t.epochs] for t in bank.trials}
        for threshold in THRESHOLDS:
            plc = PassiveLossChanges(PassiveLossChanges.Settings(rel_change_min=threshold))
            fired = top10 = top20 = 0
            for trial in bank.trials:
                epoch = first_firing(parsed[trial.trial], bank.max_epochs, plc)
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
