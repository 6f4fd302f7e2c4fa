"""The digits trial, with fates for chaos tests: some trials crash or are SIGKILLed mid-training.

Fates are files in the folder ``$CHAOS_FATES`` (``crash-1``, ``sigkill-1``, ...). Each trial, after
its second report, tries to claim one by renaming it (an atomic step, so each fate befalls exactly
one trial), and meets it: ``crash`` raises, ``sigkill`` kills its own process with SIGKILL (no
Python cleanup, no final result, as when the OOM killer strikes). Trials that find no fate left
train normally. Arguments are the digits trial's.
"""

from __future__ import annotations

import os
import runpy
import signal
from pathlib import Path

from bttackler_nni import Reporter

DIGITS_TRIAL = Path(__file__).resolve().parents[2] / "examples" / "digits" / "train.py"
FATE_AFTER_REPORTS = 2


def claim_fate() -> str | None:
    folder = Path(os.environ.get("CHAOS_FATES", ""))
    trial = os.environ.get("NNI_TRIAL_JOB_ID", "standalone")
    unclaimed = (
        [f for f in folder.glob("*-*") if not f.name.startswith("claimed.")] if folder.is_dir() else []
    )
    for fate in sorted(unclaimed):
        try:
            fate.rename(folder / f"claimed.{fate.name}.{trial}")
        except OSError:
            continue  # another trial took it first
        return fate.name.split("-")[0]
    return None


def meet(fate: str) -> None:
    if fate == "crash":
        raise RuntimeError("chaos: this trial crashes on purpose")
    if fate == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)


reported = Reporter.end_epoch


def end_epoch_with_fate(self: Reporter, **metrics: float) -> dict:
    record = reported(self, **metrics)
    if self.epoch == FATE_AFTER_REPORTS:
        fate = claim_fate()
        if fate is not None:
            meet(fate)
    return record


Reporter.end_epoch = end_epoch_with_fate  # type: ignore[method-assign]
runpy.run_path(str(DIGITS_TRIAL), run_name="__main__")
