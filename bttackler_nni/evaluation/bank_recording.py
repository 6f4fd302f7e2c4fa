"""Record a trace bank: run a task's real NNI experiment with no early stopping, then read it back.

``bttackler bank record CONFIG --trials N --out BANK.jsonl`` takes the task's own experiment config,
removes its assessor, sets ``maxTrialNumber`` to N and drops ``maxExperimentDuration`` (the bank is
defined by its trials, not by a deadline), checks it like ``bttackler run`` and runs it to the end
(:func:`~bttackler_nni.experiments.launch.launched`, then ``wait``). NNI's database, read through
:mod:`~bttackler_nni.experiments.store`, gives each trial's parameters, every report exactly as the
trial sent it, and when each report and each trial's start and end were stored. From those times
(docs/banks.md):

- an epoch after the first lasts from the previous report to its own;
- the first epoch lasts what the Reporter measured (its record's ``epoch_seconds``: from the
  Reporter's creation to the first report), else from the trial's start to its first report;
- a trial's start-up is what its slot costs beyond its epochs: from its start to its first epoch,
  from its last report to its end, and the gap before NNI launched it after a slot freed. The bank's
  ``startup_seconds`` is the sum of the medians of those three over its trials.

With ``--without-nnictl`` the trials run without NNI's manager (:mod:`.direct_recording`: for
machines where only Python packages can go) and are read back the same way.

A recording cut short (``--timeout``, Ctrl-C, NNI failing) keeps the trials that ended, each with
all it reported, as a bank of its own beside the one asked for (``BANK.partial.jsonl``, or
``BANK.partial-2.jsonl`` and so on where an earlier cut left one), and fails. A bank already at
``--out`` is replaced only when asked (``--overwrite``): it may hold hours of recording.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..experiments import store
from ..experiments.config import ExperimentConfigError, check_config, load_config
from ..experiments.launch import (
    LaunchError,
    LaunchInterrupted,
    launched,
    nnictl_environment,
    nnictl_home,
    wait,
)
from .banks import Bank, BankEpoch, BankTrial, metric_value, write_bank
from .output_paths import ready_new_file

_ENDED_ON_THEIR_OWN = frozenset({"SUCCEEDED", "FAILED"})
"""How a trial of a recording (no assessor) ends, unless a stop cancels it and cuts its trace."""


def recording_config(config: Mapping[str, Any], trials: int) -> dict[str, Any]:
    """``config`` without early stopping: no assessor, ``trials`` trials, no duration limit."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ExperimentConfigError(f"--trials must be a whole number >= 1, got {trials!r}")
    if config.get("advisor"):
        raise ExperimentConfigError(
            "the config uses an advisor, which stops trials itself; record a bank with a tuner "
            "(e.g. configs/<task>/random_baseline.yml)"
        )
    recording = {
        key: value for key, value in config.items() if key not in ("assessor", "maxExperimentDuration")
    }
    recording["maxTrialNumber"] = trials
    return recording


@dataclass(frozen=True)
class StartupCost:
    """What a trial's slot costs beyond its epochs, as medians over a recording's trials (seconds).

    Attributes:
        before_first_epoch: from the trial's start (NNI's RUNNING) to the start of its first epoch:
            the process, imports, data loading, model building.
        after_last_report: from its last report to its end: final result, exit, NNI noticing.
        launch_gap: from a slot freeing to NNI starting the next trial there.
    """

    before_first_epoch: float
    after_last_report: float
    launch_gap: float

    @property
    def total(self) -> float:
        return self.before_first_epoch + self.after_last_report + self.launch_gap

    def describe(self) -> str:
        return (
            f"start-up {self.total:.1f} s per trial (medians: {self.before_first_epoch:.1f} s to the "
            f"first epoch, {self.after_last_report:.1f} s after the last report, "
            f"{self.launch_gap:.1f} s launch gap)"
        )


def epoch_seconds(trial: store.Trial) -> list[float]:
    """Each epoch's seconds, from the report times NNI stored (see the module docstring)."""
    times = trial.intermediate_times
    if not times:
        return []
    first_record = trial.intermediate[0]
    measured = metric_value(first_record.get("epoch_seconds")) if isinstance(first_record, dict) else None
    since_start = times[0] - trial.start if trial.start is not None else None
    if measured is not None and measured >= 0 and (since_start is None or measured <= since_start):
        first = measured
    else:
        first = max(0.0, since_start or 0.0)
    return [first] + [max(0.0, later - earlier) for earlier, later in zip(times, times[1:], strict=False)]


