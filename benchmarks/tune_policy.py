"""Compare BTTackler settings on trace banks by simulation: how the default policy's thresholds were chosen.

Each candidate is a set of classArgs (JSON) judged with the simulator of ``bttackler simulate``
(paired seeds, both sampling modes) against the banks given; one line per candidate and bank:

    python benchmarks/tune_policy.py benchmarks/banks/digits.jsonl --seeds 30 \\
        --candidate paper '{"preset": "paper"}' \\
        --candidate default '{}' \\
        --candidate 'rnk 0.3' '{"indicators": {"RNK": {"max_share_better": 0.3}}}'

``tsba*`` counts a seed that never reached the baseline's best as a TSBA of -1 (a loss), so a rule
cannot look good by reaching the best rarely but early; the reports of ``bttackler simulate`` give
the median over the seeds that reached it, with the never-reached count beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bttackler_nni.evaluation.arms import DiagnosisPolicy, config_for_bank, resolve_arm
from bttackler_nni.evaluation.banks import Bank, read_bank
from bttackler_nni.evaluation.simulation import Arm, simulate


class Oracle:
    """Not a rule anyone can run: it knows every trial's final result and stops, at its first report,
    each trial outside the bank's best 10%. A reference, not a bound: it stops the trials just below
    that tenth too, which can fill a run's pooled top 10, and where start-up outweighs epochs its
    stops save little, so a real rule can score above it (benchmarks/results/simulate/pools/oracle.txt)."""

    def __init__(self, bank: Bank) -> None:
        values = sorted((t.value for t in bank.trials if t.value is not None), key=bank.direction.score)
        self.cut = values[max(0, len(values) // 10 - 1)]
        self.final = {t.trial: t.value for t in bank.trials}
        self.direction = bank.direction

    def assess(self, trial: str, history: Sequence[Any]) -> bool:
        value = self.final[trial.split(":", 1)[1]]
        return value is None or self.direction.score(value) > self.direction.score(self.cut)

    def trial_end(self, trial: str, success: bool) -> None:
        pass

    def reason(self, trial: str) -> str:
        return "oracle"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("banks", nargs="+")
    parser.add_argument(
        "--candidate", nargs=2, action="append", metavar=("NAME", "CLASSARGS_JSON"), default=[]
    )
    parser.add_argument(
        "--nni", nargs="*", default=["medianstop", "curvefitting"], help="NNI rules to show too"
    )
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budget-frac", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sampling", nargs="+", default=["iid", "halves"])
    parser.add_argument("--startup", type=float, help="per-trial start-up seconds (default: the bank's)")
    parser.add_argument(
        "--oracle", action="store_true", help="also the oracle reference: a rule that knows each final result"
    )
    args = parser.parse_args()
    names = ["none", *args.nni, *(["oracle"] if args.oracle else []), *(n for n, _ in args.candidate)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        parser.error(f"arm names given twice: {', '.join(twice)}; give each --candidate a name of its own")

    width = max(12, *(len(Path(path).stem) + 1 for path in args.banks))  # the bank column
    print(
        f"{'bank':<{width}}{'sampling':<8}{'arm':<28}{'top10':>7}{'tsba~':>7}{'tsba*':>7}{'never':>6}{'stop%':>7}{'n':>7}"
    )
    for path in args.banks:
        bank = read_bank(path)
        arms = [resolve_arm("none", bank)]
        arms += [
            resolve_arm(name, bank)
            for name in args.nni
            if not (name == "curvefitting" and bank.direction.value == "minimize")
        ]
        if args.oracle:
            arms.append(
                Arm(
                    "oracle",
                    "stops at epoch 0 all but the top 10% of final results",
                    lambda seed, bank=bank: Oracle(bank),
                )
            )
        for name, class_args in args.candidate:
            config = config_for_bank(json.loads(class_args), bank)
            arms.append(Arm(name, class_args, lambda seed, config=config: DiagnosisPolicy(config)))
        for sampling in args.sampling:
            simulation = simulate(
                bank,
                arms,
                seeds=args.seeds,
                budget_frac=args.budget_frac,
                concurrency=args.concurrency,
                sampling=sampling,
                startup=bank.startup(args.startup),
            )
            for arm in arms:
                outcomes = [o for o in simulation.of(arm.name) if o.compared]
                if not outcomes:
                    continue
                hits = [o.top10hr for o in outcomes if o.top10hr is not None]
                reached = [o.tsba for o in outcomes if o.tsba is not None]
                counted = [o.tsba if o.tsba is not None else -1.0 for o in outcomes]
                print(
                    f"{bank.name:<{width}}{sampling:<8}{arm.name:<28}{statistics.mean(hits):>7.3f}"
                    f"{statistics.median(reached) if reached else float('nan'):>7.3f}"
                    f"{statistics.median(counted):>7.3f}{len(outcomes) - len(reached):>6}"
                    f"{statistics.mean(o.stopped_share for o in outcomes):>7.1%}"
                    f"{statistics.mean(o.trials_within_budget for o in outcomes):>7.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
