"""Trace banks: trials recorded without early stopping, one JSON line each (format in docs/banks.md).

A bank holds, for every trial of a task run to its end, its parameters and per epoch the exact
record the trial reported plus that epoch's seconds. Simulated HPO runs draw from it
(:mod:`.simulation`), so an early-stopping rule can be judged on many seeds without training again.

This module is the format alone: reading, checking and writing a bank imports neither NNI nor torch.
Reading never returns a half-checked bank: any problem raises :class:`BankError` in one line that
names the file and, when it is about one line, the line number.

Python's ``json`` writes and reads NaN and infinite metrics as ``NaN``/``Infinity``/``-Infinity``
(a diverged trial's record holds them), so a bank is JSON Lines with those three extra tokens.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnosis.direction import Direction

BANK_VERSION = 1
RECORD_HINT = "record one with `bttackler bank record CONFIG --trials N --out BANK.jsonl`"
_HEADER_KEYS = ("task", "config", "direction", "max_epochs", "recorded", "command", "machine")


class BankError(ValueError):
    """A bank file is missing, empty or malformed; the message names the file (and line) and the fix."""


def metric_value(reported: Any) -> float | None:
    """The number NNI reads from a reported metric: the number itself or a dict's ``default``."""
    value = reported.get("default") if isinstance(reported, Mapping) else reported
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass(frozen=True)
class BankEpoch:
    """One epoch of a recorded trial: what the trial reported and how long the epoch took.

    Attributes:
        record: the report exactly as the trial sent it (a Reporter's epoch record, or a number).
        seconds: the epoch's wall-clock seconds (how they are measured: docs/banks.md).
    """

    record: Any
    seconds: float

    @property
    def value(self) -> float | None:
        return metric_value(self.record)


@dataclass(frozen=True)
class BankTrial:
    """One recorded trial.

    Attributes:
        trial: its id in the recording (NNI's trial id).
        parameters: the hyperparameters it ran with.
        epochs: its reports, oldest first.
        final: the final result it reported (a number or a dict with ``default``), ``None`` if none.
        status: NNI's last status for it (``SUCCEEDED``, ``FAILED``, ...).
    """

    trial: str
    parameters: Mapping[str, Any]
    epochs: tuple[BankEpoch, ...]
    final: Any
    status: str

    @property
    def value(self) -> float | None:
        """Its result as a run to the end counts it: the final result, else its last reported metric."""
        final = metric_value(self.final)
        if final is not None:
            return final
        return self.epochs[-1].value if self.epochs else None

    @property
    def seconds(self) -> float:
        """Seconds of all its epochs."""
        return sum(epoch.seconds for epoch in self.epochs)

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "parameters": dict(self.parameters),
            "epochs": [{"record": e.record, "seconds": e.seconds} for e in self.epochs],
            "final": self.final,
            "status": self.status,
        }


@dataclass(frozen=True)
class Bank:
    """A trace bank: the recording's description (its header line) and its trials.

    Attributes:
        task: the task's name, e.g. ``digits``.
        config: the experiment config it was recorded from.
        direction: which way the metric improves.
        max_epochs: epochs per trial planned in the recording.
        recorded: when (ISO 8601).
        command: the exact command that recorded it.
        machine: a short description of the machine.
        startup_seconds: measured per-trial cost beyond its epochs (docs/banks.md), ``None`` if unknown.
        trials: the trials in the order they were started.
        path: the file it was read from, if any.
    """

    task: str
    config: str
    direction: Direction
    max_epochs: int
    recorded: str
    command: str
    machine: str
    startup_seconds: float | None
    trials: tuple[BankTrial, ...]
    path: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.path.stem if self.path is not None else self.task

    def startup(self, override: float | None = None) -> float:
        """Per-trial start-up seconds a simulation charges: ``override``, else the measured one, else 0."""
        if override is not None:
            return override
        return self.startup_seconds or 0.0

    def header(self) -> dict[str, Any]:
        return {
            "bank": BANK_VERSION,
            "task": self.task,
            "config": self.config,
            "direction": self.direction.value,
            "max_epochs": self.max_epochs,
            "recorded": self.recorded,
            "command": self.command,
            "machine": self.machine,
            "startup_seconds": self.startup_seconds,
        }


def write_bank(bank: Bank, path: Path) -> Path:
    """Write ``bank`` to ``path`` (header line, then one line per trial); returns the path.

    The lines go to a temporary file beside ``path``, which replaces ``path`` once complete: a write
    that fails (a full disk) leaves a bank already there as it was, and raises :class:`BankError`
    naming ``path``.
    """
    if path.exists() and not path.is_file():
        raise BankError(f"{path}: not a regular file; write the bank to a file")
    lines = [json.dumps(bank.header())] + [json.dumps(trial.to_json()) for trial in bank.trials]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise BankError(f"{path}: cannot write the bank ({error.strerror or error})") from None
    return path


