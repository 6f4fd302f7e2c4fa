"""Round 10 analysis: the stops that lose a would-be top-10 trial, for the default and for PLC held
back while the trial leads its peers (round10_prototype.py, share 0.25, not sticky); halves draws.
Counted as round9_lost_trials.py counts them.

    python benchmarks/results/simulate/policy/round10_lost_trials.py BANK {none,measured}
"""

import sys

from round9_lost_trials import lost_stops, print_lost
from round10_prototype import PeerGuardedPLC

from bttackler_nni.evaluation.arms import config_for_bank, resolve_arm
from bttackler_nni.evaluation.banks import read_bank
from bttackler_nni.evaluation.simulation import Arm, simulate


def main():
    bank, startup = read_bank(sys.argv[1]), sys.argv[2]
    seconds = bank.startup_seconds if startup == "measured" else 0.0
    config = config_for_bank({}, bank)
    veto = Arm("plc-peers 0.25", "PLC vetoed", lambda seed: PeerGuardedPLC(config, 0.25, False))
    arms = [resolve_arm("none", bank), resolve_arm("default", bank), veto]
    sim = simulate(bank, arms, seeds=50, budget_frac=0.5, concurrency=8, sampling="halves", startup=seconds)
    for arm in ("default", veto.name):
        print(f"{bank.name} halves {startup} {arm}: lost / stops (50 seeds)")
        print_lost(*lost_stops(sim, arm, bank.direction.score))


if __name__ == "__main__":
    main()
