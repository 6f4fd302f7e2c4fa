"""Search-space checks for the extra tuners, and the experiment's search space at dispatcher start.

NNI 3.0 sends a tuner its search space only after the dispatcher has connected, and a tuner that
raises then stops the dispatcher silently: the experiment stays RUNNING and never schedules a trial.
A tuner that raises in its constructor instead makes NNI mark the experiment ERROR after 10 s
("Tuner did not connect in 10 seconds. Please check tuner (dispatcher) log."), with the reason in
``dispatcher.log``. So the tuners fetch the search space themselves in their constructor and check
it there. NNI 3.0 removes ``searchSpace`` from the config it passes its dispatcher
(``python -m nni --exp_params <base64 JSON>``, see ``getMsgDispatcherCommand`` in nni_node), but
its manager's REST API already serves the experiment, search space included, at that moment.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import urllib.request
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from nni.common.hpo_utils.validation import common_search_space_types, validate_search_space

from ..diagnosis.config import ConfigError
from ..dispatcher.experiment_config import dispatcher_config

_logger = logging.getLogger("bttackler_nni")

NESTED_CHOICE = "nested choice"
MANAGER_TIMEOUT_S = 5.0


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


def dispatcher_search_space(
    environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None
) -> Mapping[str, Any] | None:
    """The experiment's search space when this process is NNI's dispatcher, else ``None``.

    Asked of the NNI manager that started the dispatcher (its web server answers on the port of
    ``NNI_TUNER_COMMAND_CHANNEL``, ``ws://localhost:<port>[/<prefix>]/tuner``); if it does not
    answer, read from the config's ``searchSpaceFile`` on the dispatcher's command line (an
    inline ``searchSpace`` is not there). ``None`` when neither works: the tuner then checks the
    space when NNI sends it.
    """
    channel = (os.environ if environ is None else environ).get("NNI_TUNER_COMMAND_CHANNEL")
    if not channel:
        return None
    return _space_from_manager(channel) or _space_from_file(sys.argv if argv is None else argv)


def _space_from_manager(channel: str) -> Mapping[str, Any] | None:
    url = re.sub(r"^ws", "http", channel.rstrip("/"))
    url = re.sub(r"/tuner$", "/api/v1/nni/experiment", url)
    try:
        with urllib.request.urlopen(url, timeout=MANAGER_TIMEOUT_S) as response:
            profile = json.loads(response.read().decode("utf-8"))
        space = profile["params"]["searchSpace"]
        return json.loads(space) if isinstance(space, str) else space
    except (OSError, ValueError, KeyError, TypeError) as error:
        _logger.warning("could not read the search space from NNI's manager at %s: %s", url, error)
        return None


def _space_from_file(argv: Sequence[str]) -> Mapping[str, Any] | None:
    config = dispatcher_config(argv)
    if config is None:
        return None
    try:
        return yaml.safe_load(Path(config["searchSpaceFile"]).read_text(encoding="utf-8"))
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None


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
