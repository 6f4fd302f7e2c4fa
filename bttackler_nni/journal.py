"""Append-only JSON-lines files under the experiment's checkpoint directory.

``<experiment dir>/checkpoint/bttackler/verdicts.jsonl`` holds one line per assessor verdict (and a
``start`` line per dispatcher start); it is both the audit trail a person reads to learn why a
trial stopped and the state the assessor rebuilds itself from on ``nnictl resume`` (NNI 3.0 never
calls ``save_checkpoint``). ``tuner_feedback.jsonl`` holds each result the tuner wrapper fed to its
tuner for a stopped trial. Every line is flushed as it is written, so a dispatcher crash loses
nothing already decided.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_logger = logging.getLogger(__name__)

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
    """An append-only JSON-lines file, flushed after every line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the process

    def append(self, line: dict[str, Any]) -> None:
        self._file.write(json.dumps(line, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def open_journal(name: str) -> JsonlJournal | None:
    """Open journal ``name`` of the current experiment; ``None`` outside NNI or when it cannot be written."""
    folder = current_journal_dir()
    if folder is None:
        return None
    try:
        return JsonlJournal(folder / name)
    except OSError as error:
        _logger.warning(
            "BTTackler cannot write its journal %s (%s); continuing without it", folder / name, error
        )
        return None


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a journal; a torn or foreign line (e.g. after a crash) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            try:
                line = json.loads(text)
            except ValueError:
                _logger.warning("skipping unreadable line %d of %s", number, path)
                continue
            if isinstance(line, dict):
                yield line
