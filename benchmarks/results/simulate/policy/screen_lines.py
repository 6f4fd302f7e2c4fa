"""The line per arm that the round prototypes print: Top10HR mean, TSBA median over the seeds that
reached the baseline's best, how many never did, the stopped share and the trials within budget.
A prototype imports it from its own folder, which Python puts first on the path when it runs one."""

import statistics


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
