"""Reporter overhead: training with the Reporter attached vs plain, measured side by side.

For each of the paper's three models at their default sizes (Cifar10CNN, Cifar10LSTM, Ex96Trans)
and a larger one (ResNet18: torchvision's ResNet-18 layout, 11.2M parameters, built here), three
identical copies train on the same batches in one process; the Reporter, with its default
overhead budget (1%, or ``--budget``; ``--sample-every k`` forces a rate instead), is attached to
one. An "epoch" is ``--batches`` optimizer steps followed by ``end_epoch`` (the one device-to-host
transfer); the copies take turns going first in each of ``--repeats`` rounds, after a warm-up
round in which the Reporter calibrates. Printed per model:

- "1 in k": the sampling rate the Reporter chose (the cap, ``batches // 10``, keeps at least 10
  sampled batches per epoch), and "measured": the share of training time it measured for its
  statistics at that rate (the record's ``overhead_share``);
- "hook share" (target: <= 1%): the Reporter's per-batch work, timed on its own with a device
  sync per call over 30 cycles of k batches (median cycle, so sampled and skipped batches both
  count), times the batches of an epoch, as a share of the plain epoch; a low-noise view of the
  same cost, and on a GPU an upper bound, since in training its kernels queue behind the backward
  pass;
- "in training" (CPU): the host time spent inside the Reporter's optimizer hook during the timed
  epochs themselves (two timing hooks around it), as a share of those epochs; on CPU, where work
  is done when the call returns, this is the statistics' whole direct cost in real training (on a
  GPU only the launch time, so it is not printed there). With ``--track-activations`` it also
  counts the time in the activation modules' forward hooks (``ActivationMonitor.observe``), which
  "hook share" leaves out;
- "overhead": median epoch times and the median of the per-round time ratios; on a shared 2-core
  machine single epochs vary by +-20% or more;
- "twin": a third, identical copy without the Reporter, trained in the same rounds: the median of
  its paired ratios to the plain copy is the noise floor of "overhead" (what an arm costs that does
  nothing), measured side by side in the same run.

On a GPU, "host syncs" counts the device-to-host synchronisations of the Reporter's per-batch work
(PyTorch's sync debug mode, over the same cycles): it must be 0, since a per-batch copy to the
host is what made the paper's released code cost +128% to +160% on an H100
(tests/test_reporter_cuda.py also checks the calibration window).

Batches come from the real data in ``--data`` (default ``../shared/data``: CIFAR-10 subset,
Exchange-Rate) when it is there, else random tensors of the same shape (the statistics' cost does
not depend on the values).

    python benchmarks/reporter_overhead.py                 # CPU, 20 batches per epoch
    python benchmarks/reporter_overhead.py --device cuda   # a GPU, 200 batches per epoch
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bttackler_nni import Reporter
from bttackler_nni.trial.activations import ActivationMonitor
from bttackler_nni.trial.sampling import MIN_SAMPLED_BATCHES
from bttackler_paper import cifar10, cifar10_cnn, cifar10_lstm, ex96trans, exchange_rate

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
Batch = tuple[torch.Tensor, torch.Tensor]


def cifar_batches(data: Path, count: int, size: int, device: torch.device) -> list[Batch]:
    path = data / "cifar10_subset.npz"
    if path.exists():
        arrays = cifar10.read_cifar10(path)
        images = cifar10.normalize(torch.tensor(arrays.x_train[: count * size]).float() / 255)
        labels = torch.tensor(arrays.y_train[: count * size]).long()
    else:
        images, labels = torch.rand(count * size, 3, 32, 32), torch.randint(0, 10, (count * size,))
    images, labels = images.to(device), labels.to(device)
    batches = torch.arange(count * size).reshape(count, size) % len(images)  # wraps round a small file
    return [(images[rows], labels[rows]) for rows in batches]


def exchange_batches(data: Path, count: int, size: int, device: torch.device) -> list[Batch]:
    path = data / "exchange_rate.csv"
    if path.exists():
        _, values = exchange_rate.read_exchange_rate(path)
        series = torch.tensor(exchange_rate.Scaler.fit(values).transform(values), dtype=torch.float32)
    else:
        series = torch.randn(7588, 8)
    starts = torch.arange(count * size) * 7 % (len(series) - 192)
    windows = torch.stack([series[s : s + 192] for s in starts])
    return [
        (
            windows[i * size : (i + 1) * size, :96].to(device),
            windows[i * size : (i + 1) * size, 96:].to(device),
        )
        for i in range(count)
    ]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (a 1x1 convolution where the shape changes)."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.relu = nn.ReLU()
        self.shortcut = (
            nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride, bias=False), nn.BatchNorm2d(channels_out)
            )
            if stride != 1 or channels_in != channels_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


def resnet18(params: dict, device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer, None]:
    """ResNet-18 as torchvision lays it out (7x7 stem, max-pooling, 2 blocks per stage), 10 classes."""
    stages, blocks, channels = [], [], 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        blocks = [BasicBlock(channels, width, stride), BasicBlock(width, width, 1)]
        stages.append(nn.Sequential(*blocks))
        channels = width
    model = nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        *stages,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(512, 10),
    ).to(device)
    return model, torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9, weight_decay=5e-4), None


MODELS: dict[
    str, tuple[Callable, dict, Callable[[Path, int, int, torch.device], list[Batch]], Callable, Callable]
] = {
    # name: (build, params, batches, input transform, loss)
    "Cifar10CNN": (
        cifar10_cnn.build,
        cifar10_cnn.DEFAULT_PARAMS,
        cifar_batches,
        lambda x: x,
        nn.functional.cross_entropy,
    ),
    "Cifar10LSTM": (
        cifar10_lstm.build,
        cifar10_lstm.DEFAULT_PARAMS,
        cifar_batches,
        cifar10.as_sequence,
        nn.functional.cross_entropy,
    ),
    "Ex96Trans": (
        ex96trans.build,
        ex96trans.DEFAULT_PARAMS,
        exchange_batches,
        lambda x: x,
        nn.functional.mse_loss,
    ),
    "ResNet18": (
        resnet18,
        {"batch_size": 90, "lr": 0.05},
        cifar_batches,
        lambda x: x,
        nn.functional.cross_entropy,
    ),
}


def epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: list[Batch],
    transform: Callable,
    loss_fn: Callable,
    reporter: Reporter | None,
    device: torch.device,
) -> float:
    """Seconds for one epoch of the given batches (and end_epoch when a reporter is attached)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    total = torch.zeros((), device=device)
    for inputs, targets in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(transform(inputs)), targets)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    if reporter is not None:
        reporter.end_epoch(train_loss=total / len(batches))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def _timed(step: Callable[[], None], device: torch.device) -> float:
    """Seconds one call of ``step`` takes, the device's queued work included."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def host_syncs_per_call(step: Callable[[], None], calls: int) -> float:
    """Device-to-host synchronisations per call of ``step``, counted by CUDA sync debug mode."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(calls):
                step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    notice = "Synchronization debug mode is a prototype"  # printed once, not a synchronisation
    return sum(not str(w.message).startswith(notice) for w in caught) / calls


