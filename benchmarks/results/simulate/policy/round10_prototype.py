"""Round 10 screen (a prototype, not product code): PLC held back while the trial's metric leads its peers.

PLC (the paper's slow-convergence rule) fires when a trial's train loss moves less than 1% of its
first value per epoch. On a task where every trial learns slowly (the Cifar10LSTM banks: losses from
2.30 to 2.19, accuracies up to 0.2) it also stops the trials whose metric is ahead of every other
trial's at the same epoch: the task, not the trial, is slow. The prototype vetoes PLC when at most
``share`` of the peers that reported the same epoch beat the trial's ``default`` metric there (with
at least ``MIN_PEERS`` of them, RNK's default), by patching the engine's PLC instance; ``sticky``:
once held, PLC never fires on the trial again.

    python benchmarks/results/simulate/policy/round10_prototype.py BANK {iid,halves} {none,measured}

prints one line per arm: 50 paired seeds, concurrency 8, budget fraction 0.5 (the tables' setting);
``none``/``measured``: the start-up charged per trial.
"""

import sys

from screen_lines import print_arm_lines

from bttackler_nni.evaluation.arms import DiagnosisPolicy, config_for_bank, resolve_arm
from bttackler_nni.evaluation.banks import read_bank
from bttackler_nni.evaluation.simulation import Arm, simulate

MIN_PEERS = 5


def leads_peers_now(share, sticky):
    """A PLC veto: the trial's metric at this epoch is beaten by at most ``share`` of its peers'
    (``sticky``: or was at an earlier report PLC fired on)."""
    held = set()

    def veto(trial):
        if trial.trial in held:
            return "led its peers when PLC fired before"
        value, peers, epoch = trial.latest.default, trial.peer_metrics, trial.epoch
        if value is None or peers is None or peers.count(epoch) < MIN_PEERS:
            return None
        better = peers.count_better(epoch, value, trial.direction) / peers.count(epoch)
        if better > share:
            return None
        if sticky:
            held.add(trial.trial)
        return f"{better:.2f} of the peers beat its default at epoch {epoch}"

    return veto


class PeerGuardedPLC(DiagnosisPolicy):
    """The default engine with PLC vetoed while the trial's metric leads its peers at the same epoch."""

    def __init__(self, config, share, sticky):
        super().__init__(config)
        for indicator in self.diagnoser._indicators:
            if indicator.id == "PLC":
                object.__setattr__(indicator, "veto", leads_peers_now(share, sticky))


def main():
    bank, sampling, startup = read_bank(sys.argv[1]), sys.argv[2], sys.argv[3]
    config = config_for_bank({}, bank)
    arms = [resolve_arm(name, bank) for name in ("none", "default", "medianstop")]
    for share, sticky in ((0.25, False), (0.25, True), (0.5, True)):
        name = f"plc-peers {share}{' sticky' if sticky else ''}"
        arms.append(Arm(name, "PLC vetoed", lambda seed, s=share, k=sticky: PeerGuardedPLC(config, s, k)))
    seconds = bank.startup_seconds if startup == "measured" else 0.0
    sim = simulate(bank, arms, seeds=50, budget_frac=0.5, concurrency=8, sampling=sampling, startup=seconds)
    print_arm_lines(sim, arms, f"{bank.name:26s} {sampling:6s} {startup:8s}", 22)


if __name__ == "__main__":
    main()
