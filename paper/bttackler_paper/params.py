"""Validation of a task's hyperparameter dict: every key checked at once, every problem named.

A task declares a schema, ``{key: Integer(...) | Real(...) | Choice(...)}``. The checks are about
what the model can be built from (a positive layer width, a dropout rate below 1, a known optimizer
name), not about the search space's bounds, so an experiment may widen its search space freely.
NNI hands ``randint`` and ``choice`` values as ints or strings and ``quniform`` values as whole
floats; both are accepted where a whole number is needed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bttackler_paper.errors import ParameterError


@dataclass(frozen=True)
class Integer:
    """A whole number of at least ``minimum`` (``32`` and ``32.0`` are both accepted)."""

    minimum: int

    def parse(self, value: Any) -> int:
        number = _as_number(value)
        if number is None or not number.is_integer():
            raise ValueError("must be a whole number")
        if number < self.minimum:
            raise ValueError(f"must be >= {self.minimum}")
        return int(number)


@dataclass(frozen=True)
class Real:
    """A finite number with ``low <= value`` (``low < value`` when ``open_low``) and ``value < high``."""

    low: float
    high: float = math.inf
    open_low: bool = False

    def parse(self, value: Any) -> float:
        number = _as_number(value)
        if number is None or not math.isfinite(number):
            raise ValueError("must be a finite number")
        if number < self.low or (self.open_low and number == self.low) or number >= self.high:
            low = f"{self.low} <{'' if self.open_low else '='} value"
            raise ValueError(f"must satisfy {low}" + (f" < {self.high}" if math.isfinite(self.high) else ""))
        return number


@dataclass(frozen=True)
class Choice:
    """One of ``options``, compared with ``==`` (``1``, ``1.0`` and ``True`` all match the option ``1``)."""

    options: tuple[Any, ...]

    def parse(self, value: Any) -> Any:
        for option in self.options:
            if value == option:
                return option
        raise ValueError(f"must be one of {list(self.options)}")


Spec = Integer | Real | Choice


def validate(task: str, schema: Mapping[str, Spec], params: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``params`` against ``schema``; return the parsed values (ints as ``int``, reals as ``float``).

    Raises:
        ParameterError: listing every missing key, unknown key and invalid value, each by name.
    """
    if not isinstance(params, Mapping):
        raise ParameterError(f"{task} parameters must be a dict, got {type(params).__name__}")
    problems = [f"missing key {key!r}" for key in schema if key not in params]
    problems += [
        f"unknown key {key!r} (known keys: {', '.join(schema)})" for key in params if key not in schema
    ]
    parsed: dict[str, Any] = {}
    for key, spec in schema.items():
        if key in params:
            try:
                parsed[key] = spec.parse(params[key])
            except ValueError as error:
                problems.append(f"{key}={params[key]!r} {error}")
    if problems:
        raise ParameterError(f"invalid {task} parameters: " + "; ".join(problems))
    return parsed


def fraction_size(total: int, fraction: float) -> int:
    """How many of ``total`` items a data ``fraction`` in (0, 1] keeps: ``round(total * fraction)``, >= 1.

    Raises:
        ValueError: when ``fraction`` is not in (0, 1].
    """
    number = _as_number(fraction)
    if number is None or not 0 < number <= 1:
        raise ValueError(f"data fraction must be in (0, 1], got {fraction!r}")
    return max(1, round(total * fraction))


def _as_number(value: Any) -> float | None:
    """``value`` as a float when it is a real number (``bool`` is not), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)
