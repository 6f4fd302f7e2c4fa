"""classArgs validation: defaults, coercion of YAML values, and errors that name the key and the fix."""

from __future__ import annotations

import pytest

from bttackler_nni.diagnosis.config import AssessorConfig, ConfigError, Preset
from bttackler_nni.diagnosis.direction import Direction
from bttackler_nni.diagnosis.indicators import Stage


def test_no_class_args_gives_the_documented_defaults():
    config = AssessorConfig.from_class_args(None)
    assert (config.min_peers, config.protect_percentile, config.sticky_protection, config.patience) == (
        10,
        10.0,
        True,
        1,
    )
    assert config.max_epochs is None
    assert config.preset is Preset.DEFAULT and config.direction is Direction.MAXIMIZE
    indicators = ["AGV", "EAG", "ERG", "LAR", "PLC", "ULC", "NMG", "RNK"]
    assert [i.id for i in config.build_indicators()] == indicators
    eag, erg = config.indicators["EAG"], config.indicators["ERG"]
    assert (eag.grad_max, eag.ratio_max, eag.stage, eag.protected) == (1e4, 1e3, Stage.ALWAYS, False)
    assert (erg.grad_min, erg.ratio_min, erg.stage, erg.protected) == (1e-5, 1e-4, Stage.FIRST_HALF, True)


def test_yaml_values_are_coerced():
    config = AssessorConfig.from_class_args(
        {
            "patience": 2.0,
            "indicators": {"eag": {"grad_max": "1e5"}, "NMG": False, "ULC": {"stage": "always"}},
        }
    )
    assert config.patience == 2 and isinstance(config.patience, int)
    assert config.indicators["EAG"].grad_max == 1e5  # YAML 1.1 reads 1e5 as a string
    assert not config.indicators["NMG"].enabled
    assert config.indicators["ULC"].stage is Stage.ALWAYS
    assert "NMG" not in [i.id for i in config.build_indicators()]


@pytest.mark.parametrize(
    "class_args, expected",
    [
        ({"patienc": 2}, "classArgs has no key 'patienc' (did you mean 'patience'?)"),
        ({"patience": 0}, "classArgs.patience = 0: must be >= 1. Fix: give a whole number >= 1"),
        ({"patience": 1.5}, "classArgs.patience = 1.5: must be a whole number"),
        ({"protect_percentile": 101}, "classArgs.protect_percentile = 101: must be <= 100"),
        ({"sticky_protection": "yes"}, "classArgs.sticky_protection = 'yes': must be true or false"),
        ({"max_epochs": "many"}, "classArgs.max_epochs = 'many': must be a number"),
        ({"min_peers": True}, "must be a number, not true/false"),
        ({"indicators": ["EAG"]}, "classArgs.indicators must be a mapping"),
        ({"indicators": {"XYZ": {}}}, "classArgs.indicators has no key 'XYZ'. Valid keys: AGV, EAG"),
        (
            {"indicators": {"EAG": {"grad_mx": 1}}},
            "classArgs.indicators.EAG has no key 'grad_mx' (did you mean",
        ),
        ({"indicators": {"EAG": {"grad_max": -1}}}, "classArgs.indicators.EAG.grad_max = -1: must be > 0"),
        ({"indicators": {"EAG": {"grad_max": float("nan")}}}, "must be finite"),
        ({"indicators": {"LAR": {"stage": "later"}}}, "is not one of always, first_half, second_half"),
        ({"indicators": {"PLC": 3}}, "classArgs.indicators.PLC must be true, false or a mapping"),
        (
            {"indicators": {"RNK": {"start_fraction": 0.95, "end_fraction": 0.1}}},
            "classArgs.indicators.RNK: start_fraction = 0.95 is not below end_fraction = 0.1, so RNK could "
            "never fire. Fix: a start_fraction below end_fraction, or RNK: false",
        ),
    ],
)
def test_invalid_class_args_name_the_key_and_the_fix(class_args, expected):
    with pytest.raises(ConfigError) as error:
        AssessorConfig.from_class_args(class_args)
    assert expected in str(error.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        AssessorConfig.from_class_args(
            {"patience": 0, "min_peers": -1, "indicators": {"EAG": {"ratio_max": 0}}}
        )
    message = str(error.value)
    assert "patience" in message and "min_peers" in message and "EAG.ratio_max" in message
    assert "drop the key to use the default" in message


def test_to_dict_is_plain_data():
    plain = AssessorConfig.from_class_args({"indicators": {"NMG": False}}).to_dict()
    assert (
        plain["indicators"]["ERG"]["stage"] == "first_half" and plain["indicators"]["NMG"]["enabled"] is False
    )


def test_constructing_the_config_directly_is_validated_like_class_args():
    with pytest.raises(ConfigError) as error:
        AssessorConfig(patience=0, protect_percentile=500)
    message = str(error.value)
    assert "AssessorConfig.patience = 0: must be >= 1" in message
    assert "AssessorConfig.protect_percentile = 500: must be <= 100" in message


def test_partial_indicators_keep_the_defaults_of_the_others():
    from bttackler_nni.diagnosis.indicators import ExplodingGradients

    config = AssessorConfig(indicators={"EAG": ExplodingGradients.Settings(grad_max=5.0), "NMG": False})
    assert config.indicators["EAG"].grad_max == 5.0
    assert config.indicators["NMG"].enabled is False
    assert config.indicators["AGV"] == AssessorConfig().indicators["AGV"]
    assert [i.id for i in config.build_indicators()] == ["AGV", "EAG", "ERG", "LAR", "PLC", "ULC", "RNK"]
    with pytest.raises(ConfigError, match="AssessorConfig.indicators has no key 'XYZ'"):
        AssessorConfig(indicators={"XYZ": False})
