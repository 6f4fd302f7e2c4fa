"""The assessor's configuration: one typed object with defaults, validated whoever builds it.

NNI 3.0 never calls a ``classArgsValidator`` in the v2 config flow, and a bad argument found later
would kill its dispatcher, so everything is checked at construction, and every mistake is reported
at once with the key, the bad value and the fix. :meth:`AssessorConfig.from_class_args` reads NNI
``classArgs``; constructing :class:`AssessorConfig` directly runs the same checks.

Example ``classArgs`` (every key optional)::

    preset: default           # or paper: the method as published (docs/method.md, section 9)
    direction: maximize       # which way the default metric improves, as the tuner's optimize_mode
    patience: 1
    min_peers: 10
    protect_percentile: 10
    indicators:
      EAG: {grad_max: 1.0e+5}
      NMG: false              # shorthand for {enabled: false}

A preset is a named set of indicator settings; the settings given under ``indicators`` are
applied on top of it, key by key.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .direction import Direction
from .indicators import INDICATORS, INDICATORS_BY_ID, Indicator, IndicatorSettings
from .settings import ConfigError, ValidatedSettings, read_fields, setting, unknown_key_message

__all__ = ["PRESETS", "AssessorConfig", "ConfigError", "Preset", "ranking_as"]

_EXAMPLE = "e.g. indicators: {EAG: {grad_max: 1.0e+5}, NMG: false}"


class Preset(str, enum.Enum):
    """A named starting point for the indicator settings."""

    DEFAULT = "default"
    """The seven indicators, NMG and ULC with their noise and leader guards, and RNK with its leader
    guard (docs/method.md, section 9)."""
    PAPER = "paper"
    """The method as published: the seven indicators with the paper's thresholds, nothing added."""


PRESETS: dict[Preset, dict[str, dict[str, Any]]] = {
    Preset.DEFAULT: {},
    Preset.PAPER: {
        "RNK": {"enabled": False},
        "ULC": {"noise_k": 0, "leader_share": 0},
        "NMG": {"noise_k": 0, "leader_share": 0},
    },
}
"""Per preset, the indicator settings that differ from the indicators' own defaults."""


@dataclass(frozen=True)
class AssessorConfig(ValidatedSettings):
    """Everything the diagnosis engine can be told.

    Attributes:
        preset: the named set of indicator settings that ``indicators`` starts from.
        direction: which way the trials' ``default`` metric improves (RNK and the noise guard use it);
            the same as the tuner's ``optimize_mode``.
        min_peers: peer train losses needed at an epoch before a trial can be protected.
        protect_percentile: a trial whose train loss is at or below this percentile of its peers'
            is protected from the protected indicators.
        sticky_protection: once protected, always protected.
        patience: consecutive firing reports an indicator needs before it stops a trial.
        max_epochs: planned epochs per trial, for trials whose reports do not say (the Reporter's do).
        indicators: settings per indicator id; ids left out keep their defaults, and ``True`` or
            ``False`` stand for ``{enabled: ...}``.
    """

    preset: Preset = setting(Preset.DEFAULT, help="named indicator settings to start from")
    direction: Direction = setting(
        Direction.MAXIMIZE, help="which way the default metric improves, as the tuner's optimize_mode"
    )
    min_peers: int = setting(10, ge=1, help="peer train losses needed at an epoch before protection applies")
    protect_percentile: float = setting(
        10.0, ge=0, le=100, help="percentile of peer train losses that protects"
    )
    sticky_protection: bool = setting(True, help="once protected, always protected")
    patience: int = setting(1, ge=1, help="consecutive firing reports needed to stop a trial")
    max_epochs: int | None = setting(None, ge=1, help="planned epochs, for reports without max_epochs")
    indicators: Mapping[str, IndicatorSettings] = field(default_factory=dict)

    def __post_init__(self) -> None:
        raw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "indicators"}
        accepted, errors = read_fields(type(self), raw, "AssessorConfig", skip=("indicators",))
        preset = accepted.get("preset", Preset.DEFAULT)
        indicators = _read_indicators(self.indicators, "AssessorConfig.indicators", errors, preset)
        if errors:
            raise ConfigError("Invalid BTTackler configuration:\n  - " + "\n  - ".join(errors))
        for name, value in {**accepted, "indicators": indicators}.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_class_args(cls, class_args: Mapping[str, Any] | None = None) -> AssessorConfig:
        """Build from NNI ``classArgs``; raises :class:`ConfigError` naming each bad key by its path."""
        if class_args is not None and not isinstance(class_args, Mapping):
            raise ConfigError(f"classArgs must be a mapping of settings, got {class_args!r}.")
        raw = dict(class_args or {})
        top_level, errors = read_fields(cls, raw, "classArgs", skip=("indicators",))
        preset = top_level.get("preset", Preset.DEFAULT)
        indicators = _read_indicators(raw.get("indicators"), "classArgs.indicators", errors, preset)
        if errors:
            raise ConfigError("Invalid BTTackler configuration:\n  - " + "\n  - ".join(errors))
        return cls(**top_level, indicators=indicators)

    def build_indicators(self) -> list[Indicator]:
        """Instances of the enabled indicators, in priority order."""
        return [cls(self.indicators[cls.id]) for cls in INDICATORS if self.indicators[cls.id].enabled]


