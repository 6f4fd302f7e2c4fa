"""The assessor's configuration: one typed object with defaults, validated whoever builds it.

NNI 3.0 never calls a ``classArgsValidator`` in the v2 config flow, and a bad argument found later
would kill its dispatcher, so everything is checked at construction, and every mistake is reported
at once with the key, the bad value and the fix. :meth:`AssessorConfig.from_class_args` reads NNI
``classArgs``; constructing :class:`AssessorConfig` directly runs the same checks.

Example ``classArgs`` (every key optional)::

    patience: 1
    min_peers: 10
    protect_percentile: 10
    indicators:
      EAG: {grad_max: 1.0e+5}
      NMG: false              # shorthand for {enabled: false}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .indicators import INDICATORS, INDICATORS_BY_ID, Indicator, IndicatorSettings
from .settings import ConfigError, ValidatedSettings, read_fields, setting, unknown_key_message

__all__ = ["AssessorConfig", "ConfigError"]

_EXAMPLE = "e.g. indicators: {EAG: {grad_max: 1.0e+5}, NMG: false}"


@dataclass(frozen=True)
class AssessorConfig(ValidatedSettings):
    """Everything the diagnosis engine can be told.

    Attributes:
        min_peers: peer train losses needed at an epoch before a trial can be protected.
        protect_percentile: a trial whose train loss is at or below this percentile of its peers'
            is protected from the protected indicators.
        sticky_protection: once protected, always protected.
        patience: consecutive firing reports an indicator needs before it stops a trial.
        max_epochs: planned epochs per trial, for trials whose reports do not say (the Reporter's do).
        indicators: settings per indicator id; ids left out keep their defaults, and ``True`` or
            ``False`` stand for ``{enabled: ...}``.
    """

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
        indicators = _read_indicators(self.indicators, "AssessorConfig.indicators", errors)
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
        errors: list[str] = []
        indicators = _read_indicators(raw.pop("indicators", None), "classArgs.indicators", errors)
        top_level, top_errors = read_fields(cls, raw, "classArgs", skip=("indicators",))
        errors = top_errors + errors
        if errors:
            raise ConfigError("Invalid BTTackler configuration:\n  - " + "\n  - ".join(errors))
        return cls(**top_level, indicators=indicators)

    def build_indicators(self) -> list[Indicator]:
        """Instances of the enabled indicators, in priority order."""
        return [cls(self.indicators[cls.id]) for cls in INDICATORS if self.indicators[cls.id].enabled]


def _read_indicators(raw: Any, path: str, errors: list[str]) -> dict[str, IndicatorSettings]:
    """Every indicator's settings from a partial mapping (id -> settings, mapping or bool); defaults
    for the ids it leaves out."""
    settings = {cls.id: cls.Settings() for cls in INDICATORS}
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
            settings[indicator_id] = settings_cls(enabled=value)
        elif isinstance(value, Mapping):
            accepted, problems = read_fields(settings_cls, value, where)
            errors.extend(problems)
            if not problems:
                settings[indicator_id] = settings_cls(**accepted)
        else:
            errors.append(
                f"{where} must be true, false or a mapping of settings, got {value!r}. "
                f"Fix: e.g. {indicator_id}: {{enabled: false}}"
            )
    return settings
