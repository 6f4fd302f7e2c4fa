"""Extra NNI tuners for NNI 3.0 on numpy 2, run inside NNI's dispatcher: the paper's GP and SMAC.

NNI 3.0's own ``GP`` fails after its cold start on SciPy >= 1.11 and numpy 2, and its ``SMAC`` needs
packages that cannot be installed next to numpy 2. Here:

- ``GP``: :class:`~.gp.GPTuner`, NNI's GP tuner with the broken parts corrected (see :mod:`.gp`).
- ``SMAC``: :class:`~.smac.SMACTuner`, the maintained SMAC3 behind NNI's tuner interface (needs
  the ``smac`` extra, see :mod:`.smac`).

Three ways to use them:

- wrapped, so they learn from the trials BTTackler stops:
  ``className: bttackler_nni.BTTacklerTuner``, ``classArgs: {tuner: GP, tuner_args: {...}}``
  (:func:`build_tuner` resolves the name: ``GP`` and ``SMAC`` build these classes instead of NNI's);
- plain, by class: ``className: bttackler_nni.tuners.GPTuner`` (or ``SMACTuner``);
- plain, by name after ``bttackler register``: ``name: BTTacklerGP`` (or ``BTTacklerSMAC``).

A search space a tuner cannot handle fails in its constructor, at dispatcher start, with one line
naming the parameter and its type (:class:`~.search_space.SearchSpaceError`); ``bttackler check``
reports the same before launching (:func:`check_search_space`).

The tuners' modules (scikit-learn, SMAC3, ConfigSpace) are imported only when a tuner is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .search_space import SearchSpaceError

if TYPE_CHECKING:
    from nni.tuner import Tuner

    from .gp import GPTuner
    from .smac import SMACTuner

# Tuner name (BTTacklerTuner's ``tuner``, NNI's broken built-in of the same name) -> module, class.
TUNERS: dict[str, tuple[str, str]] = {
    "GP": ("bttackler_nni.tuners.gp", "GPTuner"),
    "SMAC": ("bttackler_nni.tuners.smac", "SMACTuner"),
}
# The names `bttackler register` gives them (NNI's own GP and SMAC keep theirs).
REGISTERED_NAMES: dict[str, str] = {"BTTacklerGP": "GP", "BTTacklerSMAC": "SMAC"}

__all__ = ["GPTuner", "REGISTERED_NAMES", "SMACTuner", "SearchSpaceError", "TUNERS", "build_tuner"]


def build_tuner(name: str, args: Mapping[str, Any] | None = None) -> Tuner:
    """The tuner called ``name`` built with ``args``: ours for ``GP`` and ``SMAC``, else NNI's.

    Raises ``RuntimeError`` (NNI's) for a name NNI does not know, and whatever the tuner's
    constructor raises for bad arguments or an unsupported search space.
    """
    if name in TUNERS:
        return _tuner_class(name)(**dict(args or {}))
    from nni.tools.package_utils import create_builtin_class_instance

    return create_builtin_class_instance(name, dict(args or {}), "tuners")


def check_search_space(tuner_name: str, search_space: Any) -> None:
    """Raise :class:`SearchSpaceError` if tuner ``tuner_name`` (one of :data:`TUNERS`) cannot handle
    ``search_space``; other tuners' search spaces are left to NNI."""
    if tuner_name in TUNERS:
        _tuner_class(tuner_name).check_search_space(search_space)


def tuner_name_in(tuner_section: Mapping[str, Any]) -> str | None:
    """The name in :data:`TUNERS` of the tuner an experiment config's ``tuner`` section builds, if any.

    Covers the three ways of use above; ``None`` for any other tuner.
    """
    class_name = tuner_section.get("className")
    class_args = tuner_section.get("classArgs") or {}
    if class_name in ("bttackler_nni.BTTacklerTuner", "bttackler_nni.tuner.BTTacklerTuner") or (
        tuner_section.get("name") == "BTTacklerTuner"
    ):
        inner = class_args.get("tuner", "TPE") if isinstance(class_args, Mapping) else None
        return inner if inner in TUNERS else None
    for name, (module, cls) in TUNERS.items():
        if class_name in (f"bttackler_nni.tuners.{cls}", f"{module}.{cls}"):
            return name
    return REGISTERED_NAMES.get(tuner_section.get("name") or "")


def _tuner_class(name: str) -> Any:
    module, cls = TUNERS[name]
    return getattr(importlib.import_module(module), cls)


def __getattr__(name: str) -> Any:
    """``GPTuner`` and ``SMACTuner`` on first use, so that importing this package stays light."""
    for tuner_name, (_, cls) in TUNERS.items():
        if name == cls:
            return _tuner_class(tuner_name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