def measure(
    name: str,
    data: Path,
    batches_per_epoch: int,
    repeats: int,
    device: torch.device,
    reporter_options: dict[str, Any],
) -> dict[str, float]:
    build, params, make_batches, transform, loss_fn = MODELS[name]
    # two builds from one seed, not a deepcopy: a copied cuDNN LSTM loses its packed weights and
    # re-packs them on every call, which would be charged to the Reporter
    torch.manual_seed(0)
    plain_model, plain_optimizer, _ = build(params, device)
    torch.manual_seed(0)
    twin_model, twin_optimizer, _ = build(params, device)
    torch.manual_seed(0)
    watched_model, watched_optimizer, _ = build(params, device)
    in_hook = HookClock(watched_optimizer)
    reporter = Reporter(watched_model, watched_optimizer, max_epochs=repeats + 1, **reporter_options)
    in_hook.close_after_reporter()
    if reporter_options.get("track_activations"):
        in_hook.also_time(ActivationMonitor, "observe")
    batches = make_batches(data, batches_per_epoch, params["batch_size"], device)
    runs = {
        "plain": lambda: epoch(plain_model, plain_optimizer, batches, transform, loss_fn, None, device),
        "twin": lambda: epoch(twin_model, twin_optimizer, batches, transform, loss_fn, None, device),
        "reporter": lambda: epoch(
            watched_model, watched_optimizer, batches, transform, loss_fn, reporter, device
        ),
    }
    for run in runs.values():  # warm-up; the Reporter calibrates here
        run()
    times: dict[str, list[float]] = {kind: [] for kind in runs}
    hook_seconds: list[float] = []
    order = list(runs)
    for round_ in range(repeats):
        lead = round_ % len(order)  # each arm leads in turn
        for kind in order[lead:] + order[:lead]:
            before = in_hook.seconds
            times[kind].append(runs[kind]())
            if kind == "reporter":
                hook_seconds.append(in_hook.seconds - before)
    ratios = [w / p for w, p in zip(times["reporter"], times["plain"], strict=True)]
    twin_ratios = [t / p for t, p in zip(times["twin"], times["plain"], strict=True)]
    rate = reporter.sample_every
    last = reporter.end_epoch(train_loss=0.0)  # an empty epoch: the rate and the measured share
    cycles = [sum(_timed(reporter.after_backward, device) for _ in range(rate)) / rate for _ in range(30)]
    syncs = host_syncs_per_call(reporter.after_backward, 30 * rate) if device.type == "cuda" else math.nan
    return {
        "syncs": syncs,
        "rate": rate,
        "cap": batches_per_epoch // MIN_SAMPLED_BATCHES,
        "measured": last.get("overhead_share", math.nan),
        "hook": statistics.median(cycles) * batches_per_epoch / statistics.median(times["plain"]),
        "in_training": statistics.median(h / t for h, t in zip(hook_seconds, times["reporter"], strict=True)),
        "twin": statistics.median(twin_ratios),
        "plain": statistics.median(times["plain"]),
        "reporter": statistics.median(times["reporter"]),
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
        "layers": len(reporter.monitored_layers),
        "batch": params["batch_size"],
    }


