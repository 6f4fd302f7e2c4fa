"""The experiment config as NNI's dispatcher sees it, and which way the assessor must rank trials.

NNI 3.0 starts its dispatcher as ``python -m nni --exp_params <base64 JSON>``: the experiment's
config, without an inline ``searchSpace`` (``getMsgDispatcherCommand`` in nni_node). So an algorithm
can read the other algorithms' sections while it is being built. The assessor reads the tuner's
``optimize_mode`` there. An assessor that ranks trials the other way from the tuner would stop the
best trials as "ranked below peers", and users who add it to an experiment they already have
(``nnictl create``, no ``bttackler check``) would never know.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..diagnosis.config import ConfigError
from ..diagnosis.direction import Direction

MINIMIZING_TUNERS = frozenset({"tpe", "anneal"})
"""NNI 3.0 tuners whose ``optimize_mode`` defaults to ``minimize`` (hyperopt's convention); NNI's
other tuners that have one default to ``maximize``."""


def dispatcher_config(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The experiment config this process was started with as NNI's dispatcher; ``None`` in any other
    process (no ``--exp_params`` on its command line, or one that is not base64 JSON)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--exp_params")
    known, _ = parser.parse_known_args(list(sys.argv if argv is None else argv)[1:])
    try:
        config = json.loads(base64.b64decode(known.exp_params or "", validate=True))
    except (binascii.Error, ValueError):
        return None
    return config if isinstance(config, dict) else None


def tuner_direction(config: Mapping[str, Any], *, defaults: bool = True) -> Direction | None:
    """The ``optimize_mode`` an experiment config gives its tuner (BTTacklerTuner's ``tuner_args``
    too), or with ``defaults`` the one it has by default when none is given (TPE and Anneal
    minimize); ``None`` when the config gives none NNI would accept."""
    tuner = config.get("tuner")
    class_args = (tuner.get("classArgs") if isinstance(tuner, dict) else None) or {}
    if not isinstance(class_args, dict):
        return None
    nested = class_args.get("tuner_args")
    nested_mode = nested.get("optimize_mode") if isinstance(nested, dict) else None
    mode = class_args.get("optimize_mode") or nested_mode
    try:
        if mode:
            return Direction.of(mode)
    except ValueError:
        return None
    if not defaults:
        return None
    wrapped = class_args.get("tuner") if isinstance(tuner, dict) and _wraps(tuner) else None
    name = wrapped if wrapped is not None else (tuner.get("name") if isinstance(tuner, dict) else None)
    minimizing = isinstance(name, str) and name.lower() in MINIMIZING_TUNERS
    return Direction.MINIMIZE if minimizing else None


def ranking_direction(stated: Direction | None, experiment: Mapping[str, Any]) -> Direction | None:
    """Which way BTTackler's assessor ranks the trials of ``experiment``, whose classArgs give
    ``direction: stated`` (``None`` when they give none): ``stated``, else the tuner's stated
    ``optimize_mode``; ``None`` where neither says (the assessor then keeps its default, maximize).

    Raises:
        ConfigError: the assessor would rank the other way from the tuner, naming the fix: its
            ``direction`` differs from the tuner's ``optimize_mode``, or it states none and the tuner's
            is a default (TPE minimizes, which an accuracy would not want).
    """
    tuner_stated = tuner_direction(experiment, defaults=False)
    if stated is None and tuner_stated is not None:
        return tuner_stated
    tuner = tuner_direction(experiment)
    ranked = stated or Direction.MAXIMIZE
    if tuner is None or tuner is ranked:
        return stated
    default = "" if stated else " (the default)"
    tuner_default = "" if tuner_stated else " (its default: its classArgs give none)"
    or_tuner = "" if tuner_stated else f", or give the tuner optimize_mode: {ranked.value}"
    raise ConfigError(
        f"assessor.classArgs.direction = {ranked.value}{default}, but the tuner's optimize_mode is "
        f"{tuner.value}{tuner_default}: BTTackler would rank trials backwards. Fix: set "
        f"assessor.classArgs.direction: {tuner.value}{or_tuner}"
    )


def _wraps(tuner: dict[str, Any]) -> bool:
    """Whether a tuner section is BTTacklerTuner, whose ``classArgs.tuner`` names the tuner."""
    name, class_name = str(tuner.get("name") or ""), str(tuner.get("className") or "")
    return name.lower() == "bttacklertuner" or class_name.endswith("BTTacklerTuner")
