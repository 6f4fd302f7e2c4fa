"""The overhead budget: calibration picks the sampling rate, the minimum holds, timing never breaks training.

Time is injected: the statistics and the training steps advance a fake clock by set amounts, so
each expected rate is exact; the training itself is real (digits).
"""

from __future__ import annotations

import logging
import math

import pytest
import torch
from digits_torch import digits, mlp, train

import bttackler_nni.trial.sampling as sampling
from bttackler_nni import Reporter
from bttackler_nni.diagnosis.engine import Diagnoser
from bttackler_nni.record import parse_record
from bttackler_nni.trial.activations import ActivationMonitor
from bttackler_nni.trial.gradients import GradientMonitor
from bttackler_nni.trial.sampling import (
    BUDGET_AIM,
    MIN_SAMPLED_BATCHES,
    SamplingSchedule,
    rate_within_budget,
)

BATCHES_OF_16 = math.ceil(len(digits()[0]) / 16)  # 90 batches per epoch


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The Reporter's timer reads this clock; nothing else advances it."""
    clock = Clock()
    monkeypatch.setattr(sampling, "timer_for", lambda device: sampling.HostTimer(clock))
    return clock


def statistics_cost(monkeypatch, clock: Clock, seconds: float, monitor=GradientMonitor, method="observe"):
    """Each call of ``monitor.method`` (one batch's statistics) takes ``seconds`` on ``clock``."""
    original = getattr(monitor, method)

    def slow(self, *args):
        clock.advance(seconds)
        return original(self, *args)

    monkeypatch.setattr(monitor, method, slow)


def train_timed(
    clock: Clock, step_seconds: float, *, epochs: int = 2, batch_size: int = 16, **reporter_kwargs
):
    """Digits training whose steps take ``step_seconds`` on ``clock``, besides the statistics."""
    model = mlp(2)
    return train(
        model,
        torch.optim.SGD(model.parameters(), lr=0.05),
        epochs=epochs,
        batch_size=batch_size,
        stop_early=False,
        reporter_kwargs=reporter_kwargs,
        on_batch=lambda _batch: clock.advance(step_seconds),
    )


def test_the_rate_is_the_smallest_within_the_budgets_aim_and_keeps_the_minimum_of_sampled_batches():
    assert BUDGET_AIM == 0.8  # the answers below aim at 0.8% of a 1% budget
    assert rate_within_budget(0.001, 0.01, None) == 1
    assert rate_within_budget(0.008, 0.01, None) == 1  # exactly at the aim
    assert rate_within_budget(0.009, 0.01, None) == 2  # within the budget, but above the aim
    assert rate_within_budget(0.025, 0.01, None) == 4  # 1 in 3 would be 0.83%
    assert rate_within_budget(0.024, 0.01, 1000) == 3
    assert rate_within_budget(0.5, 0.01, None) == 63
    assert rate_within_budget(0.5, 0.01, 90) == 9 and math.ceil(90 / 9) >= MIN_SAMPLED_BATCHES
    assert rate_within_budget(0.5, 0.01, 19) == 1  # at most 19 // 10
    assert rate_within_budget(0.5, 0.01, 5) == 1  # shorter than the minimum: every batch


@pytest.mark.parametrize(
    "cost, step, budget, rate",
    [
        (1e-5, 1e-2, 0.01, 1),  # 0.1% of a step: every batch
        (2.5e-4, 1e-2, 0.01, 4),  # 2.5%: 1 batch in 4 costs 0.625%, within 80% of a 1% budget
        (2.4e-4, 1e-2, 0.01, 3),  # 2.4%: 1 batch in 3 costs 0.8%, the aim itself
        (2.5e-4, 1e-2, 0.001, 9),  # the same cost under a 0.1% budget wants 32, capped at 90 // 10
        (4e-3, 1e-2, 0.01, 9),  # 40%: capped at 9 from the second epoch
    ],
)
def test_calibration_samples_less_often_the_more_the_statistics_cost(
    monkeypatch, clock, cost, step, budget, rate
):
    statistics_cost(monkeypatch, clock, cost)
    run = train_timed(clock, step, overhead_budget=budget)
    second = run.records[1]
    assert second["sample_every"] == rate
    assert second["sampled_batches"] == math.ceil(BATCHES_OF_16 / rate)
    assert second["overhead_share"] == pytest.approx(cost / step / rate)
    assert second["overhead_share"] <= budget or rate == BATCHES_OF_16 // MIN_SAMPLED_BATCHES


