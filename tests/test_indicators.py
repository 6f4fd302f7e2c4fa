"""Each indicator fires on a history with its problem, stays quiet on healthy ones, honours its settings."""

from __future__ import annotations

import math

import pytest
from synthetic import OSCILLATING_UP, healthy_history, record, with_losses

from bttackler_nni.diagnosis.history import TrialHistory
from bttackler_nni.diagnosis.indicators import (
    INDICATORS,
    AbnormalGradientValues,
    ExplodingGradients,
    LowActivationRatio,
    NoMoreGain,
    PassiveLossChanges,
    Stage,
    UnexpectedLossChanges,
    VanishingGradients,
)
from bttackler_nni.diagnosis.indicators.base import Kind
from bttackler_nni.diagnosis.settings import ConfigError
from bttackler_nni.record import parse_record


def history(raw: list, max_epochs: int | None = 20) -> TrialHistory:
    return TrialHistory([parse_record(r)[0] for r in raw], max_epochs)


@pytest.mark.parametrize("indicator_cls", INDICATORS, ids=lambda cls: cls.id)
@pytest.mark.parametrize("epochs", [1, 5, 10, 20])
def test_healthy_training_fires_nothing(indicator_cls, epochs):
    assert indicator_cls().check(history(healthy_history(epochs))) is None


# AGV -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, key",
    [
        ({"nonfinite": 1}, "nonfinite"),
        ({"train_loss": math.nan}, "train_loss"),
        ({"val_loss": math.inf}, "val_loss"),
        ({"default": -math.inf}, "default"),
        ({"grad_median": math.nan, "layers": None}, "grad_median"),
    ],
)
def test_agv_fires_on_nonfinite_values(override, key):
    raw = {**record(0), **override}
    if raw.get("layers") is None:
        raw.pop("layers")
    firing = AbnormalGradientValues().check(history([raw]))
    assert firing is not None and firing.indicator == "AGV" and key in firing.rule


def test_agv_fires_on_a_nan_layer_gradient_and_names_the_layer():
    firing = AbnormalGradientValues().check(history([record(0, grad=[1e-3, math.nan, 1e-3])]))
    assert firing is not None and "layer1" in firing.rule


def test_agv_fires_on_a_bare_nan_metric_from_a_plain_nni_trial():
    assert AbnormalGradientValues().check(history([0.5, math.nan])) is not None
    assert AbnormalGradientValues().check(history([0.5, 0.6])) is None


# EAG -------------------------------------------------------------------------------------------


def test_eag_fires_on_large_median_gradient():
    firing = ExplodingGradients().check(history([record(0, grad=[2e4, 3e4, 5e4])]))
    assert firing.rule == "G > grad_max" and firing.value == pytest.approx(3e4) and firing.threshold == 1e4


def test_eag_fires_on_large_quotient_toward_the_input():
    # g grows 5000x per layer toward the input: Q = 5000 > 1000 while G stays small.
    firing = ExplodingGradients().check(history([record(0, grad=[25.0, 5e-3, 1e-6])]))
    assert firing.rule == "Q > ratio_max" and firing.value == pytest.approx(5000)


def test_eag_fires_on_overflowing_quotient():
    firing = ExplodingGradients().check(history([record(0, grad=[1e300, 1e-300, 1e-3])]))
    assert firing is not None and "not finite" in firing.rule


def test_eag_honours_configured_thresholds():
    raw = [record(0, grad=[2e4, 3e4, 5e4])]
    assert ExplodingGradients(ExplodingGradients.Settings(grad_max=1e5)).check(history(raw)) is None
    assert ExplodingGradients(ExplodingGradients.Settings(grad_max=1e-3)).check(history(healthy_history(1)))


def test_eag_uses_top_level_scalars_when_no_layer_lists_were_sent():
    assert ExplodingGradients().check(history([{"default": 0.1, "grad_median": 5e4}])) is not None
    assert ExplodingGradients().check(history([{"default": 0.1, "grad_ratio_median": 2e3}])) is not None


