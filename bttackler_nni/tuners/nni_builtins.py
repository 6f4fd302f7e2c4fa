"""What NNI 3.0's own tuners need, or cannot do, on today's stack: the fix to name when one fails.

NNI's error says only what broke (``No module named 'pybnn'``, an AttributeError deep in its code),
and the fix it suggests is rarely the fix: a plain ``pip install pybnn`` pulls a CUDA build of
torch, and Hyperband fails at its first metric whatever is installed. :func:`known_fix` gives the
fix measured for each (nnictl runs of 8 trials on Python 3.11, numpy 2 and SciPy 1.17; the project's
notes on NNI 3.0, section 5), for ``bttackler check`` and :class:`~bttackler_nni.BTTacklerTuner`.
"""

from __future__ import annotations

import numpy as np

WORKING = "TPE, Random, Evolution, GridSearch or PBT (they work as shipped), or this package's GP or SMAC"
"""What to use instead of a tuner that cannot work here."""

_BROKEN: dict[str, str] = {  # NNI's class -> why it stops the dispatcher whatever is installed
    "nni.algorithms.hpo.hyperband_advisor.Hyperband": (
        "NNI 3.0's Hyperband dies at its first metric (it compares string bracket ids with integers), "
        f"whatever is installed. Fix: use {WORKING}"
    ),
    "nni.algorithms.hpo.bohb_advisor.BOHB": (
        "NNI 3.0's BOHB dies at its first metric (it compares string bracket ids with integers), "
        f"whatever is installed. Fix: use {WORKING}"
    ),
    "nni.algorithms.hpo.gp_tuner.GPTuner": (
        "NNI 3.0's GP dies after its cold start with SciPy>=1.11 and numpy 2 (at once with a randint). "
        "Fix: use this package's GP: `name: BTTacklerGP` (after `bttackler register`), `className: "
        "bttackler_nni.tuners.GPTuner`, or `tuner: GP` in BTTacklerTuner"
    ),
    "nni.algorithms.hpo.smac_tuner.SMACTuner": (
        "NNI 3.0's SMAC needs smac4nni and ConfigSpaceNNI, which need numpy<1.24 and do not build here. "
        "Fix: use this package's SMAC: `name: BTTacklerSMAC` (after `bttackler register`), `className: "
        "bttackler_nni.tuners.SMACTuner`, or `tuner: SMAC` in BTTacklerTuner"
    ),
}

_KNOWN: dict[str, str] = {  # NNI's class (every name and alias of it) -> what it needs or cannot do
    **_BROKEN,
    "nni.algorithms.hpo.hyperopt_tuner.HyperoptTuner": (
        "NNI 3.0's Anneal and TPE_legacy need hyperopt and numpy<2 (with numpy 2 the dispatcher dies "
        f"after 2 trials). Fix: use {WORKING}, or install hyperopt where numpy<2"
    ),
    "nni.algorithms.hpo.metis_tuner.MetisTuner": (
        "NNI 3.0's Metis needs numpy<2 and SciPy<1.11, and no quniform with q=1 (and takes 10-15 s a "
        f"suggestion on 2 cores). Fix: use {WORKING}"
    ),
    "nni.algorithms.hpo.dngo_tuner.DNGOTuner": (
        "NNI 3.0's DNGO needs pybnn. Fix: pip install --no-deps pybnn emcee (a plain "
        "`pip install pybnn` replaces torch with a CUDA build)"
    ),
}


_NEED_NUMPY_1 = frozenset(
    {"nni.algorithms.hpo.hyperopt_tuner.HyperoptTuner", "nni.algorithms.hpo.metis_tuner.MetisTuner"}
)
"""NNI's classes that build and propose parameters with numpy 2, then stop the dispatcher."""


def broken(name: str | None) -> str | None:
    """Why NNI built-in tuner ``name`` (any of its names, any case) cannot run an experiment here even
    when it builds and proposes parameters, with the fix; ``None`` for any other name."""
    cls = _class_of(name)
    if cls in _NEED_NUMPY_1 and int(np.__version__.split(".")[0]) >= 2:
        return f"numpy {np.__version__} is installed, and {_KNOWN[cls]}"
    return _BROKEN.get(cls)


def known_fix(name: str | None, error: BaseException) -> str | None:
    """The fix for NNI built-in tuner ``name`` (any of its names, any case) that failed with ``error``:
    what it is known to need, else ``pip install`` for a module it lacks; ``None`` when neither."""
    known = _KNOWN.get(_class_of(name))
    if known is not None:
        return known
    if isinstance(error, ModuleNotFoundError) and error.name:
        module = error.name.split(".")[0]
        return f"{name or 'it'} needs the module {module}, which is not installed. Fix: pip install {module}"
    return None


def _class_of(name: str | None) -> str:
    """The class NNI builds for algorithm ``name``; ``""`` for a name NNI does not know."""
    from nni.tools.package_utils.config_manager import get_algo_meta

    meta = get_algo_meta(name) if name else None
    return meta.class_name if meta is not None else ""
