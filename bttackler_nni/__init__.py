"""bttackler-nni: diagnosis-based early stopping of bad deep-learning HPO trials for NNI 3.0.

- :class:`Reporter` (trial side, PyTorch): collects cheap training diagnostics and reports them
  to NNI once per epoch.
- :class:`BTTacklerAssessor` (experiment side): evaluates the quality indicators and stops bad
  trials, recording why.
- :class:`BTTacklerTuner`: wraps any NNI tuner so it learns from the trials the assessor stops.
- :func:`get_next_parameter`: ``nni.get_next_parameter()`` for trials that train in several
  processes (DDP), where only the main process may ask NNI.
- :class:`Diagnoser`, :class:`AssessorConfig`, :class:`Verdict`: the framework-free diagnosis
  engine the assessor adapts to NNI.

Every name is imported on first use, so a trial pays for torch and not for NNI's dispatcher code,
NNI's dispatcher pays for neither torch nor the trial side, and ``bttackler_nni.diagnosis`` alone
needs only numpy. The layout is described in docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .diagnosis.config import AssessorConfig, ConfigError
    from .diagnosis.engine import Diagnoser
    from .diagnosis.verdict import Verdict
    from .dispatcher.assessor import BTTacklerAssessor
    from .dispatcher.tuner import BTTacklerTuner
    from .trial.distributed import get_next_parameter
    from .trial.reporter import Reporter

__version__ = "0.1.0"

_HOMES = {
    "AssessorConfig": ".diagnosis.config",
    "BTTacklerAssessor": ".dispatcher.assessor",
    "BTTacklerTuner": ".dispatcher.tuner",
    "ConfigError": ".diagnosis.config",
    "Diagnoser": ".diagnosis.engine",
    "Reporter": ".trial.reporter",
    "Verdict": ".diagnosis.verdict",
    "get_next_parameter": ".trial.distributed",
}

__all__ = [
    "AssessorConfig",
    "BTTacklerAssessor",
    "BTTacklerTuner",
    "ConfigError",
    "Diagnoser",
    "Reporter",
    "Verdict",
    "get_next_parameter",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
