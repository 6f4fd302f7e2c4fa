"""Which way a metric improves: the one vocabulary for it in the whole package.

NNI calls it ``optimize_mode`` and spells it ``maximize`` or ``minimize``; so does every function,
option and file of this package (``direction=``, ``--direction``), through :class:`Direction`.
"""

from __future__ import annotations

import enum


class Direction(str, enum.Enum):
    """``maximize`` (accuracy: higher is better) or ``minimize`` (loss: lower is better)."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    @classmethod
    def of(cls, value: Direction | str) -> Direction:
        """A direction from itself or its name in any case; ``ValueError`` for anything else."""
        if isinstance(value, Direction):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(f"direction must be maximize or minimize, got {value!r}") from None

    def score(self, value: float) -> float:
        """``value`` turned so that lower is better, whatever the direction (for sorting)."""
        return -value if self is Direction.MAXIMIZE else value

    def better(self, value: float, than: float) -> bool:
        """Whether ``value`` is strictly better than ``than``."""
        return self.score(value) < self.score(than)

    def describe(self) -> str:
        return "higher is better" if self is Direction.MAXIMIZE else "lower is better"
