"""How long BTTacklerAssessor.assess_trial takes with many trials (target: < 1 ms median).

Feeds synthetic Reporter-shaped records (a 20-layer network, a mix of healthy and bad trials) for
N trials of 20 epochs, epoch by epoch across trials as concurrent trials would arrive, through the
real assessor with its verdict journal written to a temporary checkpoint directory. Prints the
median and 99th percentile of the time per ``assess_trial`` call.

    python benchmarks/assessor_speed.py --trials 1000 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

EPOCHS = 20
LAYERS = 20


def make_records(trials: int, seed: int = 0) -> list[list[dict]]:
    """Per trial, its 20 epoch records; about a third of the trials have a problem."""
    rng = np.random.default_rng(seed)
    names = [f"block{i}.conv" for i in range(LAYERS)]
    histories = []
    for trial in range(trials):
        kind = trial % 6  # 0-3 healthy, 4 flat loss, 5 vanishing gradients
        start = rng.uniform(1.5, 2.5)
        records = []
        for epoch in range(EPOCHS):
            loss = start * (0.999 if kind == 4 else 0.85) ** epoch + rng.normal(0, 0.01)
            scale = 1e-7 if kind == 5 else 1e-3
            grad = (scale * rng.lognormal(0, 0.3, LAYERS)).tolist()
            zero = rng.uniform(0, 0.2, LAYERS).tolist()
            records.append(
                {
                    "default": 1 - loss / 3,
                    "epoch": epoch,
                    "max_epochs": EPOCHS,
                    "train_loss": loss,
                    "val_loss": loss * 1.1,
                    "val_acc": 1 - loss / 3,
                    "grad_median": float(np.median(grad)),
                    "zero_grad_share": float(np.median(zero)),
                    "nonfinite": 0,
                    "sampled_batches": 100,
                    "layers": {"names": names, "grad": grad, "zero_share": zero},
                    "trial": {"parameter_id": trial},
                }
            )
        histories.append(records)
    return histories


def measure(trials: int) -> tuple[list[float], int]:
    """Per-call seconds of assess_trial, and the number of stops."""
    from nni.assessor import AssessResult

    from bttackler_nni import BTTacklerAssessor

    histories = make_records(trials)
    with tempfile.TemporaryDirectory() as checkpoint:
        os.environ["NNI_CHECKPOINT_DIRECTORY"] = checkpoint
        assessor = BTTacklerAssessor()
        times, stops, alive = [], 0, set(range(trials))
        for epoch in range(EPOCHS):
            for trial in sorted(alive):
                history = histories[trial][: epoch + 1]
                started = time.perf_counter_ns()
                result = assessor.assess_trial(f"t{trial}", history)
                times.append((time.perf_counter_ns() - started) / 1e9)
                if result is AssessResult.Bad:
                    stops += 1
                    alive.discard(trial)
                    assessor.trial_end(f"t{trial}", False)
        assessor._on_exit()
    return times, stops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    print(
        f"# python {platform.python_version()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cpus; command: python {' '.join(sys.argv)}"
    )
    print(f"{'trials':>8} {'calls':>9} {'stops':>7} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
    for trials in args.trials:
        times, stops = measure(trials)
        ordered = sorted(times)
        p99 = ordered[int(0.99 * (len(ordered) - 1))]
        print(
            f"{trials:>8} {len(times):>9} {stops:>7} {statistics.median(times) * 1e3:>10.3f} "
            f"{p99 * 1e3:>8.3f} {ordered[-1] * 1e3:>8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
