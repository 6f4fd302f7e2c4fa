"""Side-by-side HPO benchmark: Random alone, Random + BTTackler, Random + NNI's Medianstop.

Runs real NNI experiments on the digits task (configs/digits: an MLP on scikit-learn's digits,
20 epochs per trial) with the same wall-clock budget per experiment and several repetitions. In each
repetition the arms run one after the other, in rotating order, with the same Random-tuner seed, so
they are offered the same sequence of configurations. Only trials that ended within the budget
count. Prints Top10HR and TSBA of each early-stopping rule against the baseline (docs/method.md section 7)
and writes a ``compare.md`` with plots per rule.

    python benchmarks/hpo_comparison.py --budget 240 --repetitions 3 --out benchmarks/results/hpo_digits

This is a benchmark, not a test: with the defaults it takes about 40 minutes on 2 CPU cores. The
experiments are kept under ``<out>/nni-home``; ``--report-only`` reports on them again from
``<out>/runs.json``, and ``bttackler compare --paired --budget 240 --baseline <dir> ... --enhanced
<dir> ...`` reads them too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bttackler_nni.evaluation.reports import write_comparison
from bttackler_nni.evaluation.results import trial_results
from bttackler_nni.experiments import store
from bttackler_nni.experiments.config import load_config
from bttackler_nni.experiments.launch import nnictl, nnictl_environment, run_to_end

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "configs" / "digits" / "tpe_bttackler.yml"
ARMS = ("baseline", "bttackler", "medianstop")
RULES = ("bttackler", "medianstop")


def arm_config(arm: str, seed: int, budget: float) -> dict[str, Any]:
    """The digits config with the Random tuner (seeded) and the arm's early-stopping rule."""
    config = load_config(DIGITS)
    config.update(
        experimentName=f"digits-random-{arm}-seed{seed}",
        maxExperimentDuration=f"{int(budget)}s",
        maxTrialNumber=10_000,
        trialConcurrency=2,
    )
    random = {"name": "Random", "classArgs": {"seed": seed}}
    if arm == "baseline":
        config["tuner"] = random
        config.pop("assessor")
    elif arm == "bttackler":
        config["tuner"]["classArgs"] = {"tuner": "Random", "tuner_args": {"seed": seed}}
    else:
        config["tuner"] = random
        config["assessor"] = {"name": "Medianstop", "classArgs": {"optimize_mode": "maximize"}}
    return config


def run_experiment(config: dict[str, Any], env: dict[str, str], budget: float) -> Path:
    print(f"  {config['experimentName']}", flush=True)
    experiment = run_to_end(config, env, timeout=budget + 900)
    print(f"  {config['experimentName']}: experiment {experiment.id} finished", flush=True)
    return experiment.directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=240, help="wall-clock seconds per experiment")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "hpo_digits")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="skip the runs; report on <out>/runs.json from an earlier run",
    )
    args = parser.parse_args()
    if args.report_only:
        report(json.loads((args.out / "runs.json").read_text()), args.budget, args.out)
        return
    env = nnictl_environment()
    env["HOME"] = str((args.out / "nni-home").resolve())  # keeps these experiments out of ~/nni-experiments
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    print(f"# command: python {' '.join(sys.argv)}; {os.cpu_count()} cpus", flush=True)

    runs: dict[str, list[str]] = {arm: [] for arm in ARMS}
    started = time.monotonic()
    try:
        for repetition in range(args.repetitions):
            seed = 1000 + repetition
            order = ARMS[repetition % len(ARMS) :] + ARMS[: repetition % len(ARMS)]
            print(
                f"repetition {repetition + 1}/{args.repetitions} (seed {seed}): {', '.join(order)}",
                flush=True,
            )
            for arm in order:
                runs[arm].append(str(run_experiment(arm_config(arm, seed, args.budget), env, args.budget)))
    finally:
        nnictl("stop", "--all", env=env)
    (args.out / "runs.json").write_text(json.dumps(runs, indent=2))
    print(f"\nfinished in {(time.monotonic() - started) / 60:.0f} min", flush=True)
    report(runs, args.budget, args.out)


def report(runs: dict[str, list[str]], budget: float, out: Path) -> None:
    """Print Top10HR and TSBA of each rule against the baseline; write a compare.md per rule.

    The main rows pair repetition i of a rule with repetition i of the baseline (same tuner seed,
    so the same configurations on offer); "all pairs" rows compare every run with every run.
    """
    experiments = {arm: [store.load(path) for path in paths] for arm, paths in runs.items()}

    def mean_trials(arm: str) -> float:
        return sum(len(trial_results(x, budget)) for x in experiments[arm]) / len(experiments[arm])

    def percent(value: float | None) -> str:
        return "never" if value is None else f"{100 * value:.1f}%"

    print(
        f"budget {budget:.0f} s per experiment; trials = trials with a result within the budget, mean per run"
    )
    header = ("arm", "pairs", "Top10HR", "TSBA mean", "TSBA median", "reached", "trials")
    print(f"{header[0]:<12} {header[1]:<10} " + " ".join(f"{h:>11}" for h in header[2:]))
    print(
        f"{'baseline':<12} {'':<10} "
        + " ".join(f"{'':>11}" for _ in header[2:-1])
        + f" {mean_trials('baseline'):>11.1f}"
    )
    for rule in RULES:
        names = ("Random", f"Random + {rule}")
        for paired in (True, False):
            target = out / (rule if paired else f"{rule}-all-pairs")
            result = write_comparison(
                experiments["baseline"], experiments[rule], target, until=budget, names=names, paired=paired
            )
            cells = (
                f"{100 * result.mean_hit_ratio:.1f}%",
                percent(result.mean_tsba),
                percent(result.median_tsba),
                f"{len(result.reached_tsbas)} of {len(result.pairs)}",
                f"{mean_trials(rule):.1f}",
            )
            print(
                f"{rule:<12} {'same seed' if paired else 'all pairs':<10} "
                + " ".join(f"{c:>11}" for c in cells)
            )


if __name__ == "__main__":
    main()