def startup_cost(trials: Sequence[store.Trial], concurrency: int) -> StartupCost | None:
    """The medians of a recording's per-trial costs beyond epochs; ``None`` without a timed trial."""
    before, after = [], []
    for trial in trials:
        if trial.start is None or trial.end is None:
            continue
        if trial.intermediate_times:
            seconds = epoch_seconds(trial)
            before.append(max(0.0, trial.intermediate_times[0] - trial.start - seconds[0]))
            after.append(max(0.0, trial.end - trial.intermediate_times[-1]))
        else:
            before.append(trial.end - trial.start)
            after.append(0.0)
    if not before:
        return None
    timed = sorted((t for t in trials if t.start is not None), key=lambda t: t.start or 0.0)
    ends = [t.end for t in trials if t.end is not None]
    gaps = []
    for trial in timed[concurrency:]:  # the first ones started with the experiment, not in a freed slot
        freed = [end for end in ends if trial.start is not None and end <= trial.start]
        if freed and trial.start is not None:
            gaps.append(trial.start - max(freed))
    return StartupCost(
        statistics.median(before), statistics.median(after), statistics.median(gaps) if gaps else 0.0
    )


def bank_from_experiment(
    experiment: store.Experiment,
    *,
    task: str,
    config: str,
    command: str,
    machine: str,
    concurrency: int,
    recorded: str | None = None,
) -> tuple[Bank, StartupCost | None]:
    """The bank of an experiment that ran without early stopping: the trials that ended on their own,
    in start order (one cancelled by a stop, of the recording or by hand, has a cut trace)."""
    ended = [t for t in experiment.trials if t.status in _ENDED_ON_THEIR_OWN]
    trials = tuple(
        BankTrial(
            trial.id,
            trial.parameters,
            tuple(
                BankEpoch(record, seconds)
                for record, seconds in zip(trial.intermediate, epoch_seconds(trial), strict=True)
            ),
            trial.final,
            trial.status,
        )
        for trial in ended
    )
    planned = [r.get("max_epochs") for t in ended for r in t.intermediate if isinstance(r, dict)]
    planned_epochs = [p for p in planned if isinstance(p, int) and not isinstance(p, bool) and p >= 1]
    max_epochs = max(planned_epochs or [len(t.intermediate) for t in ended] or [1])
    cost = startup_cost(ended, concurrency)
    bank = Bank(
        task=task,
        config=config,
        direction=experiment.direction,
        max_epochs=max(max_epochs, 1),
        recorded=recorded or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        command=command,
        machine=machine,
        startup_seconds=None if cost is None else round(cost.total, 3),
        trials=trials,
    )
    return bank, cost


def machine_description() -> str:
    """A short description of this machine: CPU model and count, and GPUs when nvidia-smi sees any."""
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} CPUs"
    if shutil.which("nvidia-smi"):
        try:
            gpus = subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            ).stdout.split("\n")
        except (OSError, subprocess.TimeoutExpired):
            gpus = []
        names = [name.strip() for name in gpus if name.strip()]
        if names:
            text += f", GPU {', '.join(names)}"
    return text


