"""Plain-text summaries of an experiment: trials, outcomes, and why BTTackler stopped each one."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from ..diagnosis.config import ConfigError
from ..diagnosis.coverage import REPORTER_FIX, blindness
from ..dispatcher.journal import VERDICTS_FILE, journal_dir_of_experiment
from ..experiments.store import Experiment, Trial
from ..record import parse_record
from .failure_hint import failure_hint
from .replay import recorded_config

_UNFINISHED = ("WAITING", "RUNNING", "UNKNOWN")
FAILED_LOGS_SHOWN = 3
"""How many failed trials' logs a summary points to."""
TRIAL_IDS_SHOWN = 3
"""How many trials a summary names as examples of a group."""
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


def estimated_seconds_saved(trial: Trial) -> float | None:
    """Training time a stopped trial did not spend: its remaining epochs at its own pace so far.

    ``None`` when the trial was not stopped by BTTackler or its timing or planned length is unknown.
    """
    if not trial.stopped_by_bttackler or trial.duration is None or not trial.intermediate:
        return None
    planned = trial.stop_verdict.max_epochs if trial.stop_verdict is not None else None
    done = len(trial.intermediate)
    if not isinstance(planned, int) or planned <= done:
        return None
    return (planned - done) * trial.duration / done


def outcome(trial: Trial, experiment: Experiment) -> str:
    """What happened to a trial, in words: BTTackler's stop reason first, else NNI's status.

    NNI leaves the trials that ran when an experiment was stopped marked RUNNING; they were killed. A
    trial that failed after it sent its final result is told apart: the tuner has its result.
    """
    if trial.stopped_by_bttackler and trial.stop_verdict is not None:
        verdict = trial.stop_verdict
        indicator = verdict.reason.indicator if verdict.reason else "?"
        return f"stopped by {indicator} at epoch {verdict.epoch}"
    if experiment.stopped and trial.status in _UNFINISHED:
        return "killed when the experiment stopped"
    if trial.status == "USER_CANCELED":  # NNI 3.0 records any death by a signal so (docs/nni-notes.md)
        return "killed by a signal or cancelled"
    if trial.failed and trial.final is not None:  # e.g. torch aborting at exit (docs/nni-notes.md)
        return "failed after its final result"
    return trial.status.lower()


def failed_trials_note(experiment: Experiment, shown: int = FAILED_LOGS_SHOWN) -> list[str]:
    """Where to read why trials failed: their log files, and the line of each one's stderr that says
    why (:func:`~.failure_hint.failure_hint`)."""
    failed = [t for t in experiment.trials if t.failed]
    if not failed:
        return []
    lines = [f"  {len(failed)} trial(s) failed; their logs:"]
    for trial in failed[:shown]:
        where, *fixes = _failure_report(experiment, trial)
        lines.append(f"    {trial.id}: {where}")
        lines.extend(f"    {fix}" for fix in fixes)
    if len(failed) > shown:
        lines.append(f"    ... and {len(failed) - shown} more (NNI's web UI shows each trial's log)")
    return lines


def blind_trials_note(experiment: Experiment) -> list[str]:
    """Which of BTTackler's indicators could not judge the trials, because of what the trials reported
    (plain numbers, or a dict without the Reporter's statistics), and the fix. Empty where BTTackler
    did not judge the experiment or every trial's first report carried what its indicators read."""
    try:
        config = recorded_config(experiment)
    except ConfigError:  # settings of a version that read them otherwise: say nothing rather than guess
        return []
    if config is None:
        return []
    indicator_ids = [indicator.id for indicator in config.build_indicators()]
    judged = [trial for trial in experiment.trials if trial.intermediate]
    blind: dict[str, list[str]] = {}
    for trial in judged:
        text = blindness(parse_record(trial.intermediate[0])[0], indicator_ids)
        if text:
            blind.setdefault(text, []).append(trial.id)
    lines = []
    for text, trial_ids in blind.items():
        examples = ", ".join(trial_ids[:TRIAL_IDS_SHOWN]) + (
            ", ..." if len(trial_ids) > TRIAL_IDS_SHOWN else ""
        )
        lines.append(f"  {len(trial_ids)} of {len(judged)} trial(s) ({examples}) reported {text}")
    if lines:
        lines.append(f"    Fix: {REPORTER_FIX}")
    return lines


