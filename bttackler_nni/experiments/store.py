"""Read an NNI 3.0 experiment from its directory: trials, their records, and BTTackler's verdicts.

Everything comes from files, so it works on running, stopped and finished experiments alike and
needs no web server:

- ``<experiment dir>/db/nni.sqlite``: the experiment's start time and config (``ExperimentProfile``),
  each trial's status events with its parameters (``TrialJobEvent``), and every intermediate and
  final result (``MetricData``).
- ``<experiment dir>/checkpoint/bttackler/verdicts.jsonl``: BTTackler's verdicts.

An experiment is located by id through NNI's registry ``~/nni-experiments/.experiment`` (which
records each experiment's ``experimentWorkingDirectory``), then under ``~/nni-experiments``; a path
to the experiment directory is accepted too.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nni

from ..diagnosis.direction import Direction
from ..diagnosis.verdict import Verdict
from ..dispatcher.experiment_config import tuner_direction
from ..dispatcher.journal import VERDICTS_FILE, journal_dir_of_experiment, read_verdicts

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"})


class ExperimentNotFound(FileNotFoundError):
    """No experiment directory could be found for the given id or path."""


@dataclass
class Trial:
    """One trial as NNI stored it, with BTTackler's stop verdict when BTTackler stopped it.

    Times (``start``, ``end``, ``intermediate_times``: when each report arrived) are seconds since the
    experiment started. ``status`` is NNI's last status (an assessor
    kill reads USER_CANCELED unless the NNI repair is applied); ``stop_verdict`` is the truth about
    who stopped it.
    """

    id: str
    sequence: int | None
    parameter_id: int | None
    parameters: dict[str, Any]
    status: str
    start: float | None = None
    end: float | None = None
    intermediate: list[Any] = field(default_factory=list)
    intermediate_times: list[float] = field(default_factory=list)
    final: Any = None
    stop_verdict: Verdict | None = None

    @property
    def stopped_by_bttackler(self) -> bool:
        return self.stop_verdict is not None and self.status != "SUCCEEDED"

    @property
    def failed(self) -> bool:
        """NNI's FAILED, unless BTTackler stopped the trial: a launcher such as ``torchrun`` turns the
        stop's signal into an exit code, which NNI 3.0 records as FAILED (docs/nni-notes.md)."""
        return self.status == "FAILED" and not self.stopped_by_bttackler

    @property
    def last_value(self) -> float | None:
        """The final result's metric, or for a trial without one its last reported ``default``."""
        for value in ([self.final] if self.final is not None else []) + self.intermediate[::-1]:
            metric = value.get("default") if isinstance(value, dict) else value
            if isinstance(metric, (int, float)) and not isinstance(metric, bool):
                try:
                    return float(metric)
                except OverflowError:  # an integer too large for a float
                    return math.copysign(math.inf, metric)
        return None

    @property
    def duration(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass
class Experiment:
    """An NNI experiment read from disk."""

    id: str
    directory: Path
    start_time: float
    config: dict[str, Any]
    trials: list[Trial]
    verdicts: list[Verdict]
    assessor_settings: dict[str, Any] | None = None
    """The BTTackler settings the experiment's assessor ran with (from its journal), if it had one."""
    registry_status: str | None = None
    """The experiment's status in NNI's registry (``STOPPED`` once stopped), when it is registered."""

    @property
    def stopped(self) -> bool:
        """Whether the experiment was stopped: its trials still marked RUNNING were killed then."""
        return self.registry_status == "STOPPED"

    def trial_log_dir(self, trial_id: str) -> Path | None:
        """The folder with the trial's ``trial.log`` and ``trial.stderr`` on this machine, if there is one.

        The local training service writes them under ``environments/local-env``. Other services keep
        them on the worker; NNI's manager copies them to ``trials/<id>`` when asked through its web
        server (``launch.fetch_trial_logs``, which ``bttackler run`` calls for failed trials).
        """
        service = self.config.get("trainingService")
        if isinstance(service, dict) and service.get("platform") == "local":
            return self.directory / "environments" / "local-env" / "trials" / trial_id
        fetched = self.directory / "trials" / trial_id
        return fetched if fetched.is_dir() else None

    @property
    def direction(self) -> Direction:
        """Which way the trials' result improves: :attr:`stated_direction`, else ``maximize``."""
        return self.stated_direction or Direction.MAXIMIZE

    @property
    def stated_direction(self) -> Direction | None:
        """The direction the experiment states: its tuner's optimize_mode (see :func:`tuner_direction`),
        else the one BTTackler's assessor ranked with (a tuner such as Random has none); ``None``
        when neither says."""
        ranked = (self.assessor_settings or {}).get("direction")
        try:
            assessor = Direction.of(ranked) if ranked else None
        except ValueError:
            assessor = None
        return tuner_direction(self.config) or assessor

    def trial(self, trial_id: str) -> Trial:
        for trial in self.trials:
            if trial.id == trial_id:
                return trial
        raise KeyError(f"experiment {self.id} has no trial {trial_id!r}")


def experiment_directory(experiment_id: str, working_directory: str | None, home: Path | None = None) -> Path:
    """Where NNI puts an experiment: under its config's ``experimentWorkingDirectory`` if set, else
    under ``~/nni-experiments`` (whatever the current directory, docs/nni-notes.md)."""
    root = (
        Path(working_directory).expanduser()
        if working_directory
        else (home or Path.home()) / "nni-experiments"
    )
    return root / experiment_id


def locate(experiment: str | Path, home: Path | None = None) -> Path:
    """The directory of ``experiment`` (an id or a directory path) that holds its database."""
    try:
        candidate = Path(experiment).expanduser()
    except RuntimeError:  # ~name of no user
        raise ExperimentNotFound(
            f"{experiment}: {str(experiment).split('/')[0]} names no user on this machine; "
            "give an experiment id or a directory"
        ) from None
    if (candidate / "db" / "nni.sqlite").exists():
        return candidate.resolve()
    searched = [experiment_directory(str(experiment), None, home)]
    registry = (home or Path.home()) / "nni-experiments" / ".experiment"
    entry = registry_entry(str(experiment), home)
    if entry.get("logDir"):
        searched.insert(0, Path(entry["logDir"]) / str(experiment))
    for path in searched:
        if (path / "db" / "nni.sqlite").exists():
            return path
    raise ExperimentNotFound(
        f"no NNI experiment {str(experiment)!r}: looked in {', '.join(str(p) for p in searched)} "
        f"(and NNI's registry {registry}). Give the experiment id shown by `nnictl experiment list --all` "
        f"or the path of its directory."
    )


def registry_entry(experiment_id: str, home: Path | None) -> dict[str, Any]:
    """The experiment's entry in NNI's registry ``~/nni-experiments/.experiment`` ({} if none/unreadable).

    NNI rewrites that file in place, so it can be caught half-written: that reads as no entry.
    """
    registry = (home or Path.home()) / "nni-experiments" / ".experiment"
    try:
        entry = json.loads(registry.read_text(encoding="utf-8")).get(experiment_id)
    except (OSError, ValueError, AttributeError):
        return {}
    return entry if isinstance(entry, dict) else {}


def load(experiment: str | Path, home: Path | None = None) -> Experiment:
    """Read ``experiment`` (an id or a directory) with all trials, results and verdicts."""
    directory = locate(experiment, home)
    database = directory / "db" / "nni.sqlite"
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            profile = connection.execute(
                "SELECT id, startTime, params FROM ExperimentProfile ORDER BY revision DESC LIMIT 1"
            ).fetchone()
            events = connection.execute(
                "SELECT timestamp, trialJobId, event, data, sequenceId FROM TrialJobEvent "
                "ORDER BY timestamp, rowid"
            ).fetchall()
            metrics = connection.execute(
                "SELECT trialJobId, type, parameterId, data, timestamp FROM MetricData "
                "ORDER BY timestamp, rowid"
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:  # not a database, or one NNI has not created its tables in yet
        raise ExperimentNotFound(
            f"{database} cannot be read as an NNI experiment database ({error}); "
            "give the directory of an NNI experiment that has started"
        ) from None
    if profile is None:
        raise ExperimentNotFound(f"{directory} holds no experiment profile yet")
    experiment_id, start_ms, params = profile
    start_time = start_ms / 1000
    trials = _trials_from_events(events, start_time)
    _attach_metrics(trials, metrics, start_time)
    journal = read_verdicts(journal_dir_of_experiment(directory) / VERDICTS_FILE)
    for verdict in journal.verdicts:
        trial = trials.get(verdict.trial)
        if verdict.stop and trial is not None and trial.stop_verdict is None:
            trial.stop_verdict = verdict
    ordered = sorted(trials.values(), key=lambda t: (t.sequence if t.sequence is not None else 1 << 30, t.id))
    status = registry_entry(experiment_id, home).get("status")
    return Experiment(
        experiment_id,
        directory,
        start_time,
        json.loads(params),
        ordered,
        journal.verdicts,
        journal.settings,
        status,
    )


def _trials_from_events(events: Iterable[tuple], start_time: float) -> dict[str, Trial]:
    trials: dict[str, Trial] = {}
    for timestamp, trial_id, event, data, sequence in events:
        trial = trials.get(trial_id)
        if trial is None:
            record = json.loads(data) if data else {}
            trial = trials[trial_id] = Trial(
                trial_id, sequence, record.get("parameter_id"), record.get("parameters", {}), event
            )
        trial.status = event
        seconds = timestamp / 1000 - start_time
        if event == "RUNNING" and trial.start is None:
            trial.start = seconds
        if event in TERMINAL_STATUSES:
            trial.end = seconds
    return trials


def _attach_metrics(trials: dict[str, Trial], metrics: Iterable[tuple], start_time: float) -> None:
    """Add each trial's results, and correct its parameters to those it says it received.

    NNI 3.0 can store a trial with the parameters of another trial started at the same time (it
    hands parameters out in the order trials ask; see docs/nni-notes.md). The parameter id in a
    trial's own metrics is the one it really ran.
    """
    parameters_by_id = {t.parameter_id: t.parameters for t in trials.values() if t.parameter_id is not None}
    for trial_id, kind, parameter_id, data, timestamp in metrics:
        trial = trials.get(trial_id)
        if trial is None:
            continue
        if parameter_id is not None and str(parameter_id).isdigit() and int(parameter_id) in parameters_by_id:
            trial.parameter_id = int(parameter_id)
            trial.parameters = parameters_by_id[trial.parameter_id]
        value = decode_metric(data)
        if kind == "FINAL":
            trial.final = value
        elif kind == "PERIODICAL":
            trial.intermediate.append(value)
            trial.intermediate_times.append(timestamp / 1000 - start_time)


def decode_metric(data: str) -> Any:
    """NNI stores a metric as a JSON string holding the trial's ``nni.dump`` text: undo both layers."""
    inner = json.loads(data)
    return nni.load(inner) if isinstance(inner, str) else inner
