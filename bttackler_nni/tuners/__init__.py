"""Extra NNI tuners for NNI 3.0 on numpy 2, run inside NNI's dispatcher: the paper's GP and SMAC.

NNI 3.0's own ``GP`` fails after its cold start on SciPy >= 1.11 and numpy 2, and its ``SMAC`` needs
packages that cannot be installed next to numpy 2. Here:

- ``GP``: :class:`~.gp.GPTuner`, NNI's GP tuner with the broken parts corrected (see :mod:`.gp`).
- ``SMAC``: :class:`~.smac.SMACTuner`, the maintained SMAC3 behind NNI's tuner interface (needs
  the ``smac`` extra, see :mod:`.smac`).

Three ways to use them:

- wrapped, so they learn from the trials BTTackler stops:
  ``className: bttackler_nni.BTTacklerTuner``, ``classArgs: {tuner: GP, tuner_args: {...}}``
  (the wrapper builds these classes for ``GP`` and ``SMAC`` instead of NNI's);
- plain, by class: ``className: bttackler_nni.tuners.GPTuner`` (or ``SMACTuner``);
- plain, by name after ``bttackler register``: ``name: BTTacklerGP`` (or ``BTTacklerSMAC``).

A search space a tuner cannot handle is refused with one line naming the parameter and its type
(:class:`~.search_space.SearchSpaceError`), by the tuner's ``update_search_space`` and, at
dispatcher start, already by its constructor (see :mod:`.search_space` for why). ``bttackler check``
reports it before launching because it gives every tuner the search space as the dispatcher does.

The tuners' modules (scikit-learn, SMAC3, ConfigSpace) are imported only when a tuner is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .search_space import SearchSpaceError

if TYPE_CHECKING:
    from .gp import GPTuner
    from .smac import SMACTuner

# Tuner name (BTTacklerTuner's ``tuner``, NNI's broken built-in of the same name) -> module, class.
TUNERS: dict[str, tuple[str, str]] = {
    "GP": ("bttackler_nni.tuners.gp", "GPTuner"),
    "SMAC": ("bttackler_nni.tuners.smac", "SMACTuner"),
}
__all__ = ["GPTuner", "SMACTuner", "SearchSpaceError", "TUNERS", "tuner_class"]


def tuner_class(name: str) -> Any:
    """The class of tuner ``name`` (a key of :data:`TUNERS`), its module imported now."""
    module, cls = TUNERS[name]
    return getattr(importlib.import_module(module), cls)


def __getattr__(name: str) -> Any:
    """``GPTuner`` and ``SMACTuner`` on first use, so that importing this package stays light."""
    for tuner_name, (_, cls) in TUNERS.items():
        if name == cls:
            return tuner_class(tuner_name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
