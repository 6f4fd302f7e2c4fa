"""What NNI 3.0's own tuners need, or cannot do, on today's stack: the fix to name when one fails.

NNI's error says only what broke (``No module named 'pybnn'``, an AttributeError deep in its code),
and the fix it suggests is rarely the fix: a plain ``pip install pybnn`` pulls a CUDA build of
torch, and Hyperband fails at its first metric whatever is installed. :func:`known_fix` gives the
fix measured for each (nnictl runs of 8 trials on Python 3.11, numpy 2 and SciPy 1.17; the project's
notes on NNI 3.0, section 5), for ``bttackler check`` and :class:`~bttackler_nni.BTTacklerTuner`.
"""

from __future__ import annotations

WORKING = "TPE, Random, Evolution, GridSearch or PBT (they work as shipped), or this package's GP or SMAC"
"""What to use instead of a tuner that cannot work here."""

_KNOWN: dict[str, str] = {  # NNI's class (every name and alias of it) -> what it needs or cannot do
    "nni.algorithms.hpo.hyperband_advisor.Hyperband": (
        "NNI 3.0's Hyperband dies at its first metric (it compares string bracket ids with integers), "
        f"whatever is installed. Fix: use {WORKING}"
    ),
    "nni.algorithms.hpo.bohb_advisor.BOHB": (
        "NNI 3.0's BOHB dies at its first metric (it compares string bracket ids with integers), "
        f"whatever is installed. Fix: use {WORKING}"
    ),
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


def known_fix(name: str | None, error: BaseException) -> str | None:
    """The fix for NNI built-in tuner ``name`` (any of its names, any case) that failed with ``error``:
    what it is known to need, else ``pip install`` for a module it lacks; ``None`` when neither."""
    from nni.tools.package_utils.config_manager import get_algo_meta

    meta = get_algo_meta(name) if name else None
    if meta is not None and meta.class_name in _KNOWN:
        return _KNOWN[meta.class_name]
    if isinstance(error, ModuleNotFoundError) and error.name:
        module = error.name.split(".")[0]
        return f"{name or 'it'} needs the module {module}, which is not installed. Fix: pip install {module}"
    return None
