"""``--out`` checked before the work: a recording or a simulation can run for an hour, and a place it
cannot write must fail at once, in one line, not after the hour and with a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path


class OutputPathError(ValueError):
    """``--out`` names a place this command cannot write."""


def ready_folder(out: Path) -> Path:
    """Create the folder ``out`` (and its parents) and check that a file can be written in it."""
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"--out {out} is a file; give a folder for the report (created if missing)")
    _check_writable(out, out)
    return out


def ready_file(out: Path) -> Path:
    """Check that the file ``out`` can be written: not a folder, its folder created and writable."""
    if out.is_dir():
        raise OutputPathError(f"--out {out} is a folder; give a file in it, e.g. {out / 'bank.jsonl'}")
    _check_writable(out.parent, out)
    return out


def ready_new_file(out: Path, overwrite: bool) -> Path:
    """:func:`ready_file`, and refuse a file already at ``out`` unless ``overwrite``: a bank there may
    hold hours of recording."""
    if out.is_file() and not overwrite:
        raise OutputPathError(
            f"--out {out} already exists; give a new file, or pass --overwrite to replace it"
        )
    return ready_file(out)


def _check_writable(folder: Path, out: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        where = "" if folder == out else f" (its folder {folder})"
        raise OutputPathError(
            f"--out {out}: cannot write there{where}: {error.strerror or error}; give a place you can write"
        ) from None
