"""A Random tuner whose dispatcher connects to NNI's manager seconds late (tests run it by className).

In NNI's dispatcher only (``--exp_params`` on its command line), its constructor waits first: a stop
that comes while NNI starts then always finds the dispatcher not yet connected, the window in which
NNI 3.0's manager fails in its own shutdown (``launch.stop``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from nni.algorithms.hpo.random_tuner import RandomTuner

CONNECT_DELAY_S = 6.0
"""Under NNI's 10 s limit for a dispatcher to connect."""


class LateTuner(RandomTuner):
    def __init__(self, **kwargs: Any) -> None:
        if "--exp_params" in sys.argv:
            time.sleep(CONNECT_DELAY_S)
        super().__init__(**kwargs)