def _read_indicators(raw: Any, path: str, errors: list[str], preset: Preset) -> dict[str, IndicatorSettings]:
    """Every indicator's settings from a partial mapping (id -> settings, mapping or bool) over the
    preset's; the preset's settings for the ids and keys it leaves out."""
    base = PRESETS[preset]
    settings = {cls.id: cls.Settings(**base.get(cls.id, {})) for cls in INDICATORS}
    if raw is None:
        return settings
    if not isinstance(raw, Mapping):
        errors.append(f"{path} must be a mapping of indicator id to settings, got {raw!r}. Fix: {_EXAMPLE}")
        return settings
    for key, value in raw.items():
        indicator_id = str(key).upper()
        if indicator_id not in INDICATORS_BY_ID:
            errors.append(unknown_key_message(path, str(key), list(INDICATORS_BY_ID)))
            continue
        settings_cls = INDICATORS_BY_ID[indicator_id].Settings
        where = f"{path}.{indicator_id}"
        if isinstance(value, settings_cls):
            settings[indicator_id] = value
        elif isinstance(value, bool):
            settings[indicator_id] = settings_cls(**{**base.get(indicator_id, {}), "enabled": value})
        elif isinstance(value, Mapping):
            accepted, problems = read_fields(settings_cls, value, where)
            errors.extend(problems)
            if not problems:
                try:  # settings that are each valid may still contradict each other
                    settings[indicator_id] = settings_cls(**{**base.get(indicator_id, {}), **accepted})
                except ConfigError as error:
                    errors.append(f"{where}: {error}")
        else:
            errors.append(
                f"{where} must be true, false or a mapping of settings, got {value!r}. "
                f"Fix: e.g. {indicator_id}: {{enabled: false}}"
            )
    return settings


def ranking_as(config: AssessorConfig | None, direction: Direction, search: str) -> AssessorConfig:
    """The settings to judge a search that optimizes ``direction`` with: ``config``, or the defaults
    ranking that way. ``search`` names where the direction was set, for the error.

    Other frameworks state the direction of the reported metric themselves (an Optuna study's
    ``direction``, Ray Tune's ``mode``); ranking the other way would stop the best trials as
    "ranked below peers", so a ``config`` that disagrees is refused.

    Raises:
        ConfigError: ``config.direction`` is not ``direction``, naming the fix.
    """
    if config is None:
        return AssessorConfig(direction=direction)
    if config.direction is not direction:
        raise ConfigError(
            f"AssessorConfig.direction is {config.direction.value}, but {search} is {direction.value}: "
            f"BTTackler would rank trials backwards. Fix: AssessorConfig(direction={direction.value!r}, ...)"
        )
    return config
