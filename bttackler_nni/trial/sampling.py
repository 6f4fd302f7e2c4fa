"""Which training batches take statistics: every k-th, with k forced or chosen to hold a cost budget.

The statistics of one batch cost a fixed handful of reductions (on a GPU, kernel launches) whatever
the model, so on a small, launch-bound model they can be several percent of a training step, and
negligible on a large one. Given a budget, :class:`SamplingSchedule` measures that share itself:
in a calibration window at the start of training it samples every batch and times the statistics
against the training steps, then samples every k-th batch with the smallest k that keeps the
statistics' estimated share of training time within :data:`BUDGET_AIM` of the budget (headroom for
the estimate's error), capped so that an epoch still averages at least :data:`MIN_SAMPLED_BATCHES`
batches. After the window, deciding whether a batch is sampled is
integer arithmetic on the host: no timing, no device work, no synchronisation.

Timing never makes the device wait: on CUDA the window records timing events on the training
stream and reads them only once ``Event.query()`` (which does not block) says they completed. If
timing fails, the schedule logs a warning once and samples every batch, as without a budget.

The Reporter drives one schedule; framework callbacks that reuse its monitors can drive their own.
"""

from __future__ import annotations

import logging
import math
import numbers
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from .. import record as keys

_logger = logging.getLogger("bttackler_nni")

MIN_SAMPLED_BATCHES = 10
"""Fewest batches an epoch's statistics average under a budget (every batch of a shorter epoch)."""

CALIBRATION_WARMUP = 2
"""Batches before the timed ones: the first steps allocate buffers, record the layer order, create
the optimizer's state and pick cuDNN algorithms, and are slower than the rest."""

CALIBRATION_STEPS = MIN_SAMPLED_BATCHES - CALIBRATION_WARMUP
"""Training steps timed in the calibration window. Every batch of the window is sampled, so the
first epoch, whose length is not known yet, samples at least :data:`MIN_SAMPLED_BATCHES` batches
(or all of them); later epochs are capped by the length of the epoch before."""

DEFAULT_BUDGET = 0.01
"""Default share of training time the statistics may cost."""

BUDGET_AIM = 0.8
"""The share of the budget the chosen rate aims at. The budget is a ceiling, and the calibration
estimates the statistics' cost from a handful of steps: aiming at the budget itself put an H200's
Cifar10LSTM at an estimated 0.97% and an independently timed 1.01% (benchmarks/results/
reporter_overhead_h200.txt). Aiming at 80% of it leaves room for an estimate 25% too low."""


class Timer(Protocol):
    """Marks points of the training timeline and reads the seconds between two of them."""

    def mark(self) -> Any: ...

    def done(self, mark: Any) -> bool:
        """Whether ``mark`` can be read without waiting."""
        ...

    def seconds(self, start: Any, end: Any) -> float: ...


class HostTimer:
    """The host's clock: on CPU, work is done when the call that does it returns."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock

    def mark(self) -> float:
        return self._clock()

    def done(self, mark: float) -> bool:
        return True

    def seconds(self, start: float, end: float) -> float:
        return end - start


class CudaTimer:
    """Timing events on a CUDA device's current stream: when the device reaches each mark.

    A launch-bound device idles until the host launches the statistics' kernels, a busy one runs
    them after the queued work; either way the time between two events is what the statistics
    add to the training timeline.
    """

    def __init__(self, device: torch.device) -> None:
        self._device = device

    def mark(self) -> torch.cuda.Event:
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self._device))
        return event

    def done(self, mark: torch.cuda.Event) -> bool:
        return bool(mark.query())

    def seconds(self, start: torch.cuda.Event, end: torch.cuda.Event) -> float:
        return start.elapsed_time(end) / 1000


def timer_for(device: torch.device) -> Timer | None:
    """How to time training on ``device`` without synchronising, or ``None`` where we cannot."""
    if device.type == "cpu":
        return HostTimer()
    if device.type == "cuda":
        return CudaTimer(device)
    return None


def rate_within_budget(share: float, budget: float, epoch_batches: int | None) -> int:
    """The smallest k for which ``share / k <= BUDGET_AIM * budget``, capped so that an epoch of
    ``epoch_batches`` batches samples at least :data:`MIN_SAMPLED_BATCHES` of them (no cap when the
    length is unknown).

    Args:
        share: cost of one batch's statistics as a share of a training step without them.
        budget: the share of training time the statistics may cost.
        epoch_batches: batches per epoch, if known.
    """
    # a quotient that should be whole can come out a hair above it in floating point
    rate = max(1, math.ceil(share / (BUDGET_AIM * budget) - 1e-9))
    if epoch_batches is not None:
        rate = min(rate, max(1, epoch_batches // MIN_SAMPLED_BATCHES))
    return rate


@dataclass
class _Interval:
    """One training step of the window: from its mark to the next step's, and the statistics in it."""

    start: Any
    end: Any = None
    costs: list[tuple[Any, Any]] = field(default_factory=list)


