"""Markdown reports with PNG plots: one experiment, a replay, and a comparison of runs."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..nni_experiment import Experiment
from ..summary import estimated_seconds_saved, summarize
from .metrics import Mode, top10_hit_ratio, tsba
from .plots import plot_best_so_far, plot_stop_epochs
from .replay import ReplayResult
from .results import metric_mode, trial_results


def write_report(experiment: Experiment, out: Path) -> Path:
    """``report.md`` (summary, stops per indicator, time saved) and ``stop_epochs.png`` in ``out``."""
    stopped = [(t, t.stop_verdict) for t in experiment.trials if t.stopped_by_bttackler and t.stop_verdict]
    rows = []
    for indicator, count in Counter(verdict["indicator"] for _, verdict in stopped).most_common():
        group = [(t, verdict) for t, verdict in stopped if verdict["indicator"] == indicator]
        saved = sum(s for s in (estimated_seconds_saved(t) for t, _ in group) if s is not None)
        epochs = [verdict["epoch"] for _, verdict in group]
        kind = group[0][1].get("kind", "")
        rows.append([indicator, kind, str(count), f"{statistics.mean(epochs):.1f}", f"{saved:.0f}"])
    stops = [(verdict["indicator"], verdict["epoch"]) for _, verdict in stopped]
    plot = plot_stop_epochs(stops, out / "stop_epochs.png", title=f"BTTackler stops in {experiment.id}")
    header = ["indicator", "kind", "trials", "mean stop epoch", "trial seconds saved (est.)"]
    text = [
        f"# Experiment {experiment.id}",
        "",
        "```",
        summarize(experiment),
        "```",
        "",
        "## Stops per indicator",
        "",
        _table(header, rows),
        "",
        f"![stop epochs]({plot.name})",
        "",
    ]
    return _write(out / "report.md", text)


def write_replay(result: ReplayResult, out: Path) -> Path:
    """``replay.md`` (the indicator trigger table and time saved) and ``replay_stop_epochs.png``."""
    experiment = result.experiment
    judged = max(result.trials, 1)
    rows = []
    for indicator, count in result.by_indicator().most_common():
        group = [s for s in result.stops if s.indicator == indicator]
        rows.append(
            [
                indicator,
                group[0].kind,
                str(count),
                f"{100 * count / judged:.1f}%",
                f"{statistics.mean(s.epoch for s in group):.1f}",
                f"{sum(s.seconds_saved for s in group):.0f}",
            ]
        )
    plot = plot_stop_epochs(
        [(s.indicator, s.epoch) for s in result.stops],
        out / "replay_stop_epochs.png",
        title=f"Replayed stops in {experiment.id}",
    )
    share = 100 * result.seconds_saved / result.trial_seconds if result.trial_seconds else 0.0
    text = [
        f"# Replay of experiment {experiment.id}",
        "",
        f"BTTackler's engine was run over the {result.trials} trials that reported, in the order their "
        f"reports arrived. It would have stopped **{len(result.stops)}** of them and saved about "
        f"**{result.seconds_saved:.0f} s** of the {result.trial_seconds:.0f} s they ran ({share:.1f}%).",
        "",
        _table(
            [
                "indicator",
                "kind",
                "trials stopped",
                "share of trials",
                "mean stop epoch",
                "trial seconds saved",
            ],
            rows,
        ),
        "",
        f"![stop epochs]({plot.name})",
        "",
        "## Stops",
        "",
        _table(
            ["trial", "epoch", "indicator", "rule", "value", "threshold", "seconds saved"],
            [
                [
                    s.trial,
                    str(s.epoch),
                    s.indicator,
                    s.rule,
                    _number(s.value),
                    _number(s.threshold),
                    f"{s.seconds_saved:.1f}",
                ]
                for s in result.stops
            ],
        ),
        "",
    ]
    return _write(out / "replay.md", text)


@dataclass(frozen=True)
class Comparison:
    """Top10HR and TSBA of the enhanced runs against the baseline runs, over every run pair."""

    mode: Mode
    hit_ratios: list[float]
    tsbas: list[float | None]

    @property
    def mean_hit_ratio(self) -> float:
        return statistics.mean(self.hit_ratios)

    @property
    def mean_tsba(self) -> float | None:
        """Mean TSBA over the pairs whose enhanced run reached the baseline's best (``None``: none did)."""
        reached = [value for value in self.tsbas if value is not None]
        return statistics.mean(reached) if reached else None


