"""Do the GP and SMAC tuners optimise? Best after 30 rounds on a noisy function, vs Random and TPE.

The function is the Branin function (two continuous inputs, minimum 0.397887) over a mixed NNI search
space, plus a categorical offset, plus Gaussian noise:

    x: uniform [-5, 10], y: quniform [0, 15, 0.5], surface: choice ["flat", "tilted", "raised"]
    value = branin(x, y) + {"flat": 0, "tilted": 3, "raised": 10}[surface] + N(0, noise)

Each tuner is driven through NNI's tuner interface (``update_search_space``, ``generate_parameters``,
``receive_trial_result``), one trial at a time, minimising. Every tuner starts with 10 random (or
Sobol) points: ``cold_start_num`` for GP, ``initial_configs`` for SMAC, ``n_startup_jobs`` for TPE.
A seed fixes a tuner's own seed and the noise, so all tuners see the same noise at round r.

Reported per tuner, over the seeds: the regret (true value minus 0.397887) of the configuration
with the best *observed* (noisy) result after 10, 20 and 30 rounds, its ratio to Random's, how many
seeds beat Random, and seconds per suggestion.

    PYTHONHASHSEED=0 python benchmarks/tuner_quality.py --seeds 10 --rounds 30

(SMAC3's choices depend on Python's string hashing; the fixed hash seed makes the run repeatable.)
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from nni.tools.package_utils import create_builtin_class_instance
from nni.tuner import Tuner

from bttackler_nni.tuners import TUNERS as OUR_TUNERS
from bttackler_nni.tuners import tuner_class

SPACE = {
    "x": {"_type": "uniform", "_value": [-5, 10]},
    "y": {"_type": "quniform", "_value": [0, 15, 0.5]},
    "surface": {"_type": "choice", "_value": ["flat", "tilted", "raised"]},
}
OFFSETS = {"flat": 0.0, "tilted": 3.0, "raised": 10.0}
MINIMUM = 0.397887
STARTUP = 10
TUNERS: dict[str, Callable[[int], dict]] = {
    "Random": lambda seed: {"seed": seed},
    "TPE": lambda seed: {"optimize_mode": "minimize", "seed": seed, "tpe_args": {"n_startup_jobs": STARTUP}},
    "GP": lambda seed: {"optimize_mode": "minimize", "seed": seed, "cold_start_num": STARTUP},
    "SMAC": lambda seed: {"optimize_mode": "minimize", "seed": seed, "initial_configs": STARTUP},
}


def true_value(p: dict) -> float:
    x, y = p["x"], p["y"]
    branin = (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2
    branin += 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10
    return branin + OFFSETS[p["surface"]]


def build(name: str, args: dict) -> Tuner:
    """Our GP and SMAC, NNI's Random and TPE: plain tuners, so that no fallback hides a failure."""
    return (
        tuner_class(name)(**args)
        if name in OUR_TUNERS
        else create_builtin_class_instance(name, args, "tuners")
    )


def run(tuner_name: str, seed: int, rounds: int, noise: float) -> tuple[list[float], float]:
    """Regret after each round (of the best observed configuration) and seconds per suggestion."""
    tuner = build(tuner_name, TUNERS[tuner_name](seed))
    tuner.update_search_space(SPACE)
    noise_rng = np.random.default_rng(seed)
    best_observed, best_true, regrets, spent = math.inf, math.inf, [], 0.0
    for parameter_id in range(rounds):
        started = time.perf_counter()
        parameters = tuner.generate_parameters(parameter_id)
        spent += time.perf_counter() - started
        value = true_value(parameters)
        observed = value + noise_rng.normal(0, noise)
        tuner.receive_trial_result(parameter_id, parameters, observed)
        if observed < best_observed:
            best_observed, best_true = observed, value
        regrets.append(best_true - MINIMUM)
    tuner._on_exit()  # SMAC removes its run files
    return regrets, spent / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--noise", type=float, default=2.0, help="standard deviation of the noise")
    parser.add_argument("--tuners", nargs="+", default=list(TUNERS), choices=list(TUNERS))
    args = parser.parse_args()
    logging.getLogger("nni").setLevel(logging.WARNING)  # NNI's tuners log every suggestion
    print(
        f"# python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus; "
        f"command: PYTHONHASHSEED={os.environ.get('PYTHONHASHSEED', '')} python {' '.join(sys.argv)}"
    )
    checkpoints = sorted({r for r in (10, 20, args.rounds) if r <= args.rounds})
    results = {}
    for name in args.tuners:
        runs = [run(name, seed, args.rounds, args.noise) for seed in range(args.seeds)]
        results[name] = runs
        finals = [regrets[-1] for regrets, _ in runs]
        print(f"# {name}: final regrets per seed {[round(r, 3) for r in finals]}", flush=True)
    baseline = [regrets[-1] for regrets, _ in results.get("Random", [])]
    header = " ".join(f"{'@' + str(r):>8}" for r in checkpoints)
    print(f"\nregret of the best observed configuration, mean over {args.seeds} seeds (lower is better)")
    print(
        f"{'tuner':<8}{header}   median@{args.rounds}  vs Random (mean)  seeds better than Random"
        "  s/suggestion"
    )
    for name, runs in results.items():
        means = " ".join(
            f"{statistics.mean(regrets[r - 1] for regrets, _ in runs):8.3f}" for r in checkpoints
        )
        finals = [regrets[-1] for regrets, _ in runs]
        ratio = statistics.mean(finals) / statistics.mean(baseline) if baseline else math.nan
        wins = sum(f < b for f, b in zip(finals, baseline, strict=False)) if baseline else 0
        seconds = statistics.mean(s for _, s in runs)
        print(
            f"{name:<8}{means}   {statistics.median(finals):9.3f}  {ratio:16.2f}  "
            f"{wins:>12} of {len(baseline):<11}  {seconds:10.3f}"
        )


if __name__ == "__main__":
    main()