class _Calibration:
    """Times :data:`CALIBRATION_STEPS` training steps and the statistics taken within them.

    A step runs from one gradient-statistics point to the next, so it holds one batch's gradient
    statistics and the next batch's activation statistics (taken during its forward pass). A step
    across an epoch boundary (evaluation, checkpoints) is not a training step and is dropped.
    """

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self._steps = 0
        self._open: _Interval | None = None
        self._closed: list[_Interval] = []
        self._marks: list[Any] = []

    def _mark(self) -> Any:
        mark = self._timer.mark()
        self._marks.append(mark)
        return mark

    @property
    def timing(self) -> bool:
        return self._open is not None

    @property
    def measured(self) -> bool:
        return len(self._closed) >= CALIBRATION_STEPS

    def step(self) -> None:
        """A training step reaches its gradient statistics."""
        self._steps += 1
        if self._steps <= CALIBRATION_WARMUP or self.measured:
            return
        mark = self._mark()
        if self._open is not None:
            self._open.end = mark
            self._closed.append(self._open)
        self._open = None if self.measured else _Interval(mark)

    def begin_cost(self) -> Any:
        return self._mark() if self._open is not None else None

    def end_cost(self, start: Any) -> None:
        if start is not None and self._open is not None:
            self._open.costs.append((start, self._mark()))

    def interrupt(self) -> None:
        """The epoch ended: the step now running is not a training step."""
        self._open = None

    def share(self) -> float | None:
        """Median statistics time over median step time without them, once measured and readable.

        Raises:
            ValueError: when the times make no sense (a step no longer than its statistics).
        """
        if not self.measured:
            return None
        if not self._timer.done(self._marks[-1]) or not all(self._timer.done(m) for m in self._marks):
            return None
        seconds = self._timer.seconds
        costs = [sum(seconds(start, end) for start, end in step.costs) for step in self._closed]
        steps = [seconds(step.start, step.end) for step in self._closed]
        plain = statistics.median(step - cost for step, cost in zip(steps, costs, strict=True))
        if not plain > 0:
            raise ValueError(f"timed steps of {steps} s are no longer than their statistics ({costs} s)")
        return statistics.median(costs) / plain