# ERG -------------------------------------------------------------------------------------------


def test_erg_fires_on_tiny_median_gradient():
    firing = VanishingGradients().check(history([record(0, grad=[1e-7, 2e-7, 3e-7])]))
    assert firing.rule == "G < grad_min"


def test_erg_fires_on_tiny_quotient():
    # Each layer's g is 1e5 x the one before it (toward the output): Q = 1e-5 while G stays moderate.
    firing = VanishingGradients().check(history([record(0, grad=[1e-10, 1e-5, 1.0, 1e5])]))
    assert firing.rule == "Q < ratio_min" and firing.value == pytest.approx(1e-5)


def test_erg_fires_on_a_layer_with_exactly_zero_gradient_and_names_it():
    firing = VanishingGradients().check(history([record(0, grad=[1e-3, 0.0, 1e-3])]))
    assert firing is not None and "layer1" in firing.rule


def test_erg_defaults_to_first_half_and_protection():
    settings = VanishingGradients.Settings()
    assert settings.stage is Stage.FIRST_HALF and settings.protected


# LAR -------------------------------------------------------------------------------------------


def dead_history(epochs: int, zero_share: float = 0.8) -> list:
    return [record(e, zero_share=[zero_share] * 3) for e in range(epochs)]


def test_lar_waits_for_the_fifth_epoch():
    lar = LowActivationRatio()
    assert not lar.applies(history(dead_history(4)), protected=False)
    assert lar.applies(history(dead_history(5)), protected=False)
    firing = lar.check(history(dead_history(5)))
    assert firing.rule == "Z > zero_share_max" and firing.value == pytest.approx(0.8)


def test_lar_honours_start_epoch_and_threshold():
    early = LowActivationRatio(LowActivationRatio.Settings(start_epoch=0))
    assert early.applies(history(dead_history(1)), protected=False) and early.check(history(dead_history(1)))
    assert (
        LowActivationRatio(LowActivationRatio.Settings(zero_share_max=0.9)).check(history(dead_history(6)))
        is None
    )


def test_lar_fires_on_dead_activation_share():
    raw = [record(e, dead_activation_share=0.75) for e in range(5)]
    firing = LowActivationRatio().check(history(raw))
    assert firing is not None and "dead activation" in firing.rule
    assert LowActivationRatio(LowActivationRatio.Settings(dead_share_max=0.8)).check(history(raw)) is None


# PLC -------------------------------------------------------------------------------------------


def test_plc_fires_when_the_loss_does_not_move():
    flat = with_losses([2.30, 2.299, 2.298])
    firing = PassiveLossChanges().check(history(flat))
    assert (
        firing is not None
        and firing.value == pytest.approx(0.001)
        and firing.threshold == pytest.approx(0.023)
    )


def test_plc_needs_three_epochs_and_honours_threshold():
    assert PassiveLossChanges().check(history(with_losses([2.3, 2.3]))) is None
    falling = with_losses([2.3, 2.25, 2.2])  # moves 0.05 per epoch = 2.2% of L[0]
    assert PassiveLossChanges().check(history(falling)) is None
    assert PassiveLossChanges(PassiveLossChanges.Settings(rel_change_min=0.05)).check(history(falling))


# ULC -------------------------------------------------------------------------------------------


def test_ulc_fires_on_rising_heavy_oscillation():
    firing = UnexpectedLossChanges().check(history(with_losses(OSCILLATING_UP)))
    assert firing is not None and firing.value > 0.2 and "train_loss" in firing.rule


def test_ulc_checks_the_validation_loss_too():
    train = [1.0 - 0.03 * e for e in range(16)]
    firing = UnexpectedLossChanges().check(history(with_losses(train, val=OSCILLATING_UP)))
    assert firing is not None and "val_loss" in firing.rule


