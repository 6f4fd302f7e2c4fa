"""Pools: banks of one task and one setting, recorded separately, merged into one larger bank.

A bank of 60 trials is a small sample of a search space: a simulated search that runs twice that many
trials draws its best traces again and again, and a rule that runs many trials looks better than it
would in a real search, where each extra trial is a new configuration. Banks recorded with the same
settings and different tuner seeds are samples of the same space, so their trials can be pooled:
:func:`merge_banks` checks that they are (same task, config, direction, epochs and recording
settings) and returns one bank whose trial ids name the bank each came from.

*Recording settings* are read from each bank's ``command``: the ``BTTACKLER_*`` variables that lead it
(data paths excepted: the same data may lie elsewhere on another machine) and its ``--set``
overrides, except the tuner's seed and the trial concurrency, which pick trials or pace the
recording but do not change what a trial of a given configuration reports.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone

from ..diagnosis.direction import Direction
from .banks import Bank, BankError

#: What a pool's ``command`` holds: the command that merged it.
POOL_COMMAND = "bttackler bank merge"
#: ``--set`` keys that may differ between pooled banks (see the module docstring).
FREE_OVERRIDES = frozenset({"tuner.classArgs.seed", "trialConcurrency"})


def merge_banks(banks: Sequence[Bank], command: str) -> Bank:
    """One bank holding every trial of ``banks``, each id led by its bank's name (``digits_holdout/AbC``).

    Raises :class:`~.banks.BankError` in one line when fewer than two banks are given, two share a
    name, or they differ in task, config, direction, epochs or a recording setting. The pool's
    start-up is the mean of the banks' measured ones, weighted by their trials (``None`` when no bank
    measured it); ``command`` is the command that made the pool, ``bttackler bank merge ...``: a pool
    is not merged again (its command no longer holds the recording settings to check).
    """
    if len(banks) < 2:
        raise BankError("a pool needs at least two banks; give every bank to merge")
    names = [bank.name for bank in banks]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BankError(f"bank {repeated[0]!r} given twice; each bank goes into a pool once")
    pools = [bank.name for bank in banks if _is_pool(bank)]
    if pools:
        raise BankError(f"{pools[0]} is a pool already; merge the banks it was made from")
    first = banks[0]
    for bank in banks[1:]:
        _check_same_setting(first, bank)
    return Bank(
        task=first.task,
        config=first.config,
        direction=first.direction,
        max_epochs=first.max_epochs,
        recorded=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        command=command,
        machine=" | ".join(dict.fromkeys(bank.machine for bank in banks)),
        startup_seconds=_pooled_startup(banks),
        trials=tuple(replace(t, trial=f"{bank.name}/{t.trial}") for bank in banks for t in bank.trials),
    )


def recording_settings(command: str) -> dict[str, str]:
    """What in a bank's recording command decides its trials' reports (the module docstring)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return {"command": command}
    settings: dict[str, str] = {}
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key.startswith("BTTACKLER_"):
            break
        if "/" not in value:
            settings[key] = value
    for flag, override in zip(words, words[1:], strict=False):
        key, equals, value = override.partition("=")
        if flag == "--set" and equals and key not in FREE_OVERRIDES:
            settings[f"--set {key}"] = value
    return settings


def _check_same_setting(first: Bank, other: Bank) -> None:
    for what in ("task", "config", "direction", "max_epochs"):
        mine, theirs = getattr(first, what), getattr(other, what)
        if mine != theirs:
            raise BankError(
                f"{other.name} has {what} {_text(theirs)}, {first.name} {_text(mine)}; "
                "a pool holds banks of one task and setting only"
            )
    mine, theirs = recording_settings(first.command), recording_settings(other.command)
    for key in sorted(mine.keys() | theirs.keys()):
        if mine.get(key) != theirs.get(key):
            raise BankError(
                f"{other.name} was recorded with {key}={theirs.get(key, '(unset)')}, "
                f"{first.name} with {key}={mine.get(key, '(unset)')}; "
                "a pool holds banks of one task and setting only"
            )


def _is_pool(bank: Bank) -> bool:
    return POOL_COMMAND in bank.command


def _pooled_startup(banks: Sequence[Bank]) -> float | None:
    measured = [
        (bank.startup_seconds, len(bank.trials)) for bank in banks if bank.startup_seconds is not None
    ]
    if not measured:
        return None
    return sum(seconds * trials for seconds, trials in measured) / sum(trials for _, trials in measured)


def _text(value: object) -> str:
    return value.value if isinstance(value, Direction) else str(value)
