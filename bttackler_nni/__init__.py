"""bttackler-nni: diagnosis-based early stopping of bad deep-learning HPO trials for NNI 3.0.

- :class:`Reporter` (trial side, PyTorch): collects cheap training diagnostics and reports them
  to NNI once per epoch.
- :class:`BTTacklerAssessor` (experiment side): evaluates the quality indicators and stops bad
  trials, recording why.
- :class:`BTTacklerTuner`: wraps any NNI tuner so it learns from the trials the assessor stops.

``Reporter`` is imported lazily so that NNI's dispatcher, which loads the assessor and the tuner,
does not pay for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .assessor import BTTacklerAssessor
from .config import AssessorConfig, ConfigError
from .engine import Diagnoser, Verdict
from .tuner import BTTacklerTuner

if TYPE_CHECKING:
    from .reporter import Reporter

__version__ = "0.1.0"

__all__ = [
    "AssessorConfig",
    "BTTacklerAssessor",
    "BTTacklerTuner",
    "ConfigError",
    "Diagnoser",
    "Reporter",
    "Verdict",
]


def __getattr__(name: str) -> Any:
    if name == "Reporter":
        from .reporter import Reporter

        return Reporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
