"""Round 12 screen (a prototype, not product code): RNK asks more of a trial that costs more per epoch.

Rounds 5-11 looked for what tells late bloomers from the hopeless in a trial's *metric*, against
its peers at the same epoch or against the finished trials' ends. No round used what a trial
*costs*: in a search with a fixed budget, a trial whose epochs take r times the median epoch of its
peers uses the time of r median trials, so RNK here lets it run only while it ranks r times higher:
it fires when the share of peers ahead exceeds ``max_share_better * (median / own) ** exponent``
(the trial's own mean epoch seconds over its reports, the median over the timed peers' means). With
``symmetric`` the bar also drops below ``max_share_better`` for a trial faster than the median,
which then gets more time; without, a fast trial keeps the default's bar. Everything else is the
default engine (the agreement check or saving gate, the vetoes, the other indicators).

The symmetric rule with exponent 1 became the default (RNK's ``cost_exponent``), so the arms here
start from the eighth-round default, ``cost_exponent: 0``, which is also the ``default r8`` arm.

    python benchmarks/results/simulate/policy/round12_prototype.py BANK {iid,halves} {none,measured} \
        [--seeds 50] [--budget-frac 0.5] [--arms NAME...]

prints one line per arm: paired seeds, concurrency 8 (the tables' setting); ``none``/``measured``:
the start-up charged per trial.
"""

import dataclasses

import numpy as np
from screen_lines import run_screen, screen_arguments

from bttackler_nni.diagnosis.indicators.rank import RankedBelowPeers
from bttackler_nni.evaluation.arms import DiagnosisPolicy, config_for_bank, resolve_arm
from bttackler_nni.evaluation.banks import read_bank
from bttackler_nni.evaluation.simulation import Arm

ARMS = {  # name: (exponent, symmetric)
    "cost a1": (1.0, False),
    "cost a0.5": (0.5, False),
    "cost a1 sym": (1.0, True),
    "cost a0.5 sym": (0.5, True),
}


class CostAwareRank(RankedBelowPeers):
    """RNK with its share bar divided by the trial's epoch cost relative to its peers' median."""

    def __init__(self, settings, exponent, symmetric):
        super().__init__(settings)
        self.exponent, self.symmetric = exponent, symmetric

    def check(self, trial):
        base = self.settings
        ratio = self._cost_ratio(trial)
        if ratio is None or (ratio <= 1 and not self.symmetric):
            return super().check(trial)
        bar = min(1.0, base.max_share_better / ratio**self.exponent)
        self.settings = dataclasses.replace(base, max_share_better=bar)
        try:
            return super().check(trial)
        finally:
            self.settings = base

    @staticmethod
    def _cost_ratio(trial):
        """The trial's mean epoch seconds over the median of its timed peers' means, or None."""
        own = trial.finite_series("epoch_seconds")
        times = trial.trial_times
        if own.size == 0 or times is None:
            return None
        peers = [np.mean(list(s.values())) for t, s in times._epoch_seconds.items() if t != trial.trial]
        if len(peers) < 5:
            return None
        median = float(np.median(peers))
        return float(np.mean(own)) / median if median > 0 else None


class CostAwarePolicy(DiagnosisPolicy):
    """The default engine with its RNK replaced by :class:`CostAwareRank`."""

    def __init__(self, config, exponent, symmetric):
        super().__init__(config)
        indicators = self.diagnoser._indicators
        for index, indicator in enumerate(indicators):
            if isinstance(indicator, RankedBelowPeers):
                indicators[index] = CostAwareRank(indicator.settings, exponent, symmetric)


def main():
    parser = screen_arguments()
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    args = parser.parse_args()
    bank = read_bank(args.bank)
    config = config_for_bank({"indicators": {"RNK": {"cost_exponent": 0}}}, bank)
    round8 = Arm("default r8", "eighth-round default", lambda seed: DiagnosisPolicy(config))
    arms = [resolve_arm("none", bank), round8, resolve_arm("medianstop", bank)]
    for name in args.arms:
        exponent, symmetric = ARMS[name]
        arms.append(
            Arm(
                name,
                "cost-aware RNK",
                lambda seed, a=exponent, s=symmetric: CostAwarePolicy(config, a, s),
            )
        )
    run_screen(bank, arms, args)


if __name__ == "__main__":
    main()
