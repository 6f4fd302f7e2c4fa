"""The markdown tables of benchmarks/results/simulate/policy/README.md, from the simulate.json files
that benchmarks/simulate_policy.sh writes: one table per bank and sampling, one row per arm and
start-up cost; with ``--pools``, those of benchmarks/results/simulate/pools/README.md, which
benchmarks/simulate_pools.sh writes.

    python benchmarks/policy_tables.py [--sampling iid] > tables.md
    python benchmarks/policy_tables.py --pools [--targets]
    python benchmarks/policy_tables.py [--pools] --since COMMIT   # the default then and now
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

SIMULATED = Path(__file__).resolve().parent / "results" / "simulate"
ARMS = ("none", "paper", "default", "medianstop", "curvefitting")
STARTUPS = (("measured", "measured"), ("0", "none"))


def cell(value: float | None, interval: list[float] | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    scale, unit = (100, "%") if percent else (1, "")
    text = f"{scale * value:.0f}{unit}" if percent else f"{value:.2f}"
    return text + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


def row(cells: Sequence[str]) -> str:
    """A markdown table row; an empty cell is a single space, as in "| (baseline) | | |"."""
    return "|" + "|".join(f" {text} " if text else " " for text in cells) + "|"


def folder_of(root: Path, bank: str, prefix: str, sampling: str, startup: str) -> Path:
    """Where one simulation's simulate.json lies: ``<root>/<bank>/<prefix><sampling>-startup-<startup>``."""
    return root / bank / f"{prefix}{sampling}-startup-{startup}" / "simulate.json"


def simulations(root: Path, prefix: str) -> Iterator[tuple[str, str, str, Path]]:
    """Every simulate.json under ``root``, in table order: its bank, sampling, start-up label and path."""
    for bank in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for sampling in ("iid", "halves"):
            for folder, label in STARTUPS:
                path = folder_of(root, bank, prefix, sampling, folder)
                if path.exists():
                    yield bank, sampling, label, path


def arms_by_name(simulation: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A simulate.json's arms, by name."""
    return {arm["arm"]: arm for arm in simulation["arms"]}


def table(root: Path, prefix: str, bank: str, sampling: str) -> str:
    # the compared arms' metric columns; only i.i.d. draws repeat a trace within a run
    metrics = {"top10hr_mean": "Top10HR"}
    if sampling == "iid":
        metrics["top10hr_distinct_mean"] = "Top10HR, each trace once"
    metrics |= {"tsba_mean": "TSBA mean", "tsba_median": "TSBA median"}
    header = ("arm", "start-up", "stopped", "trials within budget", *metrics.values(), "never reached")
    lines = [row(header), "|---" * len(header) + "|"]
    for folder, label in STARTUPS:
        path = folder_of(root, bank, prefix, sampling, folder)
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        seconds = data["setting"].get("startup")
        by_arm = arms_by_name(data)
        for name in ARMS:
            arm = by_arm.get(name)
            if arm is None:
                continue
            intervals = arm.get("intervals") or {}
            if arm["compared"]:
                results = [cell(arm[key], intervals.get(key)) for key in metrics]
                results.append(str(arm["never_reached"]))
            else:
                results = ["(baseline)"] + [""] * len(metrics)
            cells = [
                name,
                f"{label} ({seconds:.1f} s)",
                cell(arm["stopped_share"], None, percent=True),
                f"{arm['trials_within_budget']:.1f}",
                *results,
            ]
            lines.append(row(cells))
    return "\n".join(lines)


def targets(root: Path, prefix: str) -> str:
    """Issue 9's targets for the default, one row per bank, sampling and start-up.

    Beside them, Top10HR with each trace counted once (equal to Top10HR with halves draws, where no
    trace recurs): with i.i.d. draws a rule that runs many trials also wins by repeats.
    """
    header = (
        "bank",
        "draws",
        "start-up",
        "ahead on Top10HR",
        "ahead on TSBA median",
        "Top10HR >= 0.75",
        "TSBA median >= 0.40",
        "ahead on Top10HR, each trace once",
    )
    lines = [row(header), "|---" * len(header) + "|"]
    for bank, sampling, label, path in simulations(root, prefix):
        arms = arms_by_name(json.loads(path.read_text()))
        ours = arms["default"]
        rivals = [arms[name] for name in ("medianstop", "curvefitting") if name in arms]

        lines.append(
            f"| {bank} | {sampling} | {label} | {_ahead(ours, rivals, 'top10hr_mean')} | "
            f"{_ahead(ours, rivals, 'tsba_median')} | {_reaches(ours, 'top10hr_mean', 0.75)} | "
            f"{_reaches(ours, 'tsba_median', 0.40)} | {_ahead(ours, rivals, 'top10hr_distinct_mean')} |"
        )
    return "\n".join(lines)


def _ahead(ours: dict, rivals: list[dict], key: str) -> str:
    """yes / level / no against the best rival, judged on the two decimals shown (0.002 vs 0.000 is level)."""
    best = max((r[key] for r in rivals if r[key] is not None), default=None)
    mine, theirs = _number(ours[key]), _number(best)
    if mine == "-":
        verdict = "no"
    elif theirs == "-":
        verdict = "yes"
    elif mine == theirs:
        verdict = "level"
    else:
        verdict = "yes" if float(mine) > float(theirs) else "no"
    return f"{verdict} ({mine} vs {theirs})"


def _reaches(ours: dict, key: str, target: float) -> str:
    """yes / no: whether ``ours[key]`` is at least ``target``, with the value."""
    mine = ours[key]
    return f"{'yes' if mine is not None and mine >= target else 'no'} ({_number(mine)})"


def changes(root: Path, prefix: str, commit: str) -> str:
    """The default arm's results as committed at ``commit`` and as simulated now, one row per bank,
    sampling and start-up: what a change of the default moved, from the same simulate.json files."""
    header = ("bank", "draws", "start-up", "Top10HR then", "now", "TSBA median then", "now")
    header += ("never then", "now")
    lines = [row(header), "|---" * len(header) + "|"]
    for bank, sampling, label, path in simulations(root, prefix):
        now = arms_by_name(json.loads(path.read_text()))["default"]
        committed = _committed(path, commit)
        then = arms_by_name(json.loads(committed)).get("default") if committed else None
        cells = [bank, sampling, label]
        for key in ("top10hr_mean", "tsba_median", "never_reached"):
            show = str if key == "never_reached" else _number
            cells += [show(then[key]) if then else "-", show(now[key])]
        lines.append(row(cells))
    return "\n".join(lines)


def _committed(path: Path, commit: str) -> str:
    """``path`` as committed at ``commit``, empty when it was not there."""
    repository = SIMULATED.parents[2]
    git = ["git", "-C", str(repository), "show", f"{commit}:{path.resolve().relative_to(repository)}"]
    shown = subprocess.run(git, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else ""


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampling", nargs="+", default=["iid", "halves"])
    parser.add_argument("--targets", action="store_true", help="the issue's targets table instead")
    parser.add_argument("--pools", action="store_true", help="the pools' simulations (simulate_pools.sh)")
    parser.add_argument("--since", metavar="COMMIT", help="the default's results at COMMIT and now instead")
    args = parser.parse_args()
    root, prefix = (SIMULATED / "pools", "short-") if args.pools else (SIMULATED / "policy", "")
    if args.since:
        print(changes(root, prefix, args.since))
        return
    if args.targets:
        print(targets(root, prefix))
        return
    for bank in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for sampling in args.sampling:
            print(f"**{bank}, {sampling} draws**\n\n{table(root, prefix, bank, sampling)}\n")


if __name__ == "__main__":
    main()
