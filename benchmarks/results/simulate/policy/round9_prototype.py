"""Round 9 screen (a prototype, not product code): hold back stops that only free a worker once the
search has no trial left to start.

In a search capped by a trial count (NNI's ``maxTrialNumber``; the simulator's halves draws, where
the arms draw from a half of the bank and workers idle once it is used up), a stop of a healthy trial
after the last trial has started frees a worker that has nothing to run: it cannot gain a result,
and it can lose a late bloomer. The prototype counts the distinct trials that reported (what the live
assessor could count, against ``maxTrialNumber`` read from the experiment) and, once they reach the
half's size, vetoes every indicator of the given kinds by patching the engine's indicator instances.

    python benchmarks/results/simulate/policy/round9_prototype.py BANK {none,measured}

prints one line per arm: halves draws, 50 paired seeds, concurrency 8, budget fraction 0.5 (the
tables' setting); ``none``/``measured``: the start-up charged per trial.
"""

import statistics
import sys

from bttackler_nni.diagnosis.indicators import Kind
from bttackler_nni.evaluation.arms import DiagnosisPolicy, config_for_bank, resolve_arm
from bttackler_nni.evaluation.banks import read_bank
from bttackler_nni.evaluation.simulation import Arm, simulate


class HeldBackWhenExhausted(DiagnosisPolicy):
    """The default engine, with indicators of ``kinds`` vetoed once ``max_trials`` trials reported."""

    def __init__(self, config, max_trials, kinds):
        super().__init__(config)
        self.max_trials, self.kinds, self.seen, self.exhausted = max_trials, kinds, set(), False

    def assess(self, trial, history):
        self.seen.add(trial)
        if not self.exhausted and len(self.seen) >= self.max_trials:
            for indicator in self.diagnoser._indicators:
                if indicator.kind in self.kinds:
                    object.__setattr__(indicator, "veto", lambda _trial: "no trial left to start")
            self.exhausted = True
        return super().assess(trial, history)


def main():
    bank, startup = read_bank(sys.argv[1]), sys.argv[2]
    half = len(bank.trials) // 2
    config = config_for_bank({}, bank)
    arms = [
        resolve_arm("none", bank),
        resolve_arm("default", bank),
        resolve_arm("medianstop", bank),
        Arm("x-rnk", "RNK held back", lambda seed: HeldBackWhenExhausted(config, half, {Kind.HOPELESS})),
        Arm(
            "x-rnk+conv",
            "RNK, NMG and ULC held back",
            lambda seed: HeldBackWhenExhausted(config, half, {Kind.HOPELESS, Kind.CONVERGED}),
        ),
    ]
    seconds = bank.startup_seconds if startup == "measured" else 0.0
    sim = simulate(bank, arms, seeds=50, budget_frac=0.5, concurrency=8, sampling="halves", startup=seconds)
    for arm in arms:
        outcomes = sim.of(arm.name)
        reached = [o.tsba for o in outcomes if o.tsba is not None]
        median = statistics.median(reached) if reached else float("nan")
        trials = statistics.mean(o.trials_within_budget for o in outcomes)
        print(
            f"{bank.name:26s} halves {startup:8s} {arm.name:12s} "
            f"top10 {statistics.mean(o.top10hr for o in outcomes):.3f} tsba~ {median:.3f} "
            f"never {len(outcomes) - len(reached):2d} n {trials:.1f}"
        )


if __name__ == "__main__":
    main()
