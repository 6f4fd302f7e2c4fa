"""Adapter overhead: the Lightning and Hugging Face callbacks against the Reporter, measured side by side.

For a model of the paper (Cifar10CNN by default), three pairs train on the same ``--batches``
batches, each pair alternating which goes first in each of ``--repeats`` rounds:

- a plain torch loop without and with the Reporter (as ``reporter_overhead.py``);
- a Lightning ``Trainer`` epoch without and with ``BTTacklerCallback``;
- a Hugging Face ``Trainer`` epoch without and with ``BTTacklerTrainerCallback``.

Each framework epoch is timed from its own epoch-start to epoch-end hook (the Trainer's set-up is
not counted). Printed per pair: median seconds per epoch, the median of the per-round ratios, and
"hook work", the statistics' share of the plain epoch at the rate the overhead budget chose (all
three use their defaults): the low-noise view, since single epochs on a shared 2-core machine vary
by +-20%. The target: each callback's hook work no more than the Reporter's. The Hugging Face
callback's per-step work *is* the Reporter's optimizer hook (its row rescales the Reporter's hook
time to the Trainer's epoch); Lightning's hook adds the GradScaler check, a no-op without fp16 AMP:
its last column is its time per sampled step over the Reporter's own hook, both timed 50 times,
interleaved, right after a backward pass in the same live ``fit``, and its hook work is the
Reporter's scaled by that ratio.

    python benchmarks/adapter_overhead.py               # CPU
    python benchmarks/adapter_overhead.py --device cuda
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import transformers
from reporter_overhead import MODELS, SHARED_DATA, _timed, measure, percent
from torch.utils.data import DataLoader

from bttackler_nni.adapters.huggingface import BTTacklerTrainerCallback
from bttackler_nni.adapters.lightning import BTTacklerCallback

Batch = tuple[torch.Tensor, torch.Tensor]


class EpochTimer:
    """Seconds of each training epoch, between the framework's own epoch hooks (device work included)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.seconds, self._started = device, [], 0.0

    def start(self, *_: Any, **__: Any) -> None:
        self._sync()
        self._started = time.perf_counter()

    def stop(self, *_: Any, **__: Any) -> None:
        self._sync()
        self.seconds.append(time.perf_counter() - self._started)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


class LightningTimer(pl.Callback):
    def __init__(self, timer: EpochTimer) -> None:
        self.on_train_epoch_start, self.on_train_epoch_end = timer.start, timer.stop  # type: ignore[method-assign]


class TrainerTimer(transformers.TrainerCallback):
    def __init__(self, timer: EpochTimer) -> None:
        self.on_epoch_begin, self.on_epoch_end = timer.start, timer.stop  # type: ignore[method-assign]