def record_bank(
    config_path: str | Path,
    overrides: Sequence[str],
    trials: int,
    out: Path,
    *,
    command: str,
    task: str | None = None,
    machine: str | None = None,
    timeout: float = 24 * 3600,
    on_progress: Callable[[str], None] | None = None,
    without_nnictl: bool = False,
    parallel: int | None = None,
    overwrite: bool = False,
) -> tuple[Bank, StartupCost | None]:
    """Run ``config_path`` (``overrides`` applied) for ``trials`` trials unstopped; write the bank.

    Through nnictl by default; ``without_nnictl`` runs the trials in this process's care instead
    (:mod:`.direct_recording`), ``parallel`` at a time (default: the config's ``trialConcurrency``).
    A file already at ``out`` is refused unless ``overwrite``.
    """
    config = recording_config(load_config(config_path, overrides), trials)
    check_config(config)
    ready_new_file(out, overwrite)  # before the hours of training, not after them
    loads = [os.getloadavg()[0]]

    def progress(line: str) -> None:
        loads.append(os.getloadavg()[0])
        if on_progress is not None:
            on_progress(line)

    def bank_of(experiment: store.Experiment, concurrency: int) -> tuple[Bank, StartupCost | None]:
        return bank_from_experiment(
            experiment,
            task=task or Path(config_path).resolve().parent.name,
            config=str(config_path),
            command=command,
            machine=f"{machine or machine_description()}; load {statistics.mean(loads):.1f} while recording",
            concurrency=concurrency,
        )

    if without_nnictl:
        from .direct_recording import RecordingCut, recorded_experiment, recording_slots, run_without_nnictl

        folder = out.parent / f"{out.stem}-trials"
        try:
            experiment, concurrency = run_without_nnictl(
                config, trials, folder, parallel=parallel, timeout=timeout, on_progress=progress
            )
        except RecordingCut as recording_cut:
            partial = recorded_experiment(config, folder, recording_cut.trials)
            _keep_partial(
                bank_of(partial, recording_slots(config, parallel))[0],
                out,
                str(recording_cut),
                interrupted=recording_cut.interrupted,
            )
    else:
        if parallel is not None:
            raise ExperimentConfigError(
                "--parallel applies to --without-nnictl; through nnictl set trialConcurrency instead "
                "(--set trialConcurrency=K)"
            )
        env = nnictl_environment()
        concurrency = int(config.get("trialConcurrency") or 1)
        cut: BaseException | None = None
        with launched(config, env, progress) as running:
            try:
                wait(running, timeout, progress)
            except (LaunchError, KeyboardInterrupt) as error:
                cut = error  # the experiment is stopped on leaving the block; its ended trials are kept
        home = nnictl_home(env)
        if cut is not None:
            interrupted = isinstance(cut, KeyboardInterrupt)
            reason = "the recording was interrupted" if interrupted else str(cut)
            try:
                ended = store.load(running.directory, home)
            except Exception:  # an experiment too broken to read: the reason above is what matters
                raise (LaunchInterrupted if interrupted else LaunchError)(reason) from cut
            _keep_partial(bank_of(ended, concurrency)[0], out, reason, interrupted=interrupted)
        experiment = store.load(running.directory, home)
    bank, cost = bank_of(experiment, concurrency)
    write_bank(bank, out)
    return bank, cost


def partial_bank_path(out: Path) -> Path:
    """Where a recording cut short keeps the trials that ended: ``BANK.partial.jsonl`` beside ``BANK``,
    or ``BANK.partial-2.jsonl`` (and so on) where earlier cuts left theirs, which are never replaced."""
    suffix = out.suffix or ".jsonl"
    path, number = out.with_name(f"{out.stem}.partial{suffix}"), 1
    while path.exists():
        number += 1
        path = out.with_name(f"{out.stem}.partial-{number}{suffix}")
    return path


def _keep_partial(bank: Bank, out: Path, reason: str, *, interrupted: bool) -> NoReturn:
    """Write the ended trials of a recording cut short (hours of training are not thrown away) beside
    the bank it was to be, never over it, and fail with ``reason`` and where they are
    (:class:`LaunchInterrupted` when Ctrl-C cut it)."""
    error = LaunchInterrupted if interrupted else LaunchError
    if not bank.trials:
        raise error(f"{reason}; no trial had ended, so no bank was written")
    path = partial_bank_path(out)
    write_bank(bank, path)
    raise error(
        f"{reason}; the {len(bank.trials)} trials that ended are in {path}, a bank of their own "
        f"(`bttackler bank show {path}`); {out} was not written"
    )


def describe_bank(bank: Bank) -> str:
    """A few lines on a bank: trials and statuses, epochs, seconds, and the spread of results."""
    statuses: dict[str, int] = {}
    for trial in bank.trials:
        statuses[trial.status] = statuses.get(trial.status, 0) + 1
    values = sorted(
        (v for v in (t.value for t in bank.trials) if v is not None and math.isfinite(v)),
        key=bank.direction.score,
    )
    seconds = [t.seconds for t in bank.trials]
    lines = [
        f"{bank.name}: {len(bank.trials)} trials of {bank.task} "
        f"({', '.join(f'{n} {s.lower()}' for s, n in sorted(statuses.items()))}), "
        f"up to {bank.max_epochs} epochs, {bank.direction.value} ({bank.direction.describe()})",
        f"  epoch seconds per trial: median {statistics.median(seconds):.1f}, total {sum(seconds):.0f}; "
        f"start-up per trial: "
        + ("unknown" if bank.startup_seconds is None else f"{bank.startup_seconds:.1f} s"),
    ]
    if values:
        deciles = [values[min(len(values) - 1, int(q * len(values)))] for q in (0.0, 0.1, 0.5, 0.9)]
        lines.append(
            f"  results ({len(values)} finite, best first): best {deciles[0]:.4g}, 10% {deciles[1]:.4g}, "
            f"median {deciles[2]:.4g}, 90% {deciles[3]:.4g}, worst {values[-1]:.4g}"
        )
    lines.append(f"  recorded {bank.recorded} on {bank.machine}")
    return "\n".join(lines)
