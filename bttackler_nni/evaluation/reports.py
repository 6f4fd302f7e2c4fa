"""Markdown reports with PNG plots: one experiment, a replay, and a comparison of runs."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..diagnosis.direction import Direction
from ..diagnosis.verdict import Verdict
from ..experiments.store import Experiment
from .metrics import top10_hit_ratio, tsba
from .plots import PLOTS_MISSING, plot_best_so_far, plot_stop_epochs
from .replay import ReplayResult
from .results import trial_results
from .summary import estimated_seconds_saved, summarize


def write_report(experiment: Experiment, out: Path) -> Path:
    """``report.md`` (summary, stops per indicator, time saved) and ``stop_epochs.png`` in ``out``."""
    stops = [
        (t.stop_verdict, estimated_seconds_saved(t) or 0.0)
        for t in experiment.trials
        if t.stopped_by_bttackler and t.stop_verdict is not None and t.stop_verdict.reason is not None
    ]
    plot = plot_stop_epochs(
        _stop_epochs(stops), out / "stop_epochs.png", title=f"BTTackler stops in {experiment.id}"
    )
    text = [
        f"# Experiment {experiment.id}",
        "",
        "```",
        summarize(experiment),
        "```",
        "",
        "## Stops per indicator",
        "",
        _stops_by_indicator(stops, judged=None, saved="trial seconds saved (est.)"),
        "",
        _image("stop epochs", plot),
        "",
    ]
    return _write(out / "report.md", text)


def write_replay(result: ReplayResult, out: Path) -> Path:
    """``replay.md`` (the indicator trigger table and time saved) and ``replay_stop_epochs.png``."""
    experiment = result.experiment
    stops = [(s.verdict, s.seconds_saved) for s in result.stops]
    plot = plot_stop_epochs(
        _stop_epochs(stops), out / "replay_stop_epochs.png", title=f"Replayed stops in {experiment.id}"
    )
    share = 100 * result.seconds_saved / result.trial_seconds if result.trial_seconds else 0.0
    text = [
        f"# Replay of experiment {experiment.id}",
        "",
        f"BTTackler's engine was run over the {result.trials} trials that reported, in the order their "
        f"reports arrived. It would have stopped **{len(result.stops)}** of them and saved about "
        f"**{result.seconds_saved:.0f} s** of the {result.trial_seconds:.0f} s they ran ({share:.1f}%).",
        "",
        _stops_by_indicator(stops, judged=max(result.trials, 1), saved="trial seconds saved"),
        "",
        _image("stop epochs", plot),
        "",
        "## Stops",
        "",
        _table(
            ["trial", "epoch", "indicator", "rule", "value", "threshold", "seconds saved"],
            [
                [
                    s.verdict.trial,
                    str(s.verdict.epoch),
                    s.reason.indicator,
                    s.reason.rule,
                    _number(s.reason.value),
                    _number(s.reason.threshold),
                    f"{s.seconds_saved:.1f}",
                ]
                for s in result.stops
            ],
        ),
        "",
    ]
    return _write(out / "replay.md", text)


def _stop_epochs(stops: Sequence[tuple[Verdict, float]]) -> list[tuple[str, int]]:
    return [(verdict.reason.indicator, verdict.epoch) for verdict, _ in stops if verdict.reason]


def _stops_by_indicator(stops: Sequence[tuple[Verdict, float]], judged: int | None, saved: str) -> str:
    """One row per indicator: its kind, how many trials it stopped (and their share of ``judged``),
    the mean epoch of its stops and the trial seconds they saved."""
    groups: dict[str, list[tuple[Verdict, float]]] = {}
    for verdict, seconds in stops:
        if verdict.reason is not None:
            groups.setdefault(verdict.reason.indicator, []).append((verdict, seconds))
    rows = []
    for indicator, group in sorted(groups.items(), key=lambda item: -len(item[1])):
        share = [] if judged is None else [f"{100 * len(group) / judged:.1f}%"]
        kind = group[0][0].kind
        rows.append(
            [indicator, kind.value if kind else "", str(len(group)), *share]
            + [f"{statistics.mean(v.epoch for v, _ in group):.1f}", f"{sum(s for _, s in group):.0f}"]
        )
    share_header = [] if judged is None else ["share of trials"]
    return _table(["indicator", "kind", "trials stopped", *share_header, "mean stop epoch", saved], rows)


@dataclass(frozen=True)
class Comparison:
    """Top10HR and TSBA of enhanced runs against baseline runs, one value per run pair.

    Attributes:
        direction: which way the metric improves.
        pairs: ``(enhanced id, baseline id)`` of each pair, in the order of the values.
        paired: whether the i-th enhanced run was compared with the i-th baseline run only (runs
            that share a tuner seed), rather than every enhanced run with every baseline run.
        hit_ratios: Top10HR per pair.
        tsbas: TSBA per pair, ``None`` where the enhanced run never reached the baseline's best.
    """

    direction: Direction
    pairs: list[tuple[str, str]]
    paired: bool
    hit_ratios: list[float]
    tsbas: list[float | None]

    @property
    def mean_hit_ratio(self) -> float:
        return statistics.mean(self.hit_ratios)

    @property
    def reached_tsbas(self) -> list[float]:
        """TSBA of the pairs whose enhanced run reached the baseline's best."""
        return [value for value in self.tsbas if value is not None]

    @property
    def mean_tsba(self) -> float | None:
        """Mean TSBA over the pairs that reached the baseline's best (``None``: none did)."""
        return statistics.mean(self.reached_tsbas) if self.reached_tsbas else None

    @property
    def median_tsba(self) -> float | None:
        """Median of the same: a baseline that hit its best by luck early gives one large negative
        TSBA (``1 - T_i / T_j`` is unbounded below, at most 1 above), which the mean follows."""
        return statistics.median(self.reached_tsbas) if self.reached_tsbas else None

    def summary(self) -> str:
        """One line: Top10HR and TSBA with the pairs they were taken over."""
        pairing = "i-th with i-th" if self.paired else "every enhanced with every baseline run"
        return (
            f"Top10HR {100 * self.mean_hit_ratio:.1f}% (mean of {len(self.pairs)} run pairs, {pairing}); "
            f"TSBA {_percent(self.mean_tsba)} mean, {_percent(self.median_tsba)} median "
            f"({len(self.reached_tsbas)} of {len(self.pairs)} pairs reached the baseline's best)"
        )


