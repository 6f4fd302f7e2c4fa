"""The fixes named for NNI 3.0's own tuners that cannot work here, or lack a module."""

from __future__ import annotations

import numpy as np
import pytest

from bttackler_nni.tuners.nni_builtins import broken, known_fix


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Anneal", "need hyperopt and numpy<2"),
        ("tpe_legacy", "need hyperopt and numpy<2"),  # the same class as Anneal, any case
        ("BOHB", "dies at its first metric"),
        ("MetisTuner", "needs numpy<2 and SciPy<1.11"),  # an alias
    ],
)
def test_a_tuner_known_not_to_work_here_is_named_whatever_its_error(name, expected):
    assert expected in (known_fix(name, ValueError("anything")) or "")


def test_a_missing_module_of_another_tuner_names_the_install():
    error = ModuleNotFoundError("No module named 'gym.spaces'", name="gym.spaces")
    assert known_fix("PPO", error) == (
        "PPO needs the module gym, which is not installed. Fix: pip install gym"
    )


def test_other_errors_of_other_tuners_name_nothing():
    assert known_fix("TPE", ValueError("'maxx' is not a valid OptimizeMode")) is None
    assert known_fix(None, TypeError("unexpected keyword")) is None
    assert known_fix("NoSuchTuner", KeyError("x")) is None


def test_only_the_tuners_that_stop_the_dispatcher_whatever_is_installed_are_broken():
    assert "this package's GP" in (broken("gp") or "") and "this package's SMAC" in (broken("SMAC") or "")
    assert "dies at its first metric" in (broken("hyperband") or "")
    assert [broken(name) for name in ("TPE", "Random", "DNGO", "BTTacklerGP", None)] == [None] * 5


def test_anneal_and_metis_are_broken_only_with_numpy_2(monkeypatch):
    monkeypatch.setattr(np, "__version__", "2.1.0")
    assert broken("anneal") == (
        "numpy 2.1.0 is installed, and NNI 3.0's Anneal and TPE_legacy need hyperopt and numpy<2 (with "
        "numpy 2 the dispatcher dies after 2 trials). Fix: use TPE, Random, Evolution, GridSearch or PBT "
        "(they work as shipped), or this package's GP or SMAC, or install hyperopt where numpy<2"
    )
    assert (
        broken(
            "Metis",
        )
        is not None
    )
    monkeypatch.setattr(np, "__version__", "1.26.4")
    assert broken("anneal") is None and broken("Metis") is None
