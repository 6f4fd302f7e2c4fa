"""Hand-made trace banks for the bank and simulator tests: every value and second chosen by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synthetic import record

from bttackler_nni.diagnosis.direction import Direction
from bttackler_nni.evaluation.banks import Bank, BankEpoch, BankTrial


def trial(
    name: str,
    values: Sequence[float],
    seconds: float | Sequence[float] = 1.0,
    *,
    final: Any = "last",
    status: str = "SUCCEEDED",
    **record_extra: Any,
) -> BankTrial:
    """A trial reporting ``values`` (as ``default``) with healthy Reporter-shaped records."""
    times = [seconds] * len(values) if isinstance(seconds, (int, float)) else list(seconds)
    epochs = tuple(
        BankEpoch(record(k, max_epochs=len(values), default=v, **record_extra), s)
        for k, (v, s) in enumerate(zip(values, times, strict=True))
    )
    return BankTrial(name, {"name": name}, epochs, values[-1] if final == "last" else final, status)


def bank(
    *trials: BankTrial,
    direction: str = "maximize",
    startup: float | None = None,
    max_epochs: int | None = None,
) -> Bank:
    return Bank(
        task="hand",
        config="configs/hand/random_baseline.yml",
        direction=Direction.of(direction),
        max_epochs=max_epochs or max(len(t.epochs) for t in trials),
        recorded="2026-01-01T00:00:00+00:00",
        command="bttackler bank record configs/hand/random_baseline.yml --trials 2 --out hand.jsonl",
        machine="a test",
        startup_seconds=startup,
        trials=tuple(trials),
    )
