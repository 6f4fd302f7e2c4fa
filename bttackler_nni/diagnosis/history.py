"""A trial's parsed reports, as the indicators see them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..record import DEFAULT, EpochRecord
from .direction import Direction
from .peers import PeerValues, TrialTimes


@dataclass(frozen=True)
class TrialHistory:
    """The reports of one trial in arrival order, plus the trial's planned epoch count.

    Attributes:
        records: parsed reports, oldest first; never empty.
        max_epochs: the planned epoch count (from the latest report, else the assessor's
            ``max_epochs`` setting), or ``None`` when unknown.
        direction: which way the ``default`` metric improves.
        peer_metrics: the ``default`` metrics trials reported at each epoch (the trial's own
            latest report not among them), for rules that rank a trial against its peers.
        trial: the trial's id, so that such rules can leave its own earlier reports out.
        trial_times: what the trials' epochs and start-ups took (the trial's own latest report
            not among them), for the share of a trial a stop saves.
    """

    records: Sequence[EpochRecord]
    max_epochs: int | None
    direction: Direction = Direction.MAXIMIZE
    peer_metrics: PeerValues | None = None
    trial: str | None = None
    trial_times: TrialTimes | None = None

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

    def finite_series(self, field: str) -> np.ndarray:
        """:meth:`series` without its NaN and +-Inf values (a report that lacked the field included)."""
        values = self.series(field)
        return values[np.isfinite(values)]

    def best_metric(self) -> float | None:
        """The best finite ``default`` metric the trial reported (in ``direction``), ``None`` without one."""
        finite = self.finite_series(DEFAULT)
        return float(min(finite, key=self.direction.score)) if finite.size else None

    def metric_noise(self, reports: int) -> float:
        """How much the ``default`` metric moves from epoch to epoch: the median absolute change over
        the last ``reports`` reports (the median, so that one sharp jump does not count as noise);
        0 with fewer than two finite values."""
        recent = self.series(DEFAULT)[-max(reports, 2) :]
        recent = recent[np.isfinite(recent)]
        return float(np.median(np.abs(np.diff(recent)))) if recent.size >= 2 else 0.0
