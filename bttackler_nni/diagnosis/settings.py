"""Settings that validate themselves: dataclass fields that carry their type, range and meaning.

Every settings object of the diagnosis (the assessor's and each indicator's) is a frozen dataclass
whose fields are declared with :func:`setting`. Constructing one checks every field, whoever
constructs it (NNI's ``classArgs``, a Python caller, a replay), and raises :class:`ConfigError`
listing each bad field with its value, the allowed range and the default. Numbers may be given as
numeric strings, because YAML 1.1 reads ``1e4`` as a string.

:func:`read_fields` is the same check over a plain mapping (``classArgs``), which also catches
unknown keys and names each problem by its path in the config (``classArgs.indicators.EAG.grad_max``).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import numbers
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """Invalid settings; the message lists every problem with its key and how to fix it."""


class Stage(str, enum.Enum):
    """When in a trial's planned epochs an indicator may fire ("first half": ``epoch < max_epochs / 2``)."""

    ALWAYS = "always"
    FIRST_HALF = "first_half"
    SECOND_HALF = "second_half"


def setting(
    default: Any, *, gt: float | None = None, ge: float | None = None, le: float | None = None, help: str = ""
) -> Any:
    """A settings field with its allowed range and a one-line meaning, checked at construction."""
    return dataclasses.field(default=default, metadata={"gt": gt, "ge": ge, "le": le, "help": help})


@dataclass(frozen=True)
class ValidatedSettings:
    """Base of every settings dataclass: checks (and converts numeric strings in) every field."""

    def __post_init__(self) -> None:
        raw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        accepted, errors = read_fields(type(self), raw, type(self).__qualname__)
        if errors:
            raise ConfigError(f"Invalid {type(self).__qualname__}:\n  - " + "\n  - ".join(errors))
        for name, value in accepted.items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready form (enums as their values)."""
        return plain(dataclasses.asdict(self))


def read_fields(
    settings_cls: type, raw: Mapping[str, Any], path: str, skip: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """Check ``raw`` against the fields of ``settings_cls``; return the accepted values and the problems.

    Fields named in ``skip`` are left to the caller (nested settings); unknown keys are problems.
    """
    fields = {f.name: f for f in dataclasses.fields(settings_cls) if f.name not in skip}
    hints = typing.get_type_hints(settings_cls)
    accepted, errors = {}, []
    for key, value in raw.items():
        if key in skip:
            continue
        if key not in fields:
            errors.append(unknown_key_message(path, str(key), list(fields) + list(skip)))
            continue
        try:
            accepted[key] = _coerce(value, hints[key], fields[key].metadata)
        except ValueError as problem:
            expected = _expected(hints[key], fields[key].metadata)
            default = plain(fields[key].default)
            errors.append(
                f"{path}.{key} = {value!r}: {problem}. Fix: give {expected}, "
                f"or drop the key to use the default {default!r}."
            )
    return accepted, errors


def unknown_key_message(path: str, key: str, valid: list[str]) -> str:
    guess = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    return f"{path} has no key {key!r}{hint}. Valid keys: {', '.join(valid)}."


def plain(value: Any) -> Any:
    """Enums to their values, recursively, so settings print and serialise as plain YAML/JSON."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def _coerce(value: Any, annotation: Any, limits: Mapping[str, Any]) -> Any:
    """Convert a value to the annotated type and check its range; raise ValueError if impossible."""
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
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("must be finite") from None
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