class Supervised(pl.LightningModule):
    """A paper model and its loss, as a LightningModule (with the paper's optimizer) or for the HF Trainer."""

    def __init__(self, name: str, device: torch.device) -> None:
        super().__init__()
        build, params, _, self.transform, self.loss_fn = MODELS[name]
        torch.manual_seed(0)
        self.net, self._optimizer, _ = build(params, device)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        output = self.net(self.transform(x))
        return {"logits": output} if labels is None else {"loss": self.loss_fn(output, labels)}

    def training_step(self, batch: Batch, _index: int) -> torch.Tensor:
        return self(*batch)["loss"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self._optimizer


class Samples(torch.utils.data.Dataset):
    """The benchmark's batches as samples, for the HF Trainer's own batching."""

    def __init__(self, batches: list[Batch]) -> None:
        self.x = torch.cat([x for x, _ in batches]).cpu()
        self.y = torch.cat([y for _, y in batches]).cpu()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


def lightning_epoch(module: Supervised, batches: list[Batch], callback: Any) -> Callable[[], float]:
    timer = EpochTimer(module.device)

    def run() -> float:
        trainer = pl.Trainer(
            max_epochs=1,
            accelerator=module.device.type,
            devices=1,
            callbacks=[LightningTimer(timer)] + ([callback] if callback else []),
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(module, DataLoader(batches, batch_size=None))  # the prepared batches, as they are
        return timer.seconds[-1]

    return run


def trainer_epoch(
    name: str, batches: list[Batch], callback: Any, device: torch.device
) -> Callable[[], float]:
    timer = EpochTimer(device)
    model = Supervised(name, device)
    data = Samples(batches)
    batch_size = len(batches[0][0])

    def run() -> float:
        with tempfile.TemporaryDirectory() as output:
            args = transformers.TrainingArguments(
                output_dir=output,
                num_train_epochs=1,
                per_device_train_batch_size=batch_size,
                save_strategy="no",
                report_to="none",
                use_cpu=device.type == "cpu",
                disable_tqdm=True,
                logging_strategy="no",
            )
            callbacks = [TrainerTimer(timer)] + ([callback] if callback else [])
            trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks)
            trainer.remove_callback(transformers.PrinterCallback)  # no log lines in the table
            trainer.train()
        return timer.seconds[-1]

    return run


def paired(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median seconds of each arm and the median of the per-round ratios, after one warm-up each."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {"plain": [], "bttackler": []}
    for round_ in range(repeats):
        for kind in ("plain", "bttackler") if round_ % 2 == 0 else ("bttackler", "plain"):
            times[kind].append(runs[kind]())
    ratios = [w / p for w, p in zip(times["bttackler"], times["plain"], strict=True)]
    return {
        "plain": statistics.median(times["plain"]),
        "bttackler": statistics.median(times["bttackler"]),
        "ratio": statistics.median(ratios),
    }


def lightning_hook_seconds(name: str, batches: list[Batch], device: torch.device) -> tuple[float, float]:
    """Median seconds of BTTacklerCallback.on_before_optimizer_step and of its Reporter's own hook alone.

    Both timed 50 times, interleaved, right after a backward pass inside a live ``fit``, so the
    difference is what the callback adds to the Reporter. Every call takes statistics
    (``sample_every=1``): at the budget's rate most calls would return at once and the medians would
    compare skipped calls.
    """
    module, callback = Supervised(name, device), BTTacklerCallback(sample_every=1)
    measured: dict[str, list[float]] = {"callback": [], "reporter": []}

    class Probe(pl.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
            if measured["callback"] or callback._loop is None:
                return
            reporter = callback._loop.reporter
            for _ in range(50):
                measured["callback"].append(
                    _timed(lambda: callback.on_before_optimizer_step(trainer, pl_module, optimizer), device)
                )
                measured["reporter"].append(_timed(reporter.after_backward, device))

    pl.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        accelerator=device.type,
        devices=1,
        callbacks=[callback, Probe()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(module, DataLoader(batches, batch_size=None))
    return statistics.median(measured["callback"]), statistics.median(measured["reporter"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=20, help="optimizer steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=11, help="rounds of (plain, BTTackler) epochs")
    parser.add_argument("--models", nargs="+", default=["Cifar10CNN"], choices=list(MODELS))
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="folder with the shared data files")
    parser.add_argument(
        "--hook-rounds",
        type=int,
        default=0,
        help="only time Lightning's hook against the Reporter's, N times",
    )
    args = parser.parse_args()
    for name in ("nni", "lightning.pytorch", "lightning.fabric", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    device = torch.device(args.device)
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor() or platform.machine()
        hardware = f"{cpu}, {os.cpu_count()} cpus, {torch.get_num_threads()} torch threads"
    versions = (
        f"torch {torch.__version__}, lightning {pl.__version__}, transformers {transformers.__version__}"
    )
    print(f"# {versions}, {hardware}; command: python {' '.join(sys.argv)}")
    for name in args.models:
        _, params, make_batches, _, _ = MODELS[name]
        batches = make_batches(args.data, args.batches, params["batch_size"], device)
        if args.hook_rounds:
            for _ in range(args.hook_rounds):
                callback_hook, reporter_hook = lightning_hook_seconds(name, batches, device)
                print(
                    f"{name}: Lightning callback's hook {1e3 * callback_hook:.3f} ms, its Reporter's "
                    f"{1e3 * reporter_hook:.3f} ms, ratio {callback_hook / reporter_hook:.2f}",
                    flush=True,
                )
            continue
        if name == args.models[0]:
            print(
                f"{'model':<12} {'loop':<22} {'plain s/epoch':>14} {'BTTackler s/epoch':>18} "
                f"{'overhead (median of paired ratios)':>36} {'hook work':>10} {'hook / Reporter hook':>21}"
            )
        reporter = measure(
            name, args.data, args.batches, args.repeats, device, {}
        )  # defaults, as the callbacks
        rows = [("torch + Reporter", reporter, reporter["hook"], 1.0)]
        plain_module, watched_module = Supervised(name, device), Supervised(name, device)
        result = paired(
            {
                "plain": lightning_epoch(plain_module, batches, None),
                "bttackler": lightning_epoch(watched_module, batches, BTTacklerCallback()),
            },
            args.repeats,
        )
        callback_hook, reporter_hook = lightning_hook_seconds(name, batches, device)
        # the callback's Reporter samples at the rate the budget chose for the plain Reporter above;
        # per sampled step it costs callback_hook / reporter_hook of the Reporter's own hook
        hook = reporter["hook"] * reporter["plain"] / result["plain"] * callback_hook / reporter_hook
        rows.append(("Lightning + callback", result, hook, callback_hook / reporter_hook))
        result = paired(
            {
                "plain": trainer_epoch(name, batches, None, device),
                "bttackler": trainer_epoch(name, batches, BTTacklerTrainerCallback(), device),
            },
            args.repeats,
        )
        # the HF callback's per-step work is the Reporter's optimizer hook: the same hook work per step
        hook = reporter["hook"] * reporter["plain"] / result["plain"]
        rows.append(("HF Trainer + callback", result, hook, 1.0))
        for loop, r, work, relative in rows:
            ours = r.get("bttackler", r.get("reporter"))
            print(
                f"{name:<12} {loop:<22} {r['plain']:>14.4f} {ours:>18.4f} "
                f"{percent(r['ratio']):>35.2f}% {100 * work:>9.2f}% {relative:>21.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