def compare(
    baselines: Sequence[Experiment],
    enhanced: Sequence[Experiment],
    direction: Direction | str | None = None,
    until: float | None = None,
    paired: bool = False,
) -> Comparison:
    """Top10HR and TSBA per run pair, counting trials ended by ``until``.

    Pairs are every (enhanced, baseline) combination, or with ``paired`` the i-th enhanced run with
    the i-th baseline run (both lists must then be equally long): the fair pairs when repetition i
    of each arm used the same tuner seed and so was offered the same configurations. Without a
    ``direction``, the one the runs state (:attr:`Experiment.stated_direction`; ``maximize`` when
    none does); runs that state different ones are refused.
    """
    if paired and len(enhanced) != len(baselines):
        raise ValueError(
            "paired runs need as many enhanced runs as baseline runs, "
            f"got {len(enhanced)} and {len(baselines)}"
        )
    direction = (
        Direction.of(direction) if direction is not None else _stated_direction([*baselines, *enhanced])
    )
    runs = (
        list(zip(enhanced, baselines, strict=True))
        if paired
        else list(itertools.product(enhanced, baselines))
    )
    results = [(trial_results(e, until), trial_results(b, until)) for e, b in runs]
    return Comparison(
        direction,
        [(e.id, b.id) for e, b in runs],
        paired,
        [top10_hit_ratio(e, b, direction=direction) for e, b in results],
        [tsba(e, b, direction=direction) for e, b in results],
    )


