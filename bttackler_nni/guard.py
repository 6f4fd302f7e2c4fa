"""The one rule for code that NNI's dispatcher calls: an exception never reaches NNI.

NNI 3.0's dispatcher stops for good when a tuner or assessor method raises: the experiment stays
RUNNING and schedules nothing more, and nothing tells the user (shared notes on NNI 3.0, section 6).
Every method NNI calls on :class:`~bttackler_nni.BTTacklerAssessor` and
:class:`~bttackler_nni.BTTacklerTuner` therefore runs its body inside :func:`contained`, which logs
what failed, for which trial or parameter id, and lets the experiment go on with the method's
fallback (``AssessResult.Good``, random parameters, nothing).

The first failure of each entry point is logged with its traceback; later ones as one line with a
count, so a trial that triggers the same error on every report cannot flood ``dispatcher.log``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

_logger = logging.getLogger("bttackler_nni")
_failures: Counter[str] = Counter()
_failures_lock = threading.Lock()


@contextmanager
def contained(
    entry_point: str, consequence: str, passing: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Run the body of an NNI entry point; log and swallow any exception it raises.

    Args:
        entry_point: what was being done, with the trial or parameter id, e.g.
            ``"BTTacklerTuner.trial_end(parameter 7)"``; the text before ``(`` counts failures.
        consequence: what happens instead, for the log line, e.g. ``"the trial continues"``.
        passing: exception types that are part of NNI's protocol and must reach it (``NoMoreTrialError``).

    Code after the ``with`` block runs only when the body raised (or did not return): put the fallback there.
    """
    try:
        yield
    except passing:
        raise
    except Exception as error:  # noqa: BLE001 - the point of this guard
        key = entry_point.split("(", 1)[0]
        with _failures_lock:
            _failures[key] += 1
            count = _failures[key]
        if count == 1:
            _logger.exception("BTTackler: %s failed; %s", entry_point, consequence)
        else:
            _logger.error(
                "BTTackler: %s failed (%s: %s; failure %d of %s, traceback logged the first time); %s",
                entry_point,
                type(error).__name__,
                error,
                count,
                key,
                consequence,
            )