def read_bank(path: str | Path) -> Bank:
    """Read and check the bank at ``path``; raises :class:`BankError` in one line for any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BankError(f"{path}: no such bank file; {RECORD_HINT}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BankError(f"{path}: cannot be read as text ({error})") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise BankError(f"{path}: the bank is empty; {RECORD_HINT}")
    header = _header(path, *lines[0])
    trials = [_trial(path, number, line) for number, line in lines[1:]]
    if not trials:
        raise BankError(f"{path}: the bank has a header but no trials; {RECORD_HINT}")
    seen: dict[str, int] = {}
    for (number, _), trial in zip(lines[1:], trials, strict=True):
        if trial.trial in seen:
            raise BankError(
                f"{path} line {number}: trial {trial.trial!r} already on line {seen[trial.trial]}"
            )
        seen[trial.trial] = number
    return Bank(**header, trials=tuple(trials), path=path)


def _header(path: Path, number: int, line: str) -> dict[str, Any]:
    where = f"{path} line {number}"
    data = _json_object(where, line)
    if "bank" not in data:
        raise BankError(f'{where}: not a bank header (no "bank" key); a bank starts with its header line')
    if data["bank"] != BANK_VERSION:
        raise BankError(f"{where}: bank format {data['bank']!r}; this version reads format {BANK_VERSION}")
    missing = [key for key in _HEADER_KEYS if key not in data]
    if missing:
        raise BankError(f"{where}: the header lacks {', '.join(missing)}")
    try:
        direction = Direction.of(data["direction"])
    except ValueError as error:
        raise BankError(f"{where}: {error}") from None
    max_epochs = data["max_epochs"]
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise BankError(f"{where}: max_epochs must be a whole number >= 1, got {max_epochs!r}")
    startup = data.get("startup_seconds")
    if startup is not None and not _seconds(startup):
        raise BankError(f"{where}: startup_seconds must be a number >= 0 or null, got {startup!r}")
    text = {key: data[key] for key in ("task", "config", "recorded", "command", "machine")}
    not_text = [key for key, value in text.items() if not isinstance(value, str)]
    if not_text:
        raise BankError(f"{where}: {', '.join(not_text)} must be text")
    return {
        **text,
        "direction": direction,
        "max_epochs": max_epochs,
        "startup_seconds": None if startup is None else float(startup),
    }


def _trial(path: Path, number: int, line: str) -> BankTrial:
    where = f"{path} line {number}"
    data = _json_object(where, line)
    if "bank" in data:
        raise BankError(f"{where}: a second header; a bank has one header, on its first line")
    missing = [key for key in ("trial", "parameters", "epochs", "final", "status") if key not in data]
    if missing:
        raise BankError(f"{where}: the trial lacks {', '.join(missing)}")
    trial_id, parameters, epochs, status = data["trial"], data["parameters"], data["epochs"], data["status"]
    if not isinstance(trial_id, str) or not trial_id:
        raise BankError(f"{where}: trial must be a non-empty id, got {trial_id!r}")
    where = f"{where} (trial {trial_id})"
    if not isinstance(parameters, dict):
        raise BankError(f"{where}: parameters must be a mapping, got {parameters!r}")
    if not isinstance(status, str):
        raise BankError(f"{where}: status must be NNI's status text, got {status!r}")
    if not isinstance(epochs, list):
        raise BankError(f"{where}: epochs must be a list, got {type(epochs).__name__}")
    return BankTrial(trial_id, parameters, tuple(_epochs(where, epochs)), data["final"], status)


def _epochs(where: str, epochs: Sequence[Any]) -> Iterable[BankEpoch]:
    for index, epoch in enumerate(epochs):
        if not isinstance(epoch, dict) or set(epoch) != {"record", "seconds"}:
            raise BankError(f'{where}: epochs[{index}] must be {{"record": ..., "seconds": ...}}')
        if not _seconds(epoch["seconds"]):
            raise BankError(
                f"{where}: epochs[{index}].seconds must be a number >= 0, got {epoch['seconds']!r}"
            )
        yield BankEpoch(epoch["record"], float(epoch["seconds"]))


def _json_object(where: str, line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except ValueError as error:
        raise BankError(f"{where}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise BankError(f"{where}: must be a JSON object, got {type(data).__name__}")
    return data


def _seconds(value: Any) -> bool:
    """Whether ``value`` is a duration: a number >= 0 that a float holds (JSON integers are unbounded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        seconds = float(value)
    except OverflowError:
        return False
    return math.isfinite(seconds) and seconds >= 0
