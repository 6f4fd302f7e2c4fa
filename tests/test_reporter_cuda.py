"""The Reporter on a GPU: fused device reductions match the host, and no batch waits for the host.

Skipped where no CUDA device exists (CI); run on a GPU machine with
``pytest tests/test_reporter_cuda.py``. The CPU tests cover the same statistics on the per-tensor
path and the fused path's arithmetic; these check what only a GPU shows.
"""

from __future__ import annotations

import functools
import warnings

import pytest
import torch
from digits_torch import digits, mlp
from test_reporter_statistics import HostStatistics, assert_matches
from torch import nn

from bttackler_nni import Reporter
from bttackler_nni.trial.sampling import MIN_SAMPLED_BATCHES

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@functools.cache
def gpu_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits training data on the GPU, copied once (the copy itself synchronises)."""
    x, y, _, _ = digits()
    return x.to(CUDA), y.to(CUDA)


def train_batches(model, optimizer, batches: int, *, on_backward=None, scaler=None) -> torch.Tensor:
    """Train on the first ``batches`` digits batches of 64 on the GPU; the summed loss stays there."""
    x, y = gpu_digits()
    total = torch.zeros((), device=CUDA)
    for start in range(0, 64 * batches, 64):
        optimizer.zero_grad()
        with torch.autocast("cuda", dtype=torch.float16, enabled=scaler is not None):
            loss = nn.functional.cross_entropy(model(x[start : start + 64]), y[start : start + 64])
        (loss if scaler is None else scaler.scale(loss)).backward()
        if on_backward is not None:
            on_backward()
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()
        total += loss.detach()
    return total


def host_syncs(caught: list[warnings.WarningMessage]) -> list[str]:
    """The synchronisations CUDA sync debug mode reported, without its one-time prototype notice."""
    messages = [str(w.message) for w in caught]
    return [m for m in messages if not m.startswith("Synchronization debug mode is a prototype")]


def test_fused_statistics_on_the_gpu_match_a_direct_host_computation():
    model = mlp(3, width=48, bias=-0.05).to(CUDA)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    reporter = Reporter(model, optimizer, max_epochs=2, track_activations=True)
    host = HostStatistics([m.weight for m in model if isinstance(m, nn.Linear)])
    for _ in range(2):
        loss = train_batches(model, optimizer, 10, on_backward=host.observe)
        assert_matches(reporter.end_epoch(train_loss=loss / 10), host.epoch())


def train_counting_syncs(model, optimizer, batches: int) -> tuple[torch.Tensor, list[str]]:
    """Train ``batches`` batches under CUDA sync debug mode; the summed loss and the syncs reported."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            loss = train_batches(model, optimizer, batches)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return loss, host_syncs(caught)


def test_no_training_batch_synchronises_with_the_host():
    model = mlp(3, width=48).to(CUDA)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    reporter = Reporter(model, optimizer, max_epochs=1, sample_every=1, track_activations=True)
    train_batches(model, optimizer, 2)  # fixes the layer order, allocates buffers, copies the data
    loss, syncs = train_counting_syncs(model, optimizer, 20)
    assert syncs == []
    record = reporter.end_epoch(train_loss=loss / 20)  # the epoch's one transfer
    assert record["sampled_batches"] == 22
    assert "grad_median" in record and "dead_activation_share" in record


def test_calibrating_the_overhead_budget_synchronises_with_nothing():
    """The budget's timing events are read only once complete: no batch waits, in the window or after."""
    model = mlp(3, width=48).to(CUDA)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    reporter = Reporter(model, optimizer, max_epochs=3, track_activations=True)
    warm_up = train_batches(model, optimizer, 2)  # allocates the buffers and copies the data (untimed)
    records = []
    for epoch in range(3):
        loss, syncs = train_counting_syncs(model, optimizer, 18 if epoch == 0 else 20)
        assert syncs == []
        records.append(reporter.end_epoch(train_loss=(loss + warm_up * (epoch == 0)) / 20))
    # every batch of the calibration window, then at most 1 in 20 // MIN_SAMPLED_BATCHES = 2
    assert all(r["sampled_batches"] >= MIN_SAMPLED_BATCHES for r in records)
    calibrated = records[-1]
    assert "overhead_share" in calibrated and 1 <= calibrated["sample_every"] <= 2
    assert "grad_median" in calibrated and "dead_activation_share" in calibrated


def test_amp_float16_reports_unscaled_gradients():
    model = mlp(2).to(CUDA)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**10, growth_interval=10_000)
    reporter = Reporter(model, optimizer, max_epochs=1)
    host = HostStatistics([m.weight for m in model if isinstance(m, nn.Linear)], scale=2.0**10)
    loss = train_batches(model, optimizer, 10, on_backward=host.observe, scaler=scaler)
    assert scaler.get_scale() == 2.0**10  # no overflow skipped a step
    assert_matches(reporter.end_epoch(train_loss=loss / 10), host.epoch())
