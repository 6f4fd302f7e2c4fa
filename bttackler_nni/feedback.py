"""Hand-over of stopped trials from the assessor to the tuner wrapper, inside NNI's dispatcher.

NNI 3.0 gives a tuner nothing for a trial an assessor kills (``includeIntermediateResults`` cannot
be set in a v2 config). Both algorithms live in the same dispatcher process, and when a trial ends
NNI's ``handle_trial_end`` calls ``assessor.trial_end(trial_job_id, ...)`` and then, on the same
thread and immediately after, ``tuner.trial_end(parameter_id, ...)``: the only point where the
assessor's trial id meets the tuner's parameter id. The assessor posts the stopped trial here; the
tuner wrapper takes it in its own ``trial_end``. Slots are per thread, so nothing else can interleave.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class StoppedTrial:
    """A trial the assessor stopped, as the tuner needs it.

    Attributes:
        trial: NNI trial job id.
        value: the ``default`` metric of the report that stopped it (``None`` when not finite).
        indicator: the indicator that stopped it.
    """

    trial: str
    value: float | None
    indicator: str


class StopHandoff:
    """One slot per thread: ``post`` in ``assessor.trial_end``, ``take`` in ``tuner.trial_end``."""

    def __init__(self) -> None:
        self._slots: dict[int, StoppedTrial | None] = {}
        self._lock = threading.Lock()

    def post(self, stopped: StoppedTrial | None) -> None:
        """Record the trial that just ended on this thread (``None``: it was not stopped by us)."""
        with self._lock:
            self._slots[threading.get_ident()] = stopped

    def take(self) -> StoppedTrial | None:
        """The trial posted on this thread, cleared so it is handed over at most once."""
        with self._lock:
            return self._slots.pop(threading.get_ident(), None)


STOP_HANDOFF = StopHandoff()
"""The process-wide hand-over used by :class:`BTTacklerAssessor` and :class:`BTTacklerTuner`."""
