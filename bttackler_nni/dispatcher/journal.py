"""Append-only JSON-lines files under the experiment's checkpoint directory, that survive anything.

``<experiment dir>/checkpoint/bttackler/verdicts.jsonl`` holds one line per assessor verdict (and a
``start`` line per dispatcher start); it is both the audit trail a person reads to learn why a
trial stopped and the state the assessor rebuilds itself from on ``nnictl resume`` (NNI 3.0 never
calls ``save_checkpoint``). ``tuner_feedback.jsonl`` holds each result the tuner wrapper fed to its
tuner for a stopped trial. Every line is flushed as it is written, so a dispatcher crash loses
nothing already decided.

Both files are read back on resume, so a damaged file must never cost more than its damaged lines:

- reading skips, with one warning each, a line that is not UTF-8, not JSON, not a JSON object, or
  holds a bare non-finite number (we write NaN and Infinity as strings), and keeps every other line;
- a file that cannot be read (a directory in its place, no permission) reads as empty, with a warning;
- appending first ends a torn last line (a crash mid-write), so the next line is never merged into it;
- a file that cannot be written degrades to logging each line, and writing never raises.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnosis.verdict import Verdict

_logger = logging.getLogger("bttackler_nni")

JOURNAL_DIR = "bttackler"
VERDICTS_FILE = "verdicts.jsonl"
TUNER_FEEDBACK_FILE = "tuner_feedback.jsonl"


def journal_dir_of_experiment(experiment_dir: str | os.PathLike[str]) -> Path:
    """Where the journals of the NNI experiment stored in ``experiment_dir`` live."""
    return Path(experiment_dir) / "checkpoint" / JOURNAL_DIR


def current_journal_dir() -> Path | None:
    """The journal folder of the experiment this process serves (NNI's dispatcher), or ``None``."""
    checkpoint_dir = os.environ.get("NNI_CHECKPOINT_DIRECTORY")
    return Path(checkpoint_dir) / JOURNAL_DIR if checkpoint_dir else None


class JsonlJournal:
    """An append-only JSON-lines file, flushed after every line; ``append`` never raises."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for the process
        if self._file.tell() > 0 and not _ends_with_newline(self.path):
            self._file.write(b"\n")  # end a line torn by a crash, so it stays one bad line
            self._file.flush()
        self._failed = False

    def append(self, line: dict[str, Any]) -> None:
        """Write one line; if that fails, log it instead (warning once, then the lines at INFO)."""
        try:
            text = json.dumps(line, default=str, allow_nan=False)
            self._file.write(text.encode("utf-8") + b"\n")
            self._file.flush()
        except (OSError, ValueError, TypeError) as error:
            if not self._failed:
                self._failed = True
                _logger.warning(
                    "BTTackler cannot write %s (%s); its lines go to this log instead", self.path, error
                )
            _logger.info("BTTackler %s line: %r", self.path.name, line)

    def close(self) -> None:
        self._file.close()


def open_journal(name: str) -> JsonlJournal | None:
    """Open journal ``name`` of the current experiment; ``None`` outside NNI or when it cannot be opened."""
    folder = current_journal_dir()
    if folder is None:
        return None
    try:
        return JsonlJournal(folder / name)
    except OSError as error:
        _logger.warning(
            "BTTackler cannot open its journal %s (%s); continuing without it: verdicts and stops are "
            "still logged here",
            folder / name,
            error,
        )
        return None


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a journal, skipping damaged lines with one warning each (see above)."""
    path = Path(path)
    if not path.exists():
        return
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        _logger.warning("BTTackler cannot read %s (%s); reading it as empty", path, error)
        return
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = _decode_line(raw)
        except ValueError as error:  # UnicodeDecodeError among them
            _logger.warning("BTTackler skipped unreadable line %d of %s (%s)", number, path, _short(error))
            continue
        if not isinstance(line, dict):
            _logger.warning("BTTackler skipped line %d of %s: not a JSON object", number, path)
            continue
        yield line


def _decode_line(raw: bytes) -> Any:
    """One journal line's JSON value, by the journal's rules (UTF-8, no bare non-finite number);
    raises ``ValueError`` for a line that breaks them."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)


class StoppedTrials:
    """The trials a verdict journal says BTTackler stopped, read as the journal grows: each call reads
    only the complete lines written since the last one, so a progress loop can call it every poll.
    Lines damaged by :func:`read_jsonl`'s rules are skipped silently (the summary's reading warns
    about them once)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self._stopped: set[str] = set()

    def update(self) -> frozenset[str]:
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except OSError:  # not written yet, or unreadable: what was read so far stands
            return frozenset(self._stopped)
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self._offset += len(complete)
        for raw in complete.split(b"\n"):
            try:
                line = _decode_line(raw)
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("stop") is True and isinstance(line.get("trial"), str):
                self._stopped.add(line["trial"])
        return frozenset(self._stopped)


def verdict_line(verdict: Verdict, parameter_id: int | None, time: float) -> dict[str, Any]:
    """A verdict as the journal stores it: the verdict's JSON, the NNI parameter id the trial
    reported it received (kept for audits of NNI's parameter hand-out), and when it was given."""
    return {**verdict.to_json(), "parameter_id": parameter_id, "time": time}


def start_line(settings: Mapping[str, Any], time: float) -> dict[str, Any]:
    """The line written each time an assessor starts: the settings it runs with."""
    return {"event": "start", "time": time, "config": dict(settings)}


@dataclass
class VerdictJournal:
    """What a verdict journal holds: the settings of each assessor start, and the verdicts in order."""

    starts: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any] | None:
        """The settings the first assessor start ran with, when the journal recorded one."""
        return next((s for s in (start.get("config") for start in self.starts) if isinstance(s, dict)), None)


def read_verdicts(path: str | os.PathLike[str]) -> VerdictJournal:
    """Read a verdict journal; lines that are damaged or not a valid verdict are skipped, warned once each."""
    journal = VerdictJournal()
    for line in read_jsonl(path):
        if line.get("event") == "start":
            journal.starts.append(line)
            continue
        try:
            journal.verdicts.append(Verdict.from_json(line))
        except ValueError as error:
            _logger.warning(
                "BTTackler skipped a verdict of trial %r in %s: %s", line.get("trial"), path, _short(error)
            )
    return journal


def feedback_line(
    trial: str, parameter_id: int, parameters: Any, value: float, indicator: str | None, time: float
) -> dict[str, Any]:
    """A stopped trial's result as the tuner wrapper fed it to its tuner, for replay on resume."""
    return {
        "time": time,
        "trial": trial,
        "parameter_id": parameter_id,
        "parameters": parameters,
        "value": value,
        "indicator": indicator,
    }


def read_feedback(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The fed results of a tuner-feedback journal as NNI ``import_data`` items (``parameter``,
    ``value``); lines without parameters or a finite value are skipped."""
    return [
        {"parameter": line["parameters"], "value": line["value"]}
        for line in read_jsonl(path)
        if "parameters" in line and _is_finite_number(line.get("value"))
    ]


def _is_finite_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as stream:
        stream.seek(-1, os.SEEK_END)
        return stream.read(1) == b"\n"


def _reject_constant(name: str) -> float:
    raise ValueError(f"bare {name} (non-finite numbers are written as strings)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 120 else text[:117] + "..."
