"""The names this package registers with NNI (``bttackler register``), read from one file.

``nni_algorithms.yml`` is NNI's algorithm meta file and the only place the names live: the CLI
registers and unregisters what it lists, and the config check recognises our assessor by them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .launch import nnictl

META_FILE = Path(__file__).with_name("nni_algorithms.yml")


def algorithms() -> list[dict[str, str]]:
    """Each registered algorithm: ``algoType``, ``builtinName`` and ``className``."""
    return list(yaml.safe_load(META_FILE.read_text(encoding="utf-8"))["algorithms"])


def names(algo_type: str | None = None) -> list[str]:
    """The registered names, of one ``algoType`` (``assessor`` or ``tuner``) or all."""
    return [a["builtinName"] for a in algorithms() if algo_type in (None, a["algoType"])]


def algorithm(name: Any) -> dict[str, str] | None:
    """Our algorithm registered as ``name``, read in any case as NNI reads names; ``None`` if none."""
    if not isinstance(name, str):
        return None
    return next((a for a in algorithms() if a["builtinName"].lower() == name.lower()), None)


def is_our_assessor(name: str | None, class_name: str | None) -> bool:
    """Whether an experiment's assessor section names BTTackler's assessor, by name (in any case, as
    NNI reads names) or by class."""
    named = algorithm(name)
    assessors = [a for a in algorithms() if a["algoType"] == "assessor"]
    module_paths = {a["className"] for a in assessors} | {
        "bttackler_nni.dispatcher.assessor.BTTacklerAssessor"
    }
    return (named is not None and named["algoType"] == "assessor") or class_name in module_paths


def register(env: dict[str, str] | None = None) -> str:
    """``nnictl algo register`` every name; returns nnictl's output."""
    return nnictl("algo", "register", "--meta", str(META_FILE), env=env).strip()


def unregister(env: dict[str, str] | None = None) -> list[str]:
    """``nnictl algo unregister`` every name; returns nnictl's output per name."""
    return [nnictl("algo", "unregister", name, env=env).strip() for name in names()]
