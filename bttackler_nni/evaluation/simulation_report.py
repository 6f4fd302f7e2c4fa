"""A simulation's results per arm, with bootstrap 95% intervals, as markdown, JSON and PNG.

Intervals resample the seeds (each seed is one paired comparison) 2,000 times with replacement and
take the 2.5th and 97.5th percentiles of the statistic; the resampling is seeded, so a report is
reproducible. TSBA statistics are taken over the seeds in which the arm reached the baseline's best;
the others are counted as never reached.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .plots import plot_best_so_far, plot_simulation
from .reports import _image, _table, _write
from .simulation import Simulation

RESAMPLES = 2000
Interval = tuple[float, float]


def bootstrap_interval(
    values: Sequence[float], statistic: Callable[..., Any] = np.mean, seed: int = 0
) -> Interval | None:
    """The 95% percentile-bootstrap interval of ``statistic`` over ``values``; ``None`` when empty."""
    if not values:
        return None
    data = np.asarray(values, dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(data), size=(RESAMPLES, len(data)))
    estimates = statistic(data[picks], axis=1)
    low, high = np.percentile(estimates, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class ArmSummary:
    """One arm over all seeds."""

    arm: str
    description: str
    compared: bool
    seeds: int
    top10hr: list[float]
    top10hr_distinct: list[float]
    tsba_per_seed: list[float | None]
    """Each seed's TSBA, ``None`` where the arm never reached the baseline's best (none for the
    baseline itself)."""
    stopped_share: float
    trials_within_budget: float
    stop_reasons: Counter[str]

    @property
    def tsba(self) -> list[float]:
        """The TSBA of the seeds that reached the baseline's best."""
        return [value for value in self.tsba_per_seed if value is not None]

    @property
    def never_reached(self) -> int:
        """How many seeds never reached the baseline's best."""
        return sum(value is None for value in self.tsba_per_seed)

    @property
    def top10hr_mean(self) -> float | None:
        return statistics.mean(self.top10hr) if self.top10hr else None

    @property
    def top10hr_distinct_mean(self) -> float | None:
        return statistics.mean(self.top10hr_distinct) if self.top10hr_distinct else None

    @property
    def tsba_mean(self) -> float | None:
        return statistics.mean(self.tsba) if self.tsba else None

    @property
    def tsba_median(self) -> float | None:
        return statistics.median(self.tsba) if self.tsba else None

    def intervals(self) -> dict[str, Interval | None]:
        return {
            "top10hr_mean": bootstrap_interval(self.top10hr),
            "top10hr_distinct_mean": bootstrap_interval(self.top10hr_distinct),
            "tsba_mean": bootstrap_interval(self.tsba),
            "tsba_median": bootstrap_interval(self.tsba, np.median),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "description": self.description,
            "compared": self.compared,
            "seeds": self.seeds,
            "top10hr_mean": self.top10hr_mean,
            "top10hr_distinct_mean": self.top10hr_distinct_mean,
            "tsba_mean": self.tsba_mean,
            "tsba_median": self.tsba_median,
            "intervals": self.intervals(),
            "never_reached": self.never_reached,
            "stopped_share": self.stopped_share,
            "trials_within_budget": self.trials_within_budget,
            "stop_reasons": dict(self.stop_reasons.most_common()),
            "per_seed": {
                "top10hr": self.top10hr,
                "top10hr_distinct": self.top10hr_distinct,
                "tsba": self.tsba_per_seed,
            },
        }


def summarize_arms(simulation: Simulation) -> list[ArmSummary]:
    """One :class:`ArmSummary` per arm, in the order the arms were given."""
    summaries = []
    for arm in simulation.arms:
        outcomes = simulation.of(arm.name)
        reasons: Counter[str] = Counter()
        for outcome in outcomes:
            reasons.update(outcome.stop_reasons())
        summaries.append(
            ArmSummary(
                arm=arm.name,
                description=arm.description,
                compared=all(o.compared for o in outcomes),
                seeds=len(outcomes),
                top10hr=[o.top10hr for o in outcomes if o.top10hr is not None],
                top10hr_distinct=[o.top10hr_distinct for o in outcomes if o.top10hr_distinct is not None],
                tsba_per_seed=[o.tsba for o in outcomes if o.compared],
                stopped_share=statistics.mean(o.stopped_share for o in outcomes),
                trials_within_budget=statistics.mean(o.trials_within_budget for o in outcomes),
                stop_reasons=reasons,
            )
        )
    return summaries


