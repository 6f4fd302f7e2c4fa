"""Opt-in repair of NNI 3.0's race that shows assessor kills as USER_CANCELED instead of EARLY_STOPPED.

In ``nni_node/training_service/v3/compat.js``, ``cancelTrialJob`` marks a trial early-stopped only
after ``stopTrial`` has waited for the process to exit; by then NNI has already stored the trial's
end as USER_CANCELED. The repair moves that one line above the wait. It is:

- opt-in: nothing changes until ``bttackler nni-repair apply`` is run;
- version-checked: it applies only to NNI 3.0 and only when the file holds exactly the expected code;
- idempotent: applying twice changes nothing;
- reversible: ``revert`` puts the original lines back, byte for byte.

It takes effect for experiments started (or resumed) after it is applied. BTTackler's own verdict
journal records every stop whether or not the repair is applied.
"""

from __future__ import annotations

import shutil
from enum import Enum
from pathlib import Path

SUPPORTED_NNI_VERSION = "3.0"

_ORIGINAL = """    async cancelTrialJob(trialJobId, isEarlyStopped) {
        try {
            await this.v3.stopTrial(trialJobId);
        }
        catch (error) {
            logger.error('Exception when cancel trial', trialJobId, ':', error);
        }
        this.trialJobs[trialJobId].isEarlyStopped = Boolean(isEarlyStopped);
    }"""

_REPAIRED = """    async cancelTrialJob(trialJobId, isEarlyStopped) {
        this.trialJobs[trialJobId].isEarlyStopped = Boolean(isEarlyStopped);  // bttackler-nni repair
        try {
            await this.v3.stopTrial(trialJobId);
        }
        catch (error) {
            logger.error('Exception when cancel trial', trialJobId, ':', error);
        }
    }"""


class RepairState(str, Enum):
    ORIGINAL = "original"
    REPAIRED = "repaired"


class RepairError(RuntimeError):
    """The installed NNI is not one this repair knows; nothing was changed."""


def compat_js_path() -> Path:
    """The installed NNI's ``compat.js``."""
    import nni_node

    return Path(nni_node.__file__).resolve().parent / "training_service" / "v3" / "compat.js"


def state(path: Path | None = None) -> RepairState:
    """Whether the installed file is NNI's original or repaired; raises :class:`RepairError` otherwise."""
    _check_version()
    path = path or compat_js_path()
    text, newline = _read(path)
    if text.count(_with_newline(_REPAIRED, newline)) == 1:
        return RepairState.REPAIRED
    if text.count(_with_newline(_ORIGINAL, newline)) == 1:
        return RepairState.ORIGINAL
    raise RepairError(f"{path} does not contain NNI 3.0's cancelTrialJob as expected; refusing to touch it")


def apply(path: Path | None = None) -> bool:
    """Repair the race; returns ``False`` when it was already repaired."""
    return _replace(path or compat_js_path(), _ORIGINAL, _REPAIRED, RepairState.REPAIRED)


def revert(path: Path | None = None) -> bool:
    """Undo the repair; returns ``False`` when the file was already NNI's original."""
    return _replace(path or compat_js_path(), _REPAIRED, _ORIGINAL, RepairState.ORIGINAL)


def _replace(path: Path, old: str, new: str, goal: RepairState) -> bool:
    """Put the file in state ``goal``; the file keeps its line endings, a symlink stays a symlink."""
    if state(path) is goal:
        return False
    target = path.resolve()
    text, newline = _read(target)
    changed = text.replace(_with_newline(old, newline), _with_newline(new, newline))
    try:
        _write_atomically(target, changed.encode("utf-8"))
    except OSError as error:
        raise RepairError(
            f"cannot write {target} ({error.strerror}); run as the owner of NNI's install"
        ) from None
    return True


def _read(path: Path) -> tuple[str, str]:
    """The file's text, exactly (no newline translation), and its line ending."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RepairError(f"cannot read {path} ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RepairError(
            f"{path} is not UTF-8 text, so not NNI 3.0's compat.js; refusing to touch it"
        ) from None
    return text, "\r\n" if "\r\n" in text else "\n"


def _with_newline(code: str, newline: str) -> str:
    return code.replace("\n", newline)


def _check_version() -> None:
    import nni

    if nni.__version__ != SUPPORTED_NNI_VERSION:
        raise RepairError(
            f"the repair is written for NNI {SUPPORTED_NNI_VERSION}; installed is NNI {nni.__version__}"
        )


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".bttackler-tmp")
    temporary.write_bytes(data)
    shutil.copymode(path, temporary)
    temporary.replace(path)
