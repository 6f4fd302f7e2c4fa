"""The registration file is the one source of our NNI names, and every class it names loads."""

from __future__ import annotations

import importlib

import pytest
from nni.assessor import Assessor
from nni.tuner import Tuner

from bttackler_nni.experiments import registration


@pytest.mark.parametrize("algorithm", registration.algorithms(), ids=lambda a: a["builtinName"])
def test_every_registered_class_loads_as_the_right_kind(algorithm):
    module, _, name = algorithm["className"].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, {"assessor": Assessor, "tuner": Tuner}[algorithm["algoType"]])


def test_our_assessor_is_recognised_by_name_and_by_class_path():
    assert registration.names("assessor") == ["BTTackler"]
    assert registration.is_our_assessor("BTTackler", None)
    assert registration.is_our_assessor(None, "bttackler_nni.BTTacklerAssessor")
    assert registration.is_our_assessor(None, "bttackler_nni.dispatcher.assessor.BTTacklerAssessor")
    assert not registration.is_our_assessor("Medianstop", None)
    assert registration.is_our_assessor("bttackler", None)  # NNI reads names in any case
