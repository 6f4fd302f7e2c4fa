"""Round 11 screen (a prototype, not product code): stop a trial that even the largest gain any finished
trial made from the same epoch to its end would leave below the finished trials' top results.

Rounds 5-10 ranked a trial against its peers *at the same epoch* (RNK) and found nothing there that
told late bloomers from the hopeless. This rule looks at the *end* instead: at epoch e, over the
trials that finished (reported the last epoch), take the largest improvement any of them made from
epoch e to its end; add it to this trial's metric at e (an optimistic forecast, bounded by what
was seen); stop when even that forecast is worse than the ``quantile`` of the finished trials'
final metrics. A late bloomer is safe as long as one finished trial bloomed as much from the same
epoch. It needs ``min_finished`` finished trials and acts from epoch ``first_epoch``; it runs after
the default engine, which keeps all its stops.

    python benchmarks/results/simulate/policy/round11_prototype.py BANK {iid,halves} {none,measured} \
        [--seeds 50] [--budget-frac 0.5]

prints one line per arm: paired seeds, concurrency 8 (the tables' setting); ``none``/``measured``:
the start-up charged per trial.
"""

from screen_lines import run_screen, screen_arguments

from bttackler_nni.diagnosis.direction import Direction
from bttackler_nni.evaluation.arms import DiagnosisPolicy, config_for_bank, resolve_arm
from bttackler_nni.evaluation.banks import read_bank
from bttackler_nni.evaluation.simulation import Arm
from bttackler_nni.record import parse_record

ARMS = {  # name: (quantile of finished finals, min_finished, first_epoch)
    "env q1": (1.0, 5, 0),
    "env q0.75": (0.75, 5, 0),
    "env q0.5": (0.5, 5, 0),
    "env q1 e1": (1.0, 5, 1),
}


class EnvelopeRule(DiagnosisPolicy):
    """The default engine, then: stop where the best gain seen from this epoch cannot reach the top."""

    def __init__(self, config, quantile, min_finished, first_epoch):
        super().__init__(config)
        self.direction: Direction = config.direction
        self.quantile, self.min_finished, self.first_epoch = quantile, min_finished, first_epoch
        self.scores: dict[str, dict[int, float]] = {}  # per trial, per epoch: lower is better
        self.envelope_stops: set[str] = set()

    def assess(self, trial, history):
        if self.diagnoser.assess(trial, history).stop:
            return True
        record, _ = parse_record(history[-1])
        if record.default is None or record.epoch is None or record.max_epochs is None:
            return False
        epoch, last = record.epoch, record.max_epochs - 1
        self.scores.setdefault(trial, {})[epoch] = self.direction.score(record.default)
        if epoch < self.first_epoch or epoch >= last:
            return False
        finished = [s for t, s in self.scores.items() if t != trial and last in s and epoch in s]
        if len(finished) < self.min_finished:
            return False
        best_gain = max(s[epoch] - s[last] for s in finished)
        finals = sorted(s[last] for s in finished)
        target = finals[min(len(finals) - 1, int(self.quantile * len(finals)))]
        if self.scores[trial][epoch] - best_gain > target:
            self.envelope_stops.add(trial)
            return True
        return False

    def reason(self, trial):
        return "ENV" if trial in self.envelope_stops else super().reason(trial)


def main():
    parser = screen_arguments()
    args = parser.parse_args()
    bank = read_bank(args.bank)
    config = config_for_bank({}, bank)
    arms = [resolve_arm(name, bank) for name in ("none", "default", "medianstop")]
    for name, (quantile, min_finished, first_epoch) in ARMS.items():
        arms.append(
            Arm(
                name,
                "envelope rule",
                lambda seed, q=quantile, m=min_finished, e=first_epoch: EnvelopeRule(config, q, m, e),
            )
        )
    run_screen(bank, arms, args)


if __name__ == "__main__":
    main()
