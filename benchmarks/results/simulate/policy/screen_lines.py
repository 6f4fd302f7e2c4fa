"""What the round prototypes share: their command line (BANK {iid,halves} {none,measured} [--seeds]
[--budget-frac]), one simulation in the tables' setting (concurrency 8), and the line per arm they
print: Top10HR mean, TSBA median over the seeds that reached the baseline's best, how many never did,
the stopped share and the trials within budget. A prototype imports it from its own folder, which
Python puts first on the path when it runs one."""

import argparse
import statistics

from bttackler_nni.evaluation.simulation import simulate


def screen_arguments() -> argparse.ArgumentParser:
    """The arguments of a screen; a prototype may add its own before parsing."""
    parser = argparse.ArgumentParser()
    parser.add_argument("bank")
    parser.add_argument("sampling", choices=("iid", "halves"))
    parser.add_argument("startup", choices=("none", "measured"))
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--budget-frac", type=float, default=0.5)
    return parser


def run_screen(bank, arms, args) -> None:
    """``arms`` simulated on ``bank`` as ``args`` ask (the start-up charged per trial: the bank's
    measured one or none), concurrency 8, then one line per arm."""
    seconds = bank.startup_seconds if args.startup == "measured" else 0.0
    sim = simulate(
        bank,
        arms,
        seeds=args.seeds,
        budget_frac=args.budget_frac,
        concurrency=8,
        sampling=args.sampling,
        startup=seconds,
    )
    print_arm_lines(sim, arms, f"{bank.name:26s} {args.sampling:6s} {args.startup:8s}", 16)


def print_arm_lines(simulation, arms, setting: str, arm_width: int) -> None:
    """One line per arm of ``simulation`` (the baseline arm has none), after ``setting``."""
    for arm in arms:
        outcomes = [o for o in simulation.of(arm.name) if o.compared]  # the baseline arm itself is not
        if not outcomes:
            continue
        reached = [o.tsba for o in outcomes if o.tsba is not None]
        median = statistics.median(reached) if reached else float("nan")
        print(
            f"{setting} {arm.name:{arm_width}s} "
            f"top10 {statistics.mean(o.top10hr for o in outcomes):.3f} tsba~ {median:.3f} "
            f"never {len(outcomes) - len(reached):2d} "
            f"stop {statistics.mean(o.stopped_share for o in outcomes):.1%} "
            f"n {statistics.mean(o.trials_within_budget for o in outcomes):.1f}",
            flush=True,
        )
