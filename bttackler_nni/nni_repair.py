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
    text = path.read_text(encoding="utf-8")
    if text.count(_REPAIRED) == 1:
        return RepairState.REPAIRED
    if text.count(_ORIGINAL) == 1:
        return RepairState.ORIGINAL
    raise RepairError(f"{path} does not contain NNI 3.0's cancelTrialJob as expected; refusing to touch it")


def apply(path: Path | None = None) -> bool:
    """Repair the race; returns ``False`` when it was already repaired."""
    path = path or compat_js_path()
    if state(path) is RepairState.REPAIRED:
        return False
    _write_atomically(path, path.read_text(encoding="utf-8").replace(_ORIGINAL, _REPAIRED))
    return True


def revert(path: Path | None = None) -> bool:
    """Undo the repair; returns ``False`` when the file was already NNI's original."""
    path = path or compat_js_path()
    if state(path) is RepairState.ORIGINAL:
        return False
    _write_atomically(path, path.read_text(encoding="utf-8").replace(_REPAIRED, _ORIGINAL))
    return True


def _check_version() -> None:
    import nni

    if nni.__version__ != SUPPORTED_NNI_VERSION:
        raise RepairError(
            f"the repair is written for NNI {SUPPORTED_NNI_VERSION}; installed is NNI {nni.__version__}"
        )


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".bttackler-tmp")
    temporary.write_text(text, encoding="utf-8")
    shutil.copymode(path, temporary)
    temporary.replace(path)
