"""PNG plots for the evaluation reports (matplotlib, no display needed).

matplotlib is the optional extra ``bttackler-nni[plots]``: without it every plot function returns
``None`` and the reports are written without images, saying how to get them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..diagnosis.direction import Direction
from ..diagnosis.indicators import INDICATORS
from .results import Result, best_so_far

PLOTS_MISSING = "PNG plots need matplotlib: pip install 'bttackler-nni[plots]'"

_COLORS = ("tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def plot_best_so_far(
    arms: Mapping[str, Sequence[Sequence[Result]]],
    path: Path,
    *,
    direction: Direction,
    metric: str = "default",
) -> Path | None:
    """Best result so far over wall-clock time, one line per run, one colour per arm."""
    plt = _pyplot()
    if plt is None:
        return None
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for color, (arm, runs) in zip(_COLORS, arms.items(), strict=False):
        for number, results in enumerate(runs):
            curve = best_so_far(results, direction=direction)
            if not curve:
                continue
            times, values = zip(*curve, strict=True)
            axes.step(
                [t / 60 for t in times],
                values,
                where="post",
                color=color,
                alpha=0.85,
                label=arm if number == 0 else None,
            )
            axes.plot([times[-1] / 60], [values[-1]], "o", color=color, markersize=3)
    axes.set_xlabel("wall-clock time since experiment start (minutes)")
    axes.set_ylabel(f"best {metric} so far ({direction.describe()})")
    axes.set_title("Best result so far, per run")
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(plt, figure, path)


def plot_stop_epochs(stops: Sequence[tuple[str, int]], path: Path, *, title: str) -> Path | None:
    """When each indicator stopped trials: one row per indicator, a dot per stop at its epoch."""
    plt = _pyplot()
    if plt is None:
        return None
    order = [cls.id for cls in INDICATORS]
    figure, axes = plt.subplots(figsize=(8, 3.5))
    for row, indicator in enumerate(order):
        epochs = [epoch for name, epoch in stops if name == indicator]
        jitter = [row + 0.25 * ((i % 5) - 2) / 2 for i in range(len(epochs))]
        axes.scatter(epochs, jitter, s=18, alpha=0.7)
        axes.text(1.01, row, f"n={len(epochs)}", transform=axes.get_yaxis_transform(), va="center")
    axes.set_yticks(range(len(order)), order)
    axes.set_ylim(-0.7, len(order) - 0.3)
    axes.invert_yaxis()  # priority order from the top
    axes.set_xlabel("epoch of the stopping report (0-based)")
    axes.set_title(title)
    axes.grid(axis="x", alpha=0.3)
    return _save(plt, figure, path)


def plot_simulation(
    arms: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: Path, *, title: str
) -> Path | None:
    """Top10HR and TSBA per seed, one column of dots per arm with its mean as a bar."""
    plt = _pyplot()
    if plt is None or not arms:
        return None
    figure, panels = plt.subplots(1, 2, figsize=(9, 4))
    for panel, (metric, reference) in zip(panels, (("Top10HR", 0.5), ("TSBA", 0.0)), strict=True):
        for column, (color, values) in enumerate(zip(_COLORS[1:] * 3, arms.values(), strict=False)):
            points = values[0] if metric == "Top10HR" else values[1]
            spread = [column + 0.3 * ((i % 7) - 3) / 3 for i in range(len(points))]
            panel.scatter(spread, points, s=12, alpha=0.6, color=color)
            if points:
                mean = sum(points) / len(points)
                panel.plot([column - 0.35, column + 0.35], [mean, mean], color="black", linewidth=2)
        panel.axhline(reference, color="tab:gray", linewidth=0.8, linestyle="--")
        panel.set_xticks(range(len(arms)), list(arms), rotation=20)
        panel.set_ylabel(f"{metric} per seed (bar: mean)")
        panel.grid(axis="y", alpha=0.3)
    figure.suptitle(title)
    return _save(plt, figure, path)


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend, or ``None`` when the extra is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