class SamplingSchedule:
    """Decides which training batches take statistics, and times them while calibrating.

    Call :meth:`step` once per training step where gradient statistics are taken (it runs them on
    sampled batches), wrap other per-batch statistics in :meth:`timed` when :meth:`is_sampled`,
    and call :meth:`end_epoch` at the end of each epoch for the record's fields.

    Args:
        device: where training runs (chooses how to time it).
        sample_every: force statistics on every k-th batch, with no calibration and no cap.
        overhead_budget: without ``sample_every``, the share of training time the statistics may
            cost (greater than 0, less than 1).

    Example:
        >>> schedule = SamplingSchedule(torch.device("cpu"), sample_every=3)
        >>> taken = []
        >>> for batch in range(7):
        ...     schedule.step(lambda: taken.append(batch))
        >>> taken, schedule.end_epoch()
        ([0, 3, 6], {'sample_every': 3})
    """

    def __init__(
        self,
        device: torch.device,
        *,
        sample_every: int | None = None,
        overhead_budget: float = DEFAULT_BUDGET,
    ) -> None:
        if sample_every is not None and (
            not isinstance(sample_every, int) or isinstance(sample_every, bool) or sample_every < 1
        ):
            raise ValueError(
                "sample_every must be a whole number >= 1, or None to hold overhead_budget; "
                f"got {sample_every!r}"
            )
        if (
            not isinstance(overhead_budget, numbers.Real)
            or isinstance(overhead_budget, bool)
            or not 0 < overhead_budget < 1
        ):
            raise ValueError(
                "overhead_budget must be a share of training time > 0 and < 1 (0.01 is 1%); "
                f"got {overhead_budget!r}"
            )
        self._budget: float = float(overhead_budget)
        self._rate: int = sample_every or 1
        self._batch: int = 0
        self._epoch_batches: int | None = None
        self._share: float | None = None
        self._calibration: _Calibration | None = None
        if sample_every is None:
            timer = timer_for(device)
            if timer is None:
                _logger.info(
                    "BTTackler Reporter cannot time %s without synchronising: statistics on every batch "
                    "(pass sample_every=k to sample less)",
                    device,
                )
            else:
                self._calibration = _Calibration(timer)

    @property
    def sample_every(self) -> int:
        """The rate in force: statistics on every k-th batch of an epoch."""
        return self._rate

    @property
    def measured_share(self) -> float | None:
        """One batch's statistics as a share of a training step without them, once calibrated."""
        return self._share

    def is_sampled(self) -> bool:
        """Whether the batch now training takes statistics."""
        return self._batch % self._rate == 0

    def step(self, statistics: Callable[[], None]) -> None:
        """The training step reached its gradient statistics: run ``statistics`` if it is sampled."""
        if self._calibration is not None:
            self._guarded(self._calibrate, self._calibration)
        try:
            if self.is_sampled():
                self.timed(statistics)
        finally:
            self._batch += 1

    def timed(self, work: Callable[[], None]) -> None:
        """Run a sampled batch's statistics, timing them while calibrating."""
        calibration = self._calibration
        if calibration is None or not calibration.timing:
            work()
            return
        start = self._guarded(calibration.begin_cost)
        try:
            work()
        finally:
            self._guarded(calibration.end_cost, start)

    def end_epoch(self) -> dict[str, Any]:
        """The record's fields for the epoch that just ended (``sample_every``, ``overhead_share``)."""
        if self._batch:
            self._epoch_batches = self._batch
        self._batch = 0
        if self._calibration is not None:
            self._guarded(self._calibration.interrupt)
        if self._share is not None:
            self._choose_rate()
        fields: dict[str, Any] = {keys.SAMPLE_EVERY: self._rate}
        if self._share is not None:
            fields[keys.OVERHEAD_SHARE] = self._share / self._rate
        return fields

    def _calibrate(self, calibration: _Calibration) -> None:
        calibration.step()
        share = calibration.share()
        if share is None:
            return
        self._calibration = None
        self._share = share
        self._choose_rate()
        _logger.info(
            "BTTackler Reporter: statistics cost %.2f%% of a training step; taking them on 1 batch in %d: "
            "%.2f%% of training time (budget %g%%)",
            100 * share,
            self._rate,
            100 * share / self._rate,
            100 * self._budget,
        )

    def _choose_rate(self) -> None:
        assert self._share is not None
        wanted = rate_within_budget(self._share, self._budget, None)
        previous, self._rate = self._rate, rate_within_budget(self._share, self._budget, self._epoch_batches)
        if self._rate < wanted and self._rate != previous:
            _logger.info(
                "BTTackler Reporter: 1 batch in %d would hold the budget, but epochs of %s batches must "
                "sample at least %d: 1 batch in %d",
                wanted,
                self._epoch_batches,
                MIN_SAMPLED_BATCHES,
                self._rate,
            )

    def _guarded(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run a calibration action; if it fails, stop calibrating and sample every batch."""
        try:
            return action(*args)
        except Exception:  # noqa: BLE001 - timing must never break the training loop
            _logger.warning(
                "BTTackler Reporter could not time its statistics and takes them on every batch "
                "(pass sample_every=k to sample less)",
                exc_info=True,
            )
            self._calibration = None
            self._rate = 1
            return None
