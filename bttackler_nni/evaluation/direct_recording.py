"""Record a trace bank without nnictl: NNI's Random tuner chooses, this process runs the trials.

``bttackler bank record CONFIG --trials N --out BANK.jsonl --without-nnictl [--parallel K]`` records
the same bank as the nnictl path (:mod:`.bank_recording`) where NNI's manager cannot run: it needs
Node.js and NNI's 192 MB ``nni_node`` folder, which a lent GPU machine that takes only Python
packages does not have. Here:

- the parameters are those NNI's ``RandomTuner`` (called, with the config's ``classArgs``) generates
  in order, which is what a real NNI Random search of that seed hands its trials (the committed
  digits bank, recorded through nnictl with seed 2024, matches in all 110 trials);
- each trial runs the config's ``trialCommand`` in its ``trialCodeDirectory`` through a shell, as
  NNI's local training service does, at most ``parallel`` at a time (default ``trialConcurrency``),
  and talks to :class:`~.recording_channel.RecordingChannel` through NNI's own trial SDK;
- the trials, their reports and report times become an experiment as NNI's store reads one, which
  :func:`~.bank_recording.record_bank` turns into the bank with the same timing rules as a
  recording through NNI (docs/banks.md). The start-up cost then holds no NNI scheduling:
  the launch gap is this loop's polling interval.

No GPU is assigned to a trial (NNI's ``trialGpuNumber`` is not applied): trials see the GPUs the
recorder sees. Each trial's output (``trial.log``, ``trial.stderr``) and reports (``reports.jsonl``)
stay in the recording folder, ``BANK-trials/`` beside the bank.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import nni
from nni.algorithms.hpo.random_tuner import RandomTuner

from ..experiments import store
from ..experiments.config import ExperimentConfigError, search_space
from ..experiments.launch import LaunchError, ctrl_c_ignored, nnictl_environment
from .recording_channel import CHANNEL_URL, PARAMETERS_ENV, REPORTS_ENV, read_reports

POLL_SECONDS = 0.1
"""How often the loop looks for ended trials (and so the launch gap it adds)."""


class RecordingCut(LaunchError):
    """The recording stopped before every trial ended (``--timeout`` or Ctrl-C, then
    ``interrupted``): the message says why; ``trials`` are those that ended, in start order, with all
    they reported."""

    def __init__(self, message: str, trials: Sequence[store.Trial], interrupted: bool = False) -> None:
        super().__init__(message)
        self.trials = list(trials)
        self.interrupted = interrupted


def random_parameters(config: Mapping[str, Any], trials: int) -> list[dict[str, Any]]:
    """The first ``trials`` parameter sets NNI's Random tuner generates for ``config``; fewer when
    the search space is finite and the tuner has drawn every point of it, as NNI would run.

    Raises:
        ExperimentConfigError: when the config's tuner is not ``Random``; other tuners choose from
            the results of earlier trials, which only NNI's dispatcher feeds them.
    """
    tuner = config.get("tuner") or {}
    name = tuner.get("name") if isinstance(tuner, Mapping) else None
    if name != "Random":
        raise ExperimentConfigError(
            f"tuner.name: --without-nnictl samples parameters with NNI's Random tuner, but the config's "
            f"tuner is {name!r}. Fix: a Random config (configs/<task>/random_baseline.yml), or record "
            "through nnictl (drop --without-nnictl)"
        )
    generator = RandomTuner(**dict(tuner.get("classArgs") or {}))
    generator.update_search_space(search_space(config))
    parameter_sets = []
    for parameter_id in range(trials):
        try:
            parameter_sets.append(generator.generate_parameters(parameter_id))
        except nni.NoMoreTrialError:  # a finite space, fully explored: NNI would end the experiment
            break
    return parameter_sets


@dataclass
class _Running:
    """A trial process and what it writes."""

    trial: store.Trial
    process: subprocess.Popen[bytes]
    folder: Path
    logs: list[IO[bytes]] = field(default_factory=list)

    def close(self) -> None:
        for log in self.logs:
            log.close()


def run_trials(
    config: Mapping[str, Any],
    parameter_sets: Sequence[Mapping[str, Any]],
    folder: Path,
    *,
    parallel: int,
    timeout: float,
    on_progress: Callable[[str], None] | None = None,
) -> list[store.Trial]:
    """Run one trial per parameter set, ``parallel`` at a time, each to its end; in start order.

    Times (``start``, ``end``, report times) are seconds since the first trial started.

    Raises:
        RecordingCut: after ``timeout`` seconds or on Ctrl-C, with the trials still running killed.
    """
    folder = folder.resolve()  # the trials run in their own folder and must find it
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    waiting = list(enumerate(parameter_sets))
    running: list[_Running] = []
    ended: list[store.Trial] = []
    try:
        while waiting or running:
            while waiting and len(running) < parallel:
                index, parameters = waiting.pop(0)
                running.append(_launch(config, index, parameters, folder, started))
            time.sleep(POLL_SECONDS)
            for run in [r for r in running if r.process.poll() is not None]:
                running.remove(run)
                ended.append(_finish(run, started))
                if on_progress is not None:
                    on_progress(
                        f"[{time.time() - started:6.0f}s] trial {run.trial.id} {run.trial.status.lower()}: "
                        f"{len(ended)} of {len(parameter_sets)} trials ended, {len(running)} running"
                    )
            if time.time() - started > timeout:
                raise RecordingCut(
                    f"the recording ran past --timeout {timeout:g} s with {len(ended)} of "
                    f"{len(parameter_sets)} trials ended; their logs and reports are in {folder}",
                    _in_start_order(ended),
                )
    except KeyboardInterrupt:
        raise RecordingCut(
            f"the recording was interrupted with {len(ended)} of {len(parameter_sets)} trials ended; "
            f"their logs and reports are in {folder}",
            _in_start_order(ended),
            interrupted=True,
        ) from None
    finally:
        with ctrl_c_ignored():  # a second Ctrl-C must not leave trials running in their own groups
            for run in running:
                _kill(run)
    return _in_start_order(ended)


def _in_start_order(trials: Sequence[store.Trial]) -> list[store.Trial]:
    return sorted(trials, key=lambda trial: trial.sequence or 0)


def _launch(
    config: Mapping[str, Any], index: int, parameters: Mapping[str, Any], folder: Path, started: float
) -> _Running:
    trial_id = f"T{index:04d}"
    trial_folder = folder / trial_id
    trial_folder.mkdir(parents=True, exist_ok=True)
    reports = trial_folder / "reports.jsonl"
    reports.write_text("", encoding="utf-8")
    env = {
        **nnictl_environment(),  # `python` in trialCommand is this interpreter's, as under nnictl
        "NNI_TRIAL_COMMAND_CHANNEL": CHANNEL_URL,
        PARAMETERS_ENV: nni.dump(
            {"parameter_id": index, "parameter_source": "algorithm", "parameters": parameters}
        ),
        REPORTS_ENV: str(reports),
        "NNI_PLATFORM": "local",
        "NNI_EXP_ID": "without-nnictl",
        "NNI_TRIAL_JOB_ID": trial_id,
        "NNI_TRIAL_SEQ_ID": str(index),
        "NNI_SYS_DIR": str(trial_folder),
        "NNI_OUTPUT_DIR": str(trial_folder),
    }
    # NNI's trial SDK appends its log and the script's prints to NNI_OUTPUT_DIR/trial.log itself;
    # what reaches the process's stdout is appended to the same file, never written over it
    (trial_folder / "trial.log").write_bytes(b"")
    stdout = (trial_folder / "trial.log").open("ab")
    stderr = (trial_folder / "trial.stderr").open("wb")
    trial = store.Trial(trial_id, index, index, dict(parameters), "RUNNING", start=time.time() - started)
    process = subprocess.Popen(  # a shell, as NNI's local training service runs trialCommand
        str(config["trialCommand"]),
        shell=True,
        cwd=config["trialCodeDirectory"],
        env=env,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,  # its own process group, so that a kill reaches what the shell started
    )
    return _Running(trial, process, trial_folder, [stdout, stderr])


def _finish(run: _Running, started: float) -> store.Trial:
    run.close()
    trial = run.trial
    trial.end = time.time() - started
    trial.status = "SUCCEEDED" if run.process.returncode == 0 else "FAILED"
    for report in read_reports(run.folder / "reports.jsonl"):
        if report.type == "FINAL":
            trial.final = report.value
        elif report.type == "PERIODICAL":
            trial.intermediate.append(report.value)
            trial.intermediate_times.append(report.time - started)
    return trial


def _kill(run: _Running, grace: float = 5.0) -> None:
    """Kill the trial's whole process group (the shell and what it started) and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(run.process.pid, signal.SIGKILL)
    run.process.wait()
    deadline = time.monotonic() + grace  # processes the shell started are reaped by init, not by us
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(run.process.pid, 0)
            time.sleep(POLL_SECONDS)
    run.close()