def test_the_first_epoch_of_unknown_length_samples_its_calibration_window(monkeypatch, clock):
    statistics_cost(monkeypatch, clock, 3.2e-3)  # 32%: wants 1 batch in 40 (0.8% each)
    first = train_timed(clock, 1e-2, epochs=1).records[0]
    assert first["sample_every"] == 9  # from the second epoch: 90 batches // 10
    # every batch of the window (MIN_SAMPLED_BATCHES of them), then batches 40 and 80 at 1 in 40
    assert first["sampled_batches"] == MIN_SAMPLED_BATCHES + 2


@pytest.mark.parametrize("batch_size, batches", [(128, 12), (512, 3)])
def test_short_epochs_sample_at_least_the_minimum_or_every_batch(monkeypatch, clock, batch_size, batches):
    statistics_cost(monkeypatch, clock, 5e-3)  # wants 1 batch in 63
    run = train_timed(clock, 1e-2, epochs=3, batch_size=batch_size)
    assert all(r["sampled_batches"] >= min(MIN_SAMPLED_BATCHES, batches) for r in run.records)
    assert [r["sample_every"] for r in run.records[1:]] == [1, 1]


def test_steps_across_an_epoch_boundary_are_not_timed(monkeypatch, clock):
    """Evaluation between epochs is not a training step: it must not dilute the measured share."""
    statistics_cost(monkeypatch, clock, 2.5e-4)
    model = mlp(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    reporter = Reporter(model, optimizer, max_epochs=6)
    x, y, _, _ = digits()
    for _ in range(6):  # epochs of 4 batches: the window spans three epoch boundaries
        for start in range(0, 64, 16):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[start : start + 16]), y[start : start + 16]).backward()
            clock.advance(1e-2)
            optimizer.step()
        clock.advance(30.0)  # a long evaluation
        record = reporter.end_epoch(train_loss=1.0)
    assert record["overhead_share"] == pytest.approx(0.025)  # every batch: the epochs are short


def test_activation_statistics_count_in_the_measured_cost(monkeypatch, clock):
    statistics_cost(monkeypatch, clock, 1e-4)
    statistics_cost(monkeypatch, clock, 1e-4, ActivationMonitor, "_count")  # two ReLUs in mlp(2)
    run = train_timed(clock, 1.2e-2, epochs=2, track_activations=True)
    assert run.records[1]["sample_every"] == 4  # 3e-4 / 1.2e-2 = 2.5%: 1 in 3 would be above 0.8%
    assert run.records[1]["overhead_share"] == pytest.approx(0.025 / 4)
    assert "dead_activation_share" in run.records[1]


def test_sample_every_forces_the_rate_and_times_nothing(monkeypatch):
    def no_timing(device):
        raise AssertionError("a forced rate must not calibrate")

    monkeypatch.setattr(sampling, "timer_for", no_timing)
    model = mlp(2)
    run = train(
        model,
        torch.optim.SGD(model.parameters(), lr=0.05),
        epochs=2,
        batch_size=64,
        stop_early=False,
        reporter_kwargs={"sample_every": 12},
    )
    for record in run.records:  # 23 batches at 1 in 12: below the minimum, as asked
        assert record["sample_every"] == 12 and record["sampled_batches"] == 2
        assert "overhead_share" not in record


