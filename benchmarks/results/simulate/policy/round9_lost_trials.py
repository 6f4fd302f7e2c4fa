"""Round 9 analysis: which stops of the default cost it a place in the pooled top 10 (halves draws).

For each seed, a stopped trial of the default's run is *lost* when its recorded final result would
have ranked in the pooled top 10 of that seed (the default's results with every stopped trial's final
value in place of its value at the stop, and the baseline's). Counts lost trials by the stop's
indicator and by the epoch of the stop, next to all stops.

    python benchmarks/results/simulate/policy/round9_lost_trials.py BANK {none,measured}
"""

import sys
from collections import Counter

from bttackler_nni.evaluation.arms import resolve_arm
from bttackler_nni.evaluation.banks import read_bank
from bttackler_nni.evaluation.simulation import simulate


def lost_stops(sim, arm, score):
    """All stops of ``arm`` over the seeds of ``sim``, and the lost ones, counted by indicator and epoch."""
    stops, lost = Counter(), Counter()
    for outcome, baseline in zip(sim.of(arm), sim.baselines, strict=True):
        finals = [t.source.value for t in outcome.run.ended if t.source.value is not None]
        pooled = sorted([*finals, *(v for _, v in baseline.results())], key=score)[:10]
        cut = score(pooled[-1])
        for t in outcome.run.ended:
            if not t.stopped:
                continue
            key = f"{t.reason} at epoch {t.reports - 1}"
            stops[key] += 1
            if t.source.value is not None and score(t.source.value) <= cut:
                lost[key] += 1
    return stops, lost


def print_lost(stops, lost):
    """The stops that lost a trial, most first, and the totals."""
    for key, count in sorted(stops.items(), key=lambda kv: (-lost[kv[0]], kv[0])):
        if lost[key]:
            print(f"  {key:22s} {lost[key]:4d} / {count}")
    print(f"  all stops: {sum(lost.values())} lost of {sum(stops.values())}")


def main():
    bank, startup = read_bank(sys.argv[1]), sys.argv[2]
    seconds = bank.startup_seconds if startup == "measured" else 0.0
    arms = [resolve_arm("none", bank), resolve_arm("default", bank)]
    sim = simulate(bank, arms, seeds=50, budget_frac=0.5, concurrency=8, sampling="halves", startup=seconds)
    print(f"{bank.name} halves {startup}: lost / stops (50 seeds)")
    print_lost(*lost_stops(sim, "default", bank.direction.score))


if __name__ == "__main__":
    main()
