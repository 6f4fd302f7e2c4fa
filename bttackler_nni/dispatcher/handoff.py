"""Hand-over of ended trials from the assessor to the tuner wrapper, inside NNI's dispatcher.

NNI 3.0 gives a tuner nothing for a trial an assessor kills (``includeIntermediateResults`` cannot
be set in a v2 config), and the parameter id it passes to ``tuner.trial_end`` can belong to another
trial (it hands parameters to concurrently started trials in the order they ask, see
docs/nni-notes.md). When a trial ends, NNI's ``handle_trial_end`` calls
``assessor.trial_end(trial_job_id, ...)`` and then, on the same thread and immediately after,
``tuner.trial_end(parameter_id, ...)``: the one point where the assessor's knowledge of the trial
(what it reported, including the parameter id it really received, and whether we stopped it)
meets the tuner. The assessor posts the trial here; the tuner wrapper takes it in its own
``trial_end``. Slots are per thread, so nothing else can interleave.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..diagnosis.verdict import Verdict


@dataclass(frozen=True)
class EndedTrial:
    """A trial that just ended, as the tuner needs it.

    Attributes:
        trial: NNI trial job id.
        parameter_id: the parameter id the trial reported it received (``None`` if it did not say).
        stop: the verdict that stopped it, or ``None`` when BTTackler did not stop it.
    """

    trial: str
    parameter_id: int | None
    stop: Verdict | None = None


class EndedTrialHandoff:
    """One slot per thread: ``post`` in ``assessor.trial_end``, ``take`` in ``tuner.trial_end``."""

    def __init__(self) -> None:
        self._slots: dict[int, EndedTrial] = {}
        self._lock = threading.Lock()

    def post(self, ended: EndedTrial) -> None:
        """Record the trial that just ended on this thread."""
        with self._lock:
            self._slots[threading.get_ident()] = ended

    def take(self) -> EndedTrial | None:
        """The trial posted on this thread, cleared so it is handed over at most once.

        ``None`` when the assessor saw nothing of the trial (NNI calls ``assessor.trial_end`` only
        for trials that reported an intermediate result).
        """
        with self._lock:
            return self._slots.pop(threading.get_ident(), None)


ENDED_TRIALS = EndedTrialHandoff()
"""The process-wide hand-over used by :class:`BTTacklerAssessor` and :class:`BTTacklerTuner`."""
