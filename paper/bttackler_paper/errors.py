"""Errors that stop a task before training starts, each with a message a user can act on."""

from __future__ import annotations

import os
from pathlib import Path


class TaskSetupError(Exception):
    """A trial cannot start: its data or its hyperparameters are unusable.

    The trial scripts catch it and exit with its message alone (no traceback).
    """


class DatasetUnavailableError(TaskSetupError):
    """A dataset is missing at the given path or cannot be read there."""

    def __init__(
        self,
        dataset: str,
        path: str | os.PathLike[str] | None,
        problem: str,
        *,
        expected: str,
        setting: str,
        source: str,
    ) -> None:
        """Build a message that names the path, what went wrong, what to set and where to get the data.

        Args:
            dataset: the dataset's name, e.g. ``"CIFAR-10"``.
            path: the path that was looked at; ``None`` when none was configured.
            problem: what is wrong there, e.g. ``"no such file or directory"``.
            expected: what the path should point at.
            setting: the argument or environment variable that sets the path.
            source: where to download the data.
        """
        self.path = Path(path) if path is not None else None
        where = f" at '{path}'" if path is not None else ""
        super().__init__(
            f"{dataset} data is not usable{where}: {problem}.\n"
            f"Point {setting} at {expected}.\n"
            f"Get the data from {source}."
        )


class ParameterError(TaskSetupError, ValueError):
    """A hyperparameter dict has a missing, unknown or invalid key."""