def _stated_direction(runs: Sequence[Experiment]) -> Direction:
    """The one direction ``runs`` state (``maximize`` when none does); a disagreement is a ValueError."""
    stated = {run.id: run.stated_direction for run in runs if run.stated_direction is not None}
    if len(set(stated.values())) > 1:
        named = ", ".join(f"{run} {direction.value}" for run, direction in stated.items())
        raise ValueError(f"the runs rank their results in different directions ({named}); give --direction")
    return next(iter(stated.values()), Direction.MAXIMIZE)


def write_comparison(
    baselines: Sequence[Experiment],
    enhanced: Sequence[Experiment],
    out: Path,
    direction: Direction | str | None = None,
    until: float | None = None,
    names: tuple[str, str] = ("baseline", "enhanced"),
    paired: bool = False,
) -> Comparison:
    """``compare.md`` (Top10HR, TSBA, trial counts) and ``best_so_far.png`` in ``out``.

    ``until`` limits both sides to the trials that ended within that many seconds; ``names`` label
    the two arms in the report and the plot; ``paired`` as in :func:`compare`.
    """
    result = compare(baselines, enhanced, direction, until, paired)
    arms = {names[0]: baselines, names[1]: enhanced}
    plot = plot_best_so_far(
        {arm: [trial_results(x, until) for x in runs] for arm, runs in arms.items()},
        out / "best_so_far.png",
        direction=result.direction,
    )
    pair_rows = [
        [e, b, f"{hit:.2f}", "never reached" if t is None else _percent(t)]
        for (e, b), hit, t in zip(result.pairs, result.hit_ratios, result.tsbas, strict=True)
    ]
    direction = result.direction
    run_rows = []
    for arm, runs in arms.items():
        for run in runs:
            values = [value for _, value in trial_results(run, until)]
            stopped = sum(
                t.status in ("USER_CANCELED", "EARLY_STOPPED")
                and (until is None or (t.end is not None and t.end <= until))
                for t in run.trials
            )
            run_rows.append(
                [
                    arm,
                    run.id,
                    str(len(values)),
                    str(stopped),
                    _number(min(values, key=direction.score, default=None)),
                ]
            )
    pairing = (
        f"the i-th {names[1]} run with the i-th {names[0]} run"
        if paired
        else f"every {names[1]} run with every {names[0]} run"
    )
    budget = (
        ""
        if until is None
        else f" Only trials that ended within {until:.0f} s of their experiment's start count."
    )
    text = [
        f"# {names[1]} against {names[0]}",
        "",
        f"- Top10HR, the share of the pooled 10 best trials that come from {names[1]} (mean over "
        f"{len(result.pairs)} run pairs, {pairing}): **{100 * result.mean_hit_ratio:.1f}%**. Above 50% "
        f"favours {names[1]}; ties in value go to the earlier trial, then to {names[0]}.",
        f"- TSBA, the time saved to reach {names[0]}'s best: **{_percent(result.mean_tsba)}** mean, "
        f"**{_percent(result.median_tsba)}** median, over the {len(result.reached_tsbas)} of "
        f"{len(result.pairs)} pairs in which {names[1]} reached it.",
        f"- Metric: {direction.describe()}.{budget}",
        "",
        _table([f"{names[1]} run", f"{names[0]} run", "Top10HR", "TSBA"], pair_rows),
        "",
        _table(["arm", "experiment", "trials with a result", "stopped early", "best value"], run_rows),
        "",
        _image("best so far", plot),
        "",
    ]
    _write(out / "compare.md", text)
    return result


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _image(alt: str, plot: Path | None) -> str:
    return f"![{alt}]({plot.name})" if plot is not None else f"_({PLOTS_MISSING})_"


def _percent(fraction: float | None) -> str:
    return "never reached" if fraction is None else f"{100 * fraction:.1f}%"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