def summarize(experiment: Experiment, status: str | None = None, max_rows: int = 60) -> str:
    """A short report: counts, stops per indicator, the best trial, and one line per trial."""
    trials = experiment.trials
    stopped = [t for t in trials if t.stopped_by_bttackler]
    statuses = Counter(outcome(t, experiment) for t in trials if not t.stopped_by_bttackler)
    nni_labels = Counter(t.status for t in stopped)
    reasons = [t.stop_verdict.reason for t in stopped if t.stop_verdict and t.stop_verdict.reason]
    by_indicator = Counter(reason.indicator for reason in reasons)
    kinds = {reason.indicator: reason.kind.value for reason in reasons}
    saved = [s for s in (estimated_seconds_saved(t) for t in stopped) if s is not None]
    ends = [t.end for t in trials if t.end is not None]

    lines = [
        f"Experiment {experiment.id} ({experiment.config.get('experimentName', 'unnamed')})"
        + (f": {status}" if status else "")
        + (f" after {_duration(max(ends))}" if ends else "")
        + f", {len(trials)} trials"
    ]
    counts = [f"stopped by BTTackler {len(stopped)}"]
    if stopped:
        counts[0] += " (NNI shows " + ", ".join(f"{s} {n}" for s, n in sorted(nni_labels.items())) + ")"
    counts += [f"{s} {n}" for s, n in sorted(statuses.items())]
    lines.append("  " + ", ".join(counts))
    if stopped:
        lines.append(
            "  stops by indicator: "
            + ", ".join(
                f"{indicator} {n} ({kinds.get(indicator)})" for indicator, n in by_indicator.most_common()
            )
        )
    if saved:
        lines.append(
            f"  trial time saved by stopping early: about {_duration(sum(saved))} "
            f"(remaining epochs of the stopped trials at their own pace)"
        )
    best = _best(experiment)
    if best is not None:
        lines.append(f"  best: trial {best.id} {_value(best.last_value)} ({_parameters(best.parameters)})")
    lines.extend(blind_trials_note(experiment))
    lines.extend(failed_trials_note(experiment))
    lines.append("")
    lines.append(f"  {'trial':<8}{'outcome':<36}{'reports':>8}{'value':>10}  reason")
    for trial in trials[:max_rows]:
        verdict = trial.stop_verdict if trial.stopped_by_bttackler else None
        reason = verdict.reason_text() if verdict else ""
        lines.append(
            f"  {trial.id:<8}{outcome(trial, experiment):<36}{len(trial.intermediate):>8}"
            f"{_value(trial.last_value):>10}  {reason}"
        )
    if len(trials) > max_rows:
        lines.append(f"  ... {len(trials) - max_rows} more trials")
    lines.append("")
    lines.append(
        f"  Why a trial stopped: `bttackler why {experiment.id} TRIAL`, or the JSON lines in "
        f"{journal_dir_of_experiment(experiment.directory) / VERDICTS_FILE}"
    )
    return "\n".join(lines)


def explain_trial(experiment: Experiment, trial_id: str) -> str:
    """Every verdict BTTackler gave one trial, and how the trial ended."""
    trial = experiment.trial(trial_id)
    verdicts = [v for v in experiment.verdicts if v.trial == trial_id]
    lines = [
        f"Trial {trial.id} of experiment {experiment.id}: {outcome(trial, experiment)} "
        f"(NNI status {trial.status}), "
        f"{len(trial.intermediate)} reports, value {_value(trial.last_value)}",
        f"  parameters: {_parameters(trial.parameters)}",
    ]
    for verdict in verdicts:
        mark = "STOP" if verdict.stop else "ok  "
        fired = ", ".join(verdict.fired) or "-"
        protected = " protected" if verdict.protected else ""
        lines.append(
            f"  {mark} epoch {verdict.epoch:>3}  train_loss {_value(verdict.train_loss)}"
            f"  fired: {fired}{protected}" + (f"  -> {verdict.reason_text()}" if verdict.stop else "")
        )
        lines.extend(f"       note: {note}" for note in verdict.notes)
    if not verdicts:
        lines.append("  BTTackler gave this trial no verdict (it reported no intermediate result).")
    if trial.failed:
        where, *fixes = _failure_report(experiment, trial)
        lines.append(f"  its log: {where}")
        lines.extend(f"  {fix}" for fix in fixes)
    return "\n".join(lines)


def _failure_report(experiment: Experiment, trial: Trial) -> list[str]:
    """Where a failed trial's log is, with the line of its stderr that says why, then the fix where
    that line names a module that is not installed."""
    folder = experiment.trial_log_dir(trial.id)
    if folder is None:
        return ["on the training service's machine (see NNI's web UI, trial logs)"]
    hint = _failure_hint_of(folder / "trial.stderr")
    lines = [f"{folder / 'trial.log'}" + (f"  (stderr: {hint[:160]})" if hint else "")]
    missing = _MISSING_MODULE.search(hint)
    if missing:
        lines.append(
            f"  {missing.group(1)} is not installed for the Python that ran this trial (on a remote "
            "worker: the python in its machineList pythonPath); install it there"
        )
    return lines


def _failure_hint_of(stderr_file: Path) -> str:
    try:
        return failure_hint(stderr_file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def _best(experiment: Experiment) -> Trial | None:
    scored = [t for t in experiment.trials if t.last_value is not None and t.last_value == t.last_value]
    if not scored:
        return None
    return min(scored, key=lambda t: experiment.direction.score(t.last_value or 0.0))


def _parameters(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v) if isinstance(v, float) else v}" for k, v in parameters.items())


def _value(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
