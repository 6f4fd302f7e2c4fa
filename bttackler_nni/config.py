"""The assessor's configuration: one typed object with defaults, built from NNI ``classArgs`` once.

NNI 3.0 never calls a ``classArgsValidator`` in the v2 config flow, and a bad argument found later
would kill its dispatcher, so everything is checked here, at construction, and every mistake is
reported at once with the key, the bad value and the fix.

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
import difflib
import enum
import math
import numbers
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .indicators import INDICATORS, INDICATORS_BY_ID, Indicator, IndicatorSettings
from .indicators.base import setting


class ConfigError(ValueError):
    """Raised for invalid ``classArgs``; the message lists every problem and how to fix it."""


def _default_indicator_settings() -> dict[str, IndicatorSettings]:
    return {cls.id: cls.Settings() for cls in INDICATORS}


@dataclass(frozen=True)
class AssessorConfig:
    """Everything the diagnosis engine can be told.

    Attributes:
        min_peers: peer train losses needed at an epoch before a trial can be protected.
        protect_percentile: a trial whose train loss is at or below this percentile of its peers'
            is protected from the protected indicators.
        sticky_protection: once protected, always protected.
        patience: consecutive firing reports an indicator needs before it stops a trial.
        max_epochs: planned epochs per trial, for trials whose reports do not say (the Reporter's do).
        indicators: settings per indicator id.
    """

    min_peers: int = setting(10, ge=1, help="peer train losses needed at an epoch before protection applies")
    protect_percentile: float = setting(
        10.0, ge=0, le=100, help="percentile of peer train losses that protects"
    )
    sticky_protection: bool = setting(True, help="once protected, always protected")
    patience: int = setting(1, ge=1, help="consecutive firing reports needed to stop a trial")
    max_epochs: int | None = setting(None, ge=1, help="planned epochs, for reports without max_epochs")
    indicators: Mapping[str, IndicatorSettings] = field(default_factory=_default_indicator_settings)

    @classmethod
    def from_class_args(cls, class_args: Mapping[str, Any] | None = None) -> AssessorConfig:
        """Build and validate from NNI ``classArgs``; raises :class:`ConfigError` listing every problem."""
        errors: list[str] = []
        raw = dict(class_args or {})
        indicators = _read_indicators(raw.pop("indicators", None), errors)
        top_level = _read_settings(cls, raw, "classArgs", errors, skip=("indicators",))
        if errors:
            raise ConfigError("Invalid BTTackler configuration:\n  - " + "\n  - ".join(errors))
        return dataclasses.replace(cls(**top_level), indicators=indicators)

    def build_indicators(self) -> list[Indicator]:
        """Instances of the enabled indicators, in priority order."""
        return [cls(self.indicators[cls.id]) for cls in INDICATORS if self.indicators[cls.id].enabled]

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready form (for logs and the verdict journal)."""
        return _plain(dataclasses.asdict(self))


def _read_indicators(raw: Any, errors: list[str]) -> dict[str, IndicatorSettings]:
    settings = _default_indicator_settings()
    if raw is None:
        return settings
    if not isinstance(raw, Mapping):
        errors.append(
            f"classArgs.indicators must be a mapping of indicator id to settings, got {raw!r}. "
            f"Fix: e.g. indicators: {{EAG: {{grad_max: 1.0e+5}}, NMG: false}}"
        )
        return settings
    for key, value in raw.items():
        indicator_id = str(key).upper()
        if indicator_id not in INDICATORS_BY_ID:
            errors.append(_unknown_key_message("classArgs.indicators", str(key), list(INDICATORS_BY_ID)))
            continue
        path = f"classArgs.indicators.{indicator_id}"
        settings_cls = INDICATORS_BY_ID[indicator_id].Settings
        if isinstance(value, bool):
            settings[indicator_id] = settings_cls(enabled=value)
        elif isinstance(value, Mapping):
            settings[indicator_id] = settings_cls(**_read_settings(settings_cls, value, path, errors))
        else:
            errors.append(
                f"{path} must be true, false or a mapping of settings, got {value!r}. "
                f"Fix: e.g. {indicator_id}: {{enabled: false}}"
            )
    return settings


def _read_settings(
    settings_cls: type, raw: Mapping[str, Any], path: str, errors: list[str], skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Validate ``raw`` against the dataclass fields of ``settings_cls``; return the accepted values."""
    fields = {f.name: f for f in dataclasses.fields(settings_cls) if f.name not in skip}
    hints = typing.get_type_hints(settings_cls)
    accepted = {}
    for key, value in raw.items():
        if key not in fields:
            errors.append(_unknown_key_message(path, str(key), list(fields) + list(skip)))
            continue
        try:
            accepted[key] = _coerce(value, hints[key], fields[key].metadata)
        except ValueError as problem:
            expected = _expected(hints[key], fields[key].metadata)
            default = _plain(fields[key].default)
            errors.append(
                f"{path}.{key} = {value!r}: {problem}. Fix: give {expected}, "
                f"or drop the key to use the default {default!r}."
            )
    return accepted


def _coerce(value: Any, annotation: Any, limits: Mapping[str, Any]) -> Any:
    """Convert a YAML/JSON value to the annotated type and check its range; raise ValueError if impossible."""
    allowed = typing.get_args(annotation) or (annotation,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ValueError("must not be empty")
    target = next(t for t in allowed if t is not type(None))
    if target is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("must be true or false")
    if isinstance(target, type) and issubclass(target, enum.Enum):
        try:
            return target(value)
        except ValueError:
            raise ValueError("is not one of " + ", ".join(m.value for m in target)) from None
    number = _number(value)
    if target is int:
        if not number.is_integer():
            raise ValueError("must be a whole number")
        number = int(number)
    _check_range(number, limits)
    return number


def _number(value: Any) -> float:
    """A finite number from a number or a numeric string (YAML 1.1 reads ``1e4`` as a string)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, numbers.Real):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError("must be a number") from None
    else:
        raise ValueError("must be a number")
    if not math.isfinite(number):
        raise ValueError("must be finite")
    return number


def _check_range(number: float, limits: Mapping[str, Any]) -> None:
    if limits.get("gt") is not None and not number > limits["gt"]:
        raise ValueError(f"must be > {limits['gt']:g}")
    if limits.get("ge") is not None and not number >= limits["ge"]:
        raise ValueError(f"must be >= {limits['ge']:g}")
    if limits.get("le") is not None and not number <= limits["le"]:
        raise ValueError(f"must be <= {limits['le']:g}")


def _expected(annotation: Any, limits: Mapping[str, Any]) -> str:
    allowed = [t for t in (typing.get_args(annotation) or (annotation,)) if t is not type(None)]
    target = allowed[0]
    if target is bool:
        return "true or false"
    if isinstance(target, type) and issubclass(target, enum.Enum):
        return "one of " + ", ".join(m.value for m in target)
    bounds = [
        f"{op} {limits[key]:g}"
        for key, op in (("gt", ">"), ("ge", ">="), ("le", "<="))
        if limits.get(key) is not None
    ]
    kind = "a whole number" if target is int else "a number"
    return f"{kind} {' and '.join(bounds)}".strip()


def _unknown_key_message(path: str, key: str, valid: list[str]) -> str:
    guess = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    return f"{path} has no key {key!r}{hint}. Valid keys: {', '.join(valid)}."


def _plain(value: Any) -> Any:
    """Enums to their values, recursively, so configs print and serialise as plain YAML/JSON."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
