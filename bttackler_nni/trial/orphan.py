"""A trial that NNI stopped but whose training runs on: notice it, and leave.

NNI stops a trial by signalling the process it started, ``/bin/bash -c "<trialCommand>"``. When the
command that runs last is a plain one (from bash 5.1 also after ``;``, ``&&`` or ``||``), bash
replaces itself with it and the signal reaches Python. Otherwise (``python train.py > log 2>&1``
without ``exec``, ``python train.py | tee train.log``, ``python train.py; echo done``; the shapes
are listed in :mod:`bttackler_nni.experiments.trial_command`) the signal reaches only bash, which
waits for its child: the trial trains on to its end while NNI and BTTackler count it as stopped, and
the stop saves nothing. NNI kills bash 5 s later, and Python is adopted by another process; a
changed parent process is how the trial learns that it was stopped.
"""

from __future__ import annotations

import os

ORPHANED = (
    "BTTackler: NNI stopped this trial, but the stop reached only the shell that ran the trialCommand, "
    "not this process, so the trial exits now. Fix: start the training with exec, as the last command, "
    "e.g. `trialCommand: cd src && exec python train.py` (no pipe, nothing after it)"
)
"""Why the trial exits; it goes to the trial's stderr (``trial.stderr`` in NNI's trial folder)."""


class ParentWatch:
    """Remembers this process's parent; :meth:`check` leaves once the parent has changed."""

    def __init__(self) -> None:
        self._parent = os.getppid()

    def check(self) -> None:
        """Raise :class:`SystemExit` (message :data:`ORPHANED`) if the parent process is gone.

        One ``getppid`` system call, cheap enough for every training batch."""
        if os.getppid() != self._parent:
            raise SystemExit(ORPHANED)
