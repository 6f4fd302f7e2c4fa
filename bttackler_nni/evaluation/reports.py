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
    baselines: Sequence[Experiment], enhanced: Sequence[Experiment], mode: Mode | None = None
) -> Comparison:
    """Top10HR and TSBA for every (enhanced, baseline) run pair."""
    mode = mode or metric_mode(baselines[0])
    pairs = list(itertools.product(enhanced, baselines))
    return Comparison(
        mode,
        [top10_hit_ratio(trial_results(e), trial_results(b), mode=mode) for e, b in pairs],
        [tsba(trial_results(e), trial_results(b), mode=mode) for e, b in pairs],
    )


def write_comparison(
    baselines: Sequence[Experiment], enhanced: Sequence[Experiment], out: Path, mode: Mode | None = None
) -> Path:
    """``compare.md`` (Top10HR, TSBA, trial counts) and ``best_so_far.png`` in ``out``."""
    result = compare(baselines, enhanced, mode)
    plot = plot_best_so_far(
        {"baseline": [trial_results(b) for b in baselines], "enhanced": [trial_results(e) for e in enhanced]},
        out / "best_so_far.png",
        mode=result.mode,
    )
    reached = sum(value is not None for value in result.tsbas)
    pair_rows = [
        [e.id, b.id, f"{hit:.2f}", "never reached" if t is None else f"{100 * t:.1f}%"]
        for (e, b), hit, t in zip(
            itertools.product(enhanced, baselines), result.hit_ratios, result.tsbas, strict=True
        )
    ]
    run_rows = [
        [
            arm,
            x.id,
            str(len(x.trials)),
            str(sum(t.stopped_by_bttackler for t in x.trials)),
            _number(
                max((v for _, v in trial_results(x)), default=None)
                if result.mode == "max"
                else min((v for _, v in trial_results(x)), default=None)
            ),
        ]
        for arm, runs in (("baseline", baselines), ("enhanced", enhanced))
        for x in runs
    ]
    mean_tsba = "never reached" if result.mean_tsba is None else f"{100 * result.mean_tsba:.1f}%"
    text = [
        "# Comparison",
        "",
        f"- Top10HR, the share of the pooled 10 best trials that come from the enhanced run (mean over "
        f"{len(result.hit_ratios)} run pairs): **{100 * result.mean_hit_ratio:.1f}%**. Above 50% favours the "
        "enhanced run; ties in value go to the earlier trial, then to the baseline.",
        f"- TSBA, the time saved to reach the baseline's best: **{mean_tsba}** (mean over the {reached} of "
        f"{len(result.tsbas)} pairs in which the enhanced run reached it).",
        f"- Metric: {'higher' if result.mode == 'max' else 'lower'} is better.",
        "",
        _table(["enhanced run", "baseline run", "Top10HR", "TSBA"], pair_rows),
        "",
        _table(["arm", "experiment", "trials", "stopped by BTTackler", "best value"], run_rows),
        "",
        f"![best so far]({plot.name})",
        "",
    ]
    return _write(out / "compare.md", text)


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