class PendingTimer(sampling.HostTimer):
    """A device timer whose marks complete only when released, like CUDA events still queued."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.released = False
        self.queries = 0

    def done(self, mark: float) -> bool:
        self.queries += 1
        return self.released


def test_the_rate_waits_until_the_device_has_finished_the_timed_work(monkeypatch):
    clock = Clock()
    timer = PendingTimer(clock)
    monkeypatch.setattr(sampling, "timer_for", lambda device: timer)
    schedule = SamplingSchedule(torch.device("cpu"))
    taken: list[int] = []
    for batch in range(31):
        clock.advance(1e-2)
        timer.released = batch >= 20
        schedule.step(lambda batch=batch: (clock.advance(1.16e-3), taken.append(batch)))
    # every batch until the timed marks could be read without waiting, then 1 in 15
    assert taken == [*range(20), 30] and schedule.sample_every == 15
    assert schedule.measured_share == pytest.approx(0.116) and timer.queries >= 20 - MIN_SAMPLED_BATCHES


class BrokenTimer(sampling.HostTimer):
    def __init__(self, fails_in: str) -> None:
        super().__init__()
        self.fails_in = fails_in

    def mark(self) -> float:
        if self.fails_in == "mark":
            raise RuntimeError("no timing events here")
        return super().mark()

    def done(self, mark: float) -> bool:
        if self.fails_in == "done":
            raise RuntimeError("event query failed")
        return True

    def seconds(self, start: float, end: float) -> float:
        return math.nan if self.fails_in == "seconds" else start - end  # nonsense: negative steps


@pytest.mark.parametrize("fails_in", ["mark", "done", "seconds", "negative"])
def test_a_failing_calibration_never_breaks_training(monkeypatch, caplog, fails_in):
    monkeypatch.setattr(sampling, "timer_for", lambda device: BrokenTimer(fails_in))
    model = mlp(1)
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        run = train(model, torch.optim.Adam(model.parameters(), lr=1e-3), epochs=2, stop_early=False)
    assert len(run.records) == 2 and caplog.text.count("could not time its statistics") == 1
    for record in run.records:
        assert record["sample_every"] == 1 and "overhead_share" not in record
        assert record["sampled_batches"] == 23 and record["grad_median"] > 0


def test_the_rate_and_share_round_trip_through_the_record(monkeypatch, clock):
    statistics_cost(monkeypatch, clock, 2.5e-4)
    sent = train_timed(clock, 1e-2, epochs=2).records[1]
    parsed, problems = parse_record(sent)
    assert problems == [] and parsed.sample_every == 4
    assert parsed.overhead_share == pytest.approx(sent["overhead_share"])
    old = {key: value for key, value in sent.items() if key not in ("sample_every", "overhead_share")}
    parsed_old, problems = parse_record(old)
    assert problems == [] and parsed_old.sample_every is None and parsed_old.overhead_share is None
    assert parsed_old.grad_median == parsed.grad_median
    verdict = Diagnoser().assess("trial", [sent])
    assert verdict.problems == () and not verdict.stop


@pytest.mark.parametrize(
    "key, value",
    [
        ("sample_every", 0),
        ("sample_every", 2.5),
        ("sample_every", "4"),
        ("overhead_share", -0.1),
        ("overhead_share", "1%"),
    ],
)
def test_malformed_rate_or_share_is_ignored_and_named(key, value):
    parsed, problems = parse_record({"default": 0.5, "train_loss": 1.0, key: value})
    assert getattr(parsed, key) is None and parsed.train_loss == 1.0
    assert len(problems) == 1 and problems[0].startswith(key)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"overhead_budget": 0}, "overhead_budget"),
        ({"overhead_budget": 1.0}, "overhead_budget"),
        ({"overhead_budget": "1%"}, "overhead_budget"),
        ({"overhead_budget": True}, "overhead_budget"),
        ({"sample_every": 0}, "sample_every"),
        ({"sample_every": 2.0}, "sample_every"),
    ],
)
def test_invalid_budget_or_rate_fails_fast_naming_the_argument(kwargs, error):
    with pytest.raises(ValueError, match=error):
        Reporter(mlp(1), max_epochs=5, **kwargs)