def test_ulc_stays_quiet_on_steady_rise_and_on_falling_oscillation():
    steady_rise = [1.0 + 0.01 * e for e in range(16)]
    assert UnexpectedLossChanges().check(history(with_losses(steady_rise))) is None
    falling_noise = [2.0, 1.0, 1.8, 0.8, 1.5, 0.6, 1.2, 0.5, 1.0, 0.4, 0.9, 0.3, 0.8, 0.25, 0.6, 0.2]
    assert UnexpectedLossChanges().check(history(with_losses(falling_noise))) is None


def test_ulc_window_scales_with_max_epochs():
    indicator = UnexpectedLossChanges()
    assert indicator.window(20) == 5 and indicator.window(40) == 10 and indicator.window(None) == 5


def test_ulc_honours_cv_threshold():
    strict = UnexpectedLossChanges(UnexpectedLossChanges.Settings(cv_min=0.9))
    assert strict.check(history(with_losses(OSCILLATING_UP))) is None


# NMG -------------------------------------------------------------------------------------------


def test_nmg_fires_when_the_validation_loss_stops_improving_and_is_labelled_converged():
    train = [1.0 - 0.05 * e for e in range(12)]
    val = [1.0, 0.8, 0.6, 0.5, 0.45, 0.42, 0.40, 0.41, 0.43, 0.44, 0.45, 0.46]
    firing = NoMoreGain().check(history(with_losses(train, val)))
    assert firing is not None and "val_loss" in firing.rule
    assert NoMoreGain.kind is Kind.CONVERGED and ExplodingGradients.kind is Kind.PROBLEM


def test_nmg_uses_train_loss_without_validation_and_needs_six_epochs():
    rising = [1.0, 0.9, 0.8, 0.9, 0.95, 1.0]
    assert NoMoreGain().check(history(with_losses(rising[:5]))) is None
    firing = NoMoreGain().check(history(with_losses(rising)))
    assert firing is not None and "train_loss" in firing.rule


def test_nmg_honours_min_delta():
    plateau = [1.0, 0.9, 0.80, 0.80, 0.80, 0.801, 0.802, 0.803]
    assert NoMoreGain().check(history(with_losses(plateau))) is not None
    assert NoMoreGain(NoMoreGain.Settings(min_delta=0.01)).check(history(with_losses(plateau))) is None


# Stages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stage, epoch, max_epochs, expected",
    [
        (Stage.ALWAYS, 19, 20, True),
        (Stage.FIRST_HALF, 9, 20, True),
        (Stage.FIRST_HALF, 10, 20, False),
        (Stage.SECOND_HALF, 9, 20, False),
        (Stage.SECOND_HALF, 10, 20, True),
        (Stage.FIRST_HALF, 2, 5, True),
        (Stage.FIRST_HALF, 3, 5, False),
        (Stage.FIRST_HALF, 0, None, False),
        (Stage.SECOND_HALF, 50, None, False),
        (Stage.ALWAYS, 0, None, True),
    ],
)
def test_stage_boundaries(stage, epoch, max_epochs, expected):
    indicator = AbnormalGradientValues(AbnormalGradientValues.Settings(stage=stage))
    trial = history([record(e) for e in range(epoch + 1)], max_epochs)
    assert indicator.applies(trial, protected=False) is expected


@pytest.mark.parametrize("indicator_cls", INDICATORS, ids=lambda cls: cls.id)
def test_protection_silences_exactly_the_protected_indicators(indicator_cls):
    indicator = indicator_cls(indicator_cls.Settings(stage=Stage.ALWAYS))
    trial = history([record(e) for e in range(10)])
    assert indicator.applies(trial, protected=True) is not indicator.settings.protected


def test_settings_are_validated_at_construction():
    with pytest.raises(ConfigError, match="grad_max = -5: must be > 0"):
        ExplodingGradients.Settings(grad_max=-5)
    with pytest.raises(ConfigError, match="stage = 'middle': is not one of always, first_half, second_half"):
        VanishingGradients.Settings(stage="middle")
    assert ExplodingGradients.Settings(grad_max="1e5").grad_max == 1e5  # YAML 1.1 reads 1e5 as a string