def compare(
    baselines: Sequence[Experiment],
    enhanced: Sequence[Experiment],
    mode: Mode | None = None,
    until: float | None = None,
) -> Comparison:
    """Top10HR and TSBA for every (enhanced, baseline) run pair, counting trials ended by ``until``."""
    mode = mode or metric_mode(baselines[0])
    pairs = [
        (trial_results(e, until), trial_results(b, until)) for e, b in itertools.product(enhanced, baselines)
    ]
    return Comparison(
        mode,
        [top10_hit_ratio(e, b, mode=mode) for e, b in pairs],
        [tsba(e, b, mode=mode) for e, b in pairs],
    )


def write_comparison(
    baselines: Sequence[Experiment],
    enhanced: Sequence[Experiment],
    out: Path,
    mode: Mode | None = None,
    until: float | None = None,
    names: tuple[str, str] = ("baseline", "enhanced"),
) -> Comparison:
    """``compare.md`` (Top10HR, TSBA, trial counts) and ``best_so_far.png`` in ``out``.

    ``until`` limits both sides to the trials that ended within that many seconds; ``names`` label
    the two arms in the report and the plot.
    """
    result = compare(baselines, enhanced, mode, until)
    arms = {names[0]: baselines, names[1]: enhanced}
    plot = plot_best_so_far(
        {arm: [trial_results(x, until) for x in runs] for arm, runs in arms.items()},
        out / "best_so_far.png",
        mode=result.mode,
    )
    pairs = itertools.product(enhanced, baselines)
    pair_rows = [
        [e.id, b.id, f"{hit:.2f}", "never reached" if t is None else f"{100 * t:.1f}%"]
        for (e, b), hit, t in zip(pairs, result.hit_ratios, result.tsbas, strict=True)
    ]
    best = max if result.mode == "max" else min
    run_rows = []
    for arm, runs in arms.items():
        for run in runs:
            values = [value for _, value in trial_results(run, until)]
            stopped = sum(t.status in ("USER_CANCELED", "EARLY_STOPPED") for t in run.trials)
            run_rows.append(
                [arm, run.id, str(len(values)), str(stopped), _number(best(values, default=None))]
            )
    reached = sum(value is not None for value in result.tsbas)
    mean_tsba = "never reached" if result.mean_tsba is None else f"{100 * result.mean_tsba:.1f}%"
    budget = (
        ""
        if until is None
        else f" Only trials that ended within {until:.0f} s of their experiment's start count."
    )
    text = [
        f"# {names[1]} against {names[0]}",
        "",
        f"- Top10HR, the share of the pooled 10 best trials that come from {names[1]} (mean over "
        f"{len(result.hit_ratios)} run pairs): **{100 * result.mean_hit_ratio:.1f}%**. Above 50% favours "
        f"{names[1]}; ties in value go to the earlier trial, then to {names[0]}.",
        f"- TSBA, the time saved to reach {names[0]}'s best: **{mean_tsba}** (mean over the {reached} of "
        f"{len(result.tsbas)} pairs in which {names[1]} reached it).",
        f"- Metric: {'higher' if result.mode == 'max' else 'lower'} is better.{budget}",
        "",
        _table([f"{names[1]} run", f"{names[0]} run", "Top10HR", "TSBA"], pair_rows),
        "",
        _table(["arm", "experiment", "trials with a result", "stopped early", "best value"], run_rows),
        "",
        f"![best so far]({plot.name})",
        "",
    ]
    _write(out / "compare.md", text)
    return result


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