def run_without_nnictl(
    config: Mapping[str, Any],
    trials: int,
    folder: Path,
    *,
    parallel: int | None,
    timeout: float,
    on_progress: Callable[[str], None] | None = None,
) -> tuple[store.Experiment, int]:
    """Run a recording config's ``trials`` trials here; the experiment as NNI's store would read it,
    and how many trials ran at a time.

    Raises:
        ExperimentConfigError: for a tuner other than Random, or ``parallel`` below 1.
        RecordingCut: when the recording runs past ``timeout`` or is interrupted.
    """
    slots = recording_slots(config, parallel)
    parameter_sets = random_parameters(config, trials)
    if on_progress is not None:
        if len(parameter_sets) < trials:
            on_progress(f"the search space holds only {len(parameter_sets)} parameter sets: as many trials")
        on_progress(
            f"recording {len(parameter_sets)} trials, {slots} at a time, without nnictl; "
            f"trial files in {folder}"
        )
    ran = run_trials(config, parameter_sets, folder, parallel=slots, timeout=timeout, on_progress=on_progress)
    return recorded_experiment(config, folder, ran), slots


def recording_slots(config: Mapping[str, Any], parallel: int | None) -> int:
    """How many trials run at a time: ``parallel``, else the config's ``trialConcurrency``."""
    slots = parallel if parallel is not None else int(config.get("trialConcurrency") or 1)
    if isinstance(slots, bool) or slots < 1:
        raise ExperimentConfigError(f"--parallel must be a whole number >= 1, got {slots!r}")
    return slots


def recorded_experiment(
    config: Mapping[str, Any], folder: Path, trials: Sequence[store.Trial]
) -> store.Experiment:
    """Trials run here, as the experiment NNI's store would read."""
    return store.Experiment("without-nnictl", folder, 0.0, dict(config), list(trials), [])
