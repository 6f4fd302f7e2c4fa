"""A trial's parsed reports, as the indicators see them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..record import EpochRecord


@dataclass(frozen=True)
class TrialHistory:
    """The reports of one trial in arrival order, plus the trial's planned epoch count.

    Attributes:
        records: parsed reports, oldest first; never empty.
        max_epochs: the planned epoch count (from the latest report, else the assessor's
            ``max_epochs`` setting), or ``None`` when unknown.
    """

    records: Sequence[EpochRecord]
    max_epochs: int | None

    @property
    def latest(self) -> EpochRecord:
        return self.records[-1]

    @property
    def epoch(self) -> int:
        """The latest report's 0-based epoch; its position in the history when it sent none."""
        latest_epoch = self.latest.epoch
        return latest_epoch if latest_epoch is not None else len(self.records) - 1

    def series(self, field: str) -> np.ndarray:
        """One metric over all reports as floats, NaN where a report lacked it."""
        values = (getattr(record, field) for record in self.records)
        return np.fromiter(
            (np.nan if v is None else v for v in values), dtype=np.float64, count=len(self.records)
        )
