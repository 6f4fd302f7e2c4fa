"""Search-space checks for the extra tuners, and the search space NNI hands its dispatcher at start.

NNI 3.0 sends a tuner its search space only after the dispatcher has connected, and a tuner that
raises then stops the dispatcher silently: the experiment stays RUNNING and never schedules a trial.
A tuner that raises in its constructor instead makes NNI mark the experiment ERROR after 10 s
("Tuner did not connect in 10 seconds. Please check tuner (dispatcher) log."), with the reason in
``dispatcher.log``. The dispatcher receives the whole experiment config, search space included, on
its command line (``python -m nni --exp_params <base64 JSON>``), so the tuners read it there and
check it in their constructors: a search space they cannot handle fails the experiment visibly.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from nni.common.hpo_utils.validation import common_search_space_types, validate_search_space

from ..config import ConfigError

NESTED_CHOICE = "nested choice"


class SearchSpaceError(ConfigError):
    """A search space a tuner cannot handle; the one-line message names the parameter and its type."""


def check_types(
    search_space: Any, tuner: str, supported: Collection[str], fix: str, nested: bool = False
) -> None:
    """Raise :class:`SearchSpaceError` for the first parameter ``tuner`` cannot handle.

    ``supported`` lists NNI ``_type`` names; a choice of ``{"_name": ...}`` options (a nested
    choice) is allowed only with ``nested``, and then the options' parameters are checked too.
    A malformed spec (no ``_value``, bounds the wrong way round, ...) is reported with NNI's own
    validation message, prefixed by the parameter's path.
    """
    for path, name, spec in _parameters(search_space):
        kind = NESTED_CHOICE if _is_nested_choice(spec) else spec.get("_type")
        if kind == NESTED_CHOICE and not nested or kind != NESTED_CHOICE and kind not in supported:
            raise SearchSpaceError(
                f"search space parameter {path!r} has type {kind!r}, which the {tuner} tuner cannot "
                f"handle. Fix: {fix}"
            )
        try:
            validate_search_space({name: spec}, common_search_space_types, raise_exception=True)
        except ValueError as error:
            raise SearchSpaceError(f"search space parameter {path!r}: {error}") from error


def dispatcher_search_space(argv: Sequence[str] | None = None) -> Mapping[str, Any] | None:
    """The experiment's search space when this process is NNI's dispatcher, else ``None``.

    NNI starts its dispatcher as ``python -m nni --exp_params <base64 of the experiment config as
    JSON>``; the config's ``searchSpace`` holds the search space itself (nnictl reads
    ``searchSpaceFile`` before it starts the experiment).
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv or Path(argv[0]).parts[-2:] != ("nni", "__main__.py"):
        return None
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--exp_params")
    known, _ = parser.parse_known_args(argv[1:])
    if known.exp_params is None:
        return None
    try:
        config = json.loads(base64.b64decode(known.exp_params))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        return None  # NNI itself will fail on it, with its own message
    space = config.get("searchSpace") if isinstance(config, Mapping) else None
    return space if isinstance(space, Mapping) else None


def _parameters(space: Any, prefix: str = "") -> list[tuple[str, str, Mapping[str, Any]]]:
    """``(path, name, spec)`` of every parameter, nested choices' options included, in file order."""
    if not isinstance(space, Mapping):
        raise SearchSpaceError(f"{prefix or 'the search space'} must be a JSON object, got {space!r}")
    found = []
    for name, spec in space.items():
        if name == "_name":
            continue
        path = f"{prefix}.{name}" if prefix else str(name)
        if not isinstance(spec, Mapping):
            raise SearchSpaceError(
                f"search space parameter {path!r} must be an object with _type and _value, got {spec!r}"
            )
        found.append((path, str(name), spec))
        if _is_nested_choice(spec):
            for option in spec["_value"]:
                found += _parameters(option, f"{path}[{option['_name']}]")
    return found


def _is_nested_choice(spec: Mapping[str, Any]) -> bool:
    values = spec.get("_value")
    return (
        spec.get("_type") == "choice"
        and isinstance(values, list)
        and bool(values)
        and all(isinstance(v, Mapping) and "_name" in v for v in values)
    )
