"""Reporter overhead: training with the Reporter attached vs plain, measured side by side.

For each of the paper's three models at their default sizes (Cifar10CNN, Cifar10LSTM, Ex96Trans),
two identical copies train on the same batches in one process; the Reporter is attached to one.
An "epoch" is ``--batches`` optimizer steps followed by ``end_epoch`` (the one device-to-host
transfer); the two copies alternate which goes first in each of ``--repeats`` rounds. Printed:
median epoch time of each and the median of the per-round time ratios (target: <= 2% on CPU).
"hook work" is the Reporter's own per-batch work (the statistics taken before ``optimizer.step``,
timed on its own, 50 times) times the batches of an epoch, as a share of the plain epoch: a
low-noise view of the same cost, since on a shared 2-core machine single epochs vary by +-20%.

On a GPU, "host syncs" counts the device-to-host synchronisations the Reporter's per-batch work
makes (PyTorch's sync debug mode, over 50 batches): it must be 0, since a per-batch copy to the
host is what made the paper's released code cost +128% to +160% on an H100.

Batches come from the real data in ``--data`` (default ``../shared/data``: CIFAR-10 subset,
Exchange-Rate) when it is there, else random tensors of the same shape (the statistics' cost does
not depend on the values).

    python benchmarks/reporter_overhead.py                 # CPU
    python benchmarks/reporter_overhead.py --device cuda   # a GPU, where one is available
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

import torch
from torch import nn

from bttackler_nni import Reporter
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


def host_syncs_per_batch(step: Callable[[], None], batches: int = 50) -> float:
    """Device-to-host synchronisations per call of ``step``, counted by CUDA sync debug mode."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(batches):
                step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    notice = "Synchronization debug mode is a prototype"  # printed once, not a synchronisation
    return sum(not str(w.message).startswith(notice) for w in caught) / batches


def measure(
    name: str, data: Path, batches_per_epoch: int, repeats: int, device: torch.device
) -> dict[str, float]:
    build, params, make_batches, transform, loss_fn = MODELS[name]
    # two builds from one seed, not a deepcopy: a copied cuDNN LSTM loses its packed weights and
    # re-packs them on every call, which would be charged to the Reporter
    torch.manual_seed(0)
    plain_model, plain_optimizer, _ = build(params, device)
    torch.manual_seed(0)
    watched_model, watched_optimizer, _ = build(params, device)
    reporter = Reporter(watched_model, watched_optimizer, max_epochs=repeats + 1)
    batches = make_batches(data, batches_per_epoch, params["batch_size"], device)
    runs = {
        "plain": lambda: epoch(plain_model, plain_optimizer, batches, transform, loss_fn, None, device),
        "reporter": lambda: epoch(
            watched_model, watched_optimizer, batches, transform, loss_fn, reporter, device
        ),
    }
    runs["plain"](), runs["reporter"]()  # warm-up
    times: dict[str, list[float]] = {"plain": [], "reporter": []}
    for round_ in range(repeats):
        for kind in ("plain", "reporter") if round_ % 2 == 0 else ("reporter", "plain"):
            times[kind].append(runs[kind]())
    ratios = [w / p for w, p in zip(times["reporter"], times["plain"], strict=True)]
    hook_seconds = statistics.median(_timed(reporter.after_backward, device) for _ in range(50))
    syncs = host_syncs_per_batch(reporter.after_backward) if device.type == "cuda" else math.nan
    return {
        "syncs": syncs,
        "hook": hook_seconds * batches_per_epoch / statistics.median(times["plain"]),
        "plain": statistics.median(times["plain"]),
        "reporter": statistics.median(times["reporter"]),
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
        "layers": len(reporter.monitored_layers),
        "batch": params["batch_size"],
    }


def percent(ratio: float) -> float:
    return (ratio - 1) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=20, help="optimizer steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=15, help="rounds of (plain, reporter) epochs")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="folder with the shared data files")
    args = parser.parse_args()
    logging.getLogger("nni").setLevel(logging.WARNING)  # NNI's standalone mode logs every record
    device = torch.device(args.device)
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor() or platform.machine()
        hardware = f"{cpu}, {os.cpu_count()} cpus, {torch.get_num_threads()} torch threads"
    print(f"# torch {torch.__version__}, {hardware}; command: python {' '.join(sys.argv)}")
    print(
        f"{'model':<12} {'layers':>6} {'batch':>5} {'plain s/epoch':>14} {'reporter s/epoch':>17} "
        f"{'overhead (median of paired ratios)':>36} {'range':>17} {'hook work':>10}"
        + (f" {'host syncs/batch':>16}" if device.type == "cuda" else "")
    )
    for name in args.models:
        r = measure(name, args.data, args.batches, args.repeats, device)
        print(
            f"{name:<12} {r['layers']:>6} {r['batch']:>5} {r['plain']:>14.4f} {r['reporter']:>17.4f} "
            f"{percent(r['ratio']):>35.2f}% {percent(r['low']):>7.2f}% .. {percent(r['high']):>5.2f}% "
            f"{100 * r['hook']:>9.2f}%" + (f" {r['syncs']:>16.2f}" if device.type == "cuda" else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