class HookClock:
    """Host seconds spent in the optimizer hooks registered between this clock's two hooks.

    Optimizer step pre-hooks run in the order they were registered: create the clock, then the
    Reporter (whose hook is the one in between), then call :meth:`close_after_reporter`.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.seconds = 0.0
        self._optimizer = optimizer
        self._started = 0.0
        optimizer.register_step_pre_hook(lambda *_: self._start())

    def close_after_reporter(self) -> None:
        self._optimizer.register_step_pre_hook(lambda *_: self._stop())

    def also_time(self, owner: type, method: str) -> None:
        """Add the host seconds spent in ``owner.method`` too (work done outside the optimizer hook)."""
        original = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(owner, method, timed)

    def _start(self) -> None:
        self._started = time.perf_counter()

    def _stop(self) -> None:
        self.seconds += time.perf_counter() - self._started


def percent(ratio: float) -> float:
    return (ratio - 1) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--batches", type=int, help="optimizer steps per timed epoch (default: 20 on CPU, 200 on a GPU)"
    )
    parser.add_argument("--repeats", type=int, default=15, help="rounds of (plain, twin, reporter) epochs")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="folder with the shared data files")
    parser.add_argument("--budget", type=float, default=0.01, help="the Reporter's overhead_budget")
    parser.add_argument("--sample-every", type=int, help="force this rate instead of the budget")
    parser.add_argument(
        "--track-activations", action="store_true", help="Reporter(track_activations=True) as well"
    )
    args = parser.parse_args()
    logging.getLogger("nni").setLevel(logging.WARNING)  # NNI's standalone mode logs every record
    device = torch.device(args.device)
    batches = args.batches or (200 if device.type == "cuda" else 20)
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor() or platform.machine()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        hardware = (
            f"{cpu}, {os.cpu_count()} cpus, {torch.get_num_threads()} torch threads, load average {load}"
        )
    options: dict[str, Any] = (
        {"sample_every": args.sample_every} if args.sample_every else {"overhead_budget": args.budget}
    )
    if args.track_activations:
        options["track_activations"] = True
    print(f"# torch {torch.__version__}, {hardware}; command: python {' '.join(sys.argv)}")
    print(f"# {batches} batches per epoch; Reporter({', '.join(f'{k}={v}' for k, v in options.items())})")
    print(
        f"{'model':<12} {'layers':>6} {'batch':>5} {'1 in k (cap)':>12} {'measured':>8} {'hook share':>10} "
        + (f"{'in training':>11} " if device.type == "cpu" else "")
        + f"{'plain s/epoch':>13} {'reporter s/epoch':>16} {'overhead (median of paired ratios)':>34} "
        f"{'range':>17} {'twin':>7}" + (f" {'host syncs/batch':>16}" if device.type == "cuda" else "")
    )
    for name in args.models:
        r = measure(name, args.data, batches, args.repeats, device, options)
        print(
            f"{name:<12} {r['layers']:>6} {r['batch']:>5} {r['rate']:>6} ({r['cap']:>3}) "
            f"{100 * r['measured']:>7.2f}% {100 * r['hook']:>9.2f}% "
            + (f"{100 * r['in_training']:>10.2f}% " if device.type == "cpu" else "")
            + f"{r['plain']:>13.4f} {r['reporter']:>16.4f} "
            f"{percent(r['ratio']):>33.2f}% {percent(r['low']):>7.2f}% .. {percent(r['high']):>5.2f}%"
            f" {percent(r['twin']):>6.2f}%" + (f" {r['syncs']:>16.2f}" if device.type == "cuda" else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