def table(summaries: Sequence[ArmSummary], distinct: bool = False) -> str:
    """The markdown table: one row per arm, means with their 95% intervals.

    ``distinct`` adds Top10HR with each bank trace counted once per run, which differs from Top10HR
    only where traces recur (i.i.d. draws).
    """
    rows = []
    for summary in summaries:
        intervals = summary.intervals()
        if summary.compared:
            cells = [
                _with_interval(summary.top10hr_mean, intervals["top10hr_mean"]),
                *(
                    [_with_interval(summary.top10hr_distinct_mean, intervals["top10hr_distinct_mean"])]
                    if distinct
                    else []
                ),
                _with_interval(summary.tsba_mean, intervals["tsba_mean"]),
                _with_interval(summary.tsba_median, intervals["tsba_median"]),
                str(summary.never_reached),
            ]
        else:
            cells = ["(baseline)"] * (4 if distinct else 3) + ["-"]
        rows.append(
            [
                summary.arm,
                f"{100 * summary.stopped_share:.0f}%",
                f"{summary.trials_within_budget:.1f}",
                *cells,
            ]
        )
    header = [
        "arm",
        "stopped",
        "trials within budget",
        "Top10HR",
        *(["Top10HR, each trace once"] if distinct else []),
        "TSBA mean",
        "TSBA median",
        "never reached",
    ]
    return _table(header, rows)


def write_simulation(simulation: Simulation, out: Path) -> list[ArmSummary]:
    """``simulate.md``, ``simulate.json``, ``simulate.png`` and ``best_so_far.png`` (seed 0) in ``out``."""
    summaries = summarize_arms(simulation)
    bank = simulation.bank
    compared = [s for s in summaries if s.compared]
    plot = plot_simulation(
        {s.arm: (s.top10hr, s.tsba) for s in compared}, out / "simulate.png", title=f"{bank.name}: per seed"
    )
    first = (
        {"baseline (seed 0)": [simulation.baselines[0].results()]} if simulation.sampling == "halves" else {}
    )
    first.update({o.arm: [o.run.results()] for o in simulation.outcomes if o.seed == 0})
    curves = plot_best_so_far(first, out / "best_so_far.png", direction=bank.direction)
    reasons = [
        [s.arm, ", ".join(f"{name} {n}" for name, n in s.stop_reasons.most_common()) or "none"]
        for s in summaries
    ]
    text = [
        f"# Simulated HPO on the {bank.name} bank",
        "",
        _setting(simulation),
        "",
        table(summaries, distinct=simulation.sampling == "iid"),
        "",
        "Top10HR and TSBA compare each arm's run with the baseline run of the same seed; the brackets "
        "are bootstrap 95% intervals over seeds. TSBA is over the seeds that reached the baseline's "
        "best; `never reached` counts the others. `stopped` is the share of the trials that ended "
        "within the budget that the rule stopped."
        + (
            " With i.i.d. draws a bank trace recurs; `Top10HR, each trace once` counts a trace drawn "
            "more than once in a run at its first end only, as a search of fresh configurations would "
            "find it once."
            if simulation.sampling == "iid"
            else ""
        ),
        "",
        _table(["arm", "what it is"], [[s.arm, s.description] for s in summaries]),
        "",
        "## Stops by reason (all seeds)",
        "",
        _table(["arm", "stops"], reasons),
        "",
        _image("Top10HR and TSBA per seed", plot),
        "",
        _image("best so far, seed 0", curves),
        "",
    ]
    _write(out / "simulate.md", text)
    (out / "simulate.json").write_text(
        json.dumps({"setting": _setting_json(simulation), "arms": [s.to_json() for s in summaries]}, indent=1)
        + "\n",
        encoding="utf-8",
    )
    return summaries


def _setting(simulation: Simulation) -> str:
    bank = simulation.bank
    sampling = (
        "i.i.d. draws with replacement from the whole bank; the `none` arm is the baseline"
        if simulation.sampling == "iid"
        else "per seed the bank is shuffled and split into two disjoint halves, the baseline drawing "
        "the first and every arm the second, without replacement"
    )
    return "\n".join(
        [
            f"- Bank: `{bank.path or bank.name}`: {len(bank.trials)} trials of {bank.task}, "
            f"{bank.max_epochs} epochs, {bank.direction.value}; recorded {bank.recorded} on {bank.machine}.",
            f"- {simulation.seeds} paired seeds (every arm of a seed draws the same trials); {sampling}.",
            f"- Concurrency {simulation.concurrency}; start-up {simulation.startup:.1f} s per trial; budget "
            f"{simulation.budget_frac:g} x the time the no-stopping rule needs for "
            f"{'the bank' if simulation.sampling == 'iid' else 'a half'}'s size of trials "
            f"(mean {statistics.mean(b.budget for b in simulation.baselines):.0f} s).",
        ]
    )


def _setting_json(simulation: Simulation) -> dict[str, Any]:
    bank = simulation.bank
    return {
        "bank": str(bank.path or bank.name),
        "trials": len(bank.trials),
        "direction": bank.direction.value,
        "seeds": simulation.seeds,
        "budget_frac": simulation.budget_frac,
        "concurrency": simulation.concurrency,
        "sampling": simulation.sampling,
        "startup": simulation.startup,
        "budgets": [b.budget for b in simulation.baselines],
    }


def _with_interval(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" + ("" if interval is None else f" [{interval[0]:.2f}, {interval[1]:.2f}]")
