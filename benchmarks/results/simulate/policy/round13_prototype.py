"""Round 13 screen (a prototype, not product code): two changes to RNK, each on the twelfth-round default.

``amortized``: the twelfth round's cost bar divides RNK's ``max_share_better`` by ``r **
cost_exponent``, with ``r`` the trial's mean epoch seconds over the median of its timed peers'. Its
reason is that a trial whose epochs take ``r`` times the median spends what ``r`` typical trials
would. That holds only where start-up is small against the epochs: every trial pays the task's
start-up ``S`` (a new process, imports, data and model) on top of its ``E`` epochs, so a trial whose
epochs take ``r`` times the median ``m`` costs ``(S + E r m) / (S + E m)`` typical trials, between 1
(start-up dominates) and ``r`` (no start-up). The arm uses that ratio, with ``S`` the median start-up
of the timed trials, as RNK's saving gate does; without start-up it is the twelfth-round default.

``best so far``: RNK ranks the trial's best metric so far against the best each peer had reached by
the same epoch, instead of the latest metrics. The tasks report a trial's best epoch as its final
result, and a coarse validation metric dips for an epoch without the run getting worse. This arm
became the default (RNK's ``best_so_far``), so it is the package's default here, and ``default r12``
is the twelfth-round default (``best_so_far: false``), on which ``amortized`` builds.

    python benchmarks/results/simulate/policy/round13_prototype.py BANK {iid,halves} {none,measured} \
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

ARMS = ("amortized", "best so far")


class AmortizedRank(RankedBelowPeers):
    """RNK with the cost ratio taken over whole trials, start-up included."""

    def _bar(self, trial):
        bar, rule = super()._bar(trial)
        times, epochs = trial.trial_times, trial.max_epochs
        if rule == "max_share_better" or times is None or not times._startup or not epochs:
            return bar, rule  # the plain bar: no cost ratio to amortize
        own = float(np.mean(trial.finite_series("epoch_seconds")))
        peers, _ = times.median_epoch_seconds(exclude=trial.trial)
        startup = float(np.median(list(times._startup.values())))
        ratio = (startup + epochs * own) / (startup + epochs * peers)
        settings = self.settings
        bar = min(1.0, settings.max_share_better / ratio**settings.cost_exponent)
        return bar, f"amortized bar {bar:.2f}"


class AmortizedPolicy(DiagnosisPolicy):
    """The default engine with its RNK replaced by :class:`AmortizedRank`."""

    def __init__(self, config):
        super().__init__(config)
        indicators = self.diagnoser._indicators
        for index, indicator in enumerate(indicators):
            if isinstance(indicator, RankedBelowPeers):
                indicators[index] = AmortizedRank(dataclasses.replace(indicator.settings))


def main():
    parser = screen_arguments()
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    args = parser.parse_args()
    bank = read_bank(args.bank)
    round12 = config_for_bank({"indicators": {"RNK": {"best_so_far": False}}}, bank)
    candidates = {
        "amortized": Arm("amortized", "cost bar over whole trials", lambda seed: AmortizedPolicy(round12)),
        "best so far": Arm("best so far", "RNK on bests so far", resolve_arm("default", bank).make),
    }
    arms = [
        resolve_arm("none", bank),
        Arm("default r12", "twelfth-round default", lambda seed: DiagnosisPolicy(round12)),
        resolve_arm("medianstop", bank),
        *(candidates[name] for name in args.arms),
    ]
    run_screen(bank, arms, args)


if __name__ == "__main__":
    main()
