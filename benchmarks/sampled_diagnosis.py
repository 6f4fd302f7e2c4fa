"""Do sampled statistics diagnose as full ones do? Verdicts from statistics on 1 batch in k vs every batch.

Under its overhead budget the Reporter takes statistics on 1 batch in k, with k at most the epoch's
batches // MIN_SAMPLED_BATCHES. Several Reporters watch the same training at different rates, and
each rate's records are judged by its own Diagnoser (default settings, trials in order, so
cross-trial protection works as in an experiment); what is compared is each trial's first stop:
its indicator and epoch, or none.

1. Synthetic pathologies (tests/synthetic.PATHOLOGIES, the indicator tests' shapes), replayed with
   60 batches per epoch whose gradients scatter around the history's statistics, spikes and
   within-epoch trends included (tests/sampled_statistics.py), over ``--seeds`` seeds. The
   history's values are the expected epoch means; "other batches" replays it at every batch with
   other batches (another seed).
2. Near a threshold: statistics expected at a margin of EAG's ``grad_max`` (G) and LAR's
   ``zero_share_max`` (Z) in all 12 epochs, same replay: how close to a threshold a verdict flips.
3. Real training: the configurations of the digits trace bank (``--bank``, issue 9's
   benchmarks/banks/digits.jsonl: 110 Random-search trials of configs/digits/search_space.json,
   15 epochs of 20,000 samples), or as many drawn from that space, trained as the digits demo
   trial trains them (examples/digits/train.py, same seed: the full statistics reproduce the
   bank's records, whose own verdicts are the "bank" column). "other batches" is a second
   training, identical but for the order and augmentation of its batches: how often full
   statistics change their verdict when only the batches change, the noise a sampled verdict
   should be compared with. Each training stops once every rate has stopped.

    python benchmarks/sampled_diagnosis.py --bank benchmarks/banks/digits.jsonl --trials 110
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bttackler_nni import Reporter
from bttackler_nni.diagnosis.engine import Diagnoser
from bttackler_nni.trial.sampling import MIN_SAMPLED_BATCHES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' synthetic histories and their batch-by-batch replay
from sampled_statistics import first_stop, replay  # noqa: E402
from synthetic import HEALTHY_GRAD, PATHOLOGIES, record  # noqa: E402

Stop = tuple[str, int] | None
SYNTHETIC_BATCHES = 60
SYNTHETIC_RATES = (1, 2, 3, 6, 12, 30)  # 6 = 60 // MIN_SAMPLED_BATCHES, the sparsest the budget picks
MARGINS = (0.5, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.5)
OTHER = "other batches"
COLUMNS = [*(f"1 in {k}" for k in SYNTHETIC_RATES[1:]), OTHER]


def show(stop: Stop) -> str:
    return "-" if stop is None else f"{stop[0]}@{stop[1]}"


def replayed_stops(history: list[dict[str, Any]], seeds: int) -> tuple[list[Stop], dict[str, list[Stop]]]:
    """Each seed's first stop at every batch, and for each other column the stops that differ from them.

    Seed ``s`` replays the history at every rate; the "other batches" column replays it at every
    batch with seed ``s + 1000``: the same statistics, other batches.
    """
    full: list[Stop] = []
    differing: dict[str, list[Stop]] = {column: [] for column in COLUMNS}
    for seed in range(seeds):
        records = replay(history, SYNTHETIC_RATES, batches=SYNTHETIC_BATCHES, seed=seed)
        stops = {f"1 in {k}": first_stop(r) for k, r in records.items()}
        stops[OTHER] = first_stop(replay(history, (1,), batches=SYNTHETIC_BATCHES, seed=seed + 1000)[1])
        full.append(stops["1 in 1"])
        for column in COLUMNS:
            if stops[column] != stops["1 in 1"]:
                differing[column].append(stops[column])
    return full, differing


def synthetic_pathologies(seeds: int) -> None:
    print(f"\n## 1. Synthetic pathologies: {SYNTHETIC_BATCHES} batches per epoch, {seeds} seeds")
    print("first stops with statistics on every batch; then, per column, seeds whose first stop differs")
    print(
        f"{'pathology':<20} {'full':>8} " + " ".join(f"{c:>13}" for c in COLUMNS) + "   differing first stops"
    )
    for name, history in PATHOLOGIES.items():
        full, differing = replayed_stops(history, seeds)
        counts = " ".join(f"{len(differing[c]):>13}" for c in COLUMNS)
        seen = [f"{c}: {show(stop)}" for c in COLUMNS for stop in differing[c]]
        summary = ", ".join(sorted(set(seen), key=seen.index)) or "none"
        print(
            f"{name:<20} {'/'.join(sorted({show(stop) for stop in full})):>8} {counts}   {summary}",
            flush=True,
        )


def margin_history(indicator: str, margin: float) -> list[dict[str, Any]]:
    """Twelve healthy epochs but for one statistic expected at ``margin`` times its threshold."""
    if indicator == "EAG":  # G = median g = margin * grad_max
        grad = [g / HEALTHY_GRAD[1] * margin * 1e4 for g in HEALTHY_GRAD]
        return [record(e, grad=grad, val_loss=2.4 * 0.85**e) for e in range(12)]
    # LAR: Z = median z = margin * zero_share_max
    return [record(e, zero_share=[margin * 0.5] * 3, val_loss=2.4 * 0.85**e) for e in range(12)]


def near_thresholds(seeds: int) -> None:
    print(f"\n## 2. Near a threshold: {SYNTHETIC_BATCHES} batches per epoch, {seeds} seeds")
    print("seeds stopped with statistics on every batch; then, per column, seeds whose first stop differs")
    print(f"{'statistic':<24} {'margin':>6} {'full: stopped':>13} " + " ".join(f"{c:>13}" for c in COLUMNS))
    for indicator, label in (("EAG", "G vs grad_max 1e4"), ("LAR", "Z vs zero_share_max 0.5")):
        for margin in MARGINS:
            full, differing = replayed_stops(margin_history(indicator, margin), seeds)
            counts = " ".join(f"{len(differing[c]):>13}" for c in COLUMNS)
            stopped = f"{sum(stop is not None for stop in full)}/{seeds}"
            print(f"{label:<24} {margin:>6.2f} {stopped:>13} {counts}", flush=True)


def load_digits_trial() -> Any:
    """The digits demo trial's module (its model builder, data split and batch sampler)."""
    spec = importlib.util.spec_from_file_location("digits_trial", ROOT / "examples" / "digits" / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def draw(space: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One configuration of an NNI search space of choice, randint and loguniform parameters."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind, value = spec["_type"], spec["_value"]
        if kind == "choice":
            params[name] = value[int(rng.integers(len(value)))]
        elif kind == "randint":
            params[name] = int(rng.integers(value[0], value[1]))
        elif kind == "loguniform":
            params[name] = float(math.exp(rng.uniform(math.log(value[0]), math.log(value[1]))))
        else:
            raise ValueError(f"{name}: search-space type {kind} is not drawn here")
    return params


class Training:
    """One digits training, as the demo trial runs it, watched by a Reporter per rate, epoch by epoch."""

    def __init__(
        self,
        trial: Any,
        params: dict[str, Any],
        rates: Sequence[int],
        *,
        epochs: int,
        samples: int,
        batch_seed: int,
    ) -> None:
        torch.manual_seed(0)  # the demo trial's seed: the same initial weights for every training
        self.trial, self.params = trial, params
        self.data = trial.split_digits()
        self.model = trial.build_model(
            params["depth"], params["width"], params["activation"], params["bias_init"]
        )
        self.optimizer = trial.OPTIMIZERS[params["optimizer"]](self.model.parameters(), lr=params["lr"])
        self.reporters = {
            k: Reporter(self.model, self.optimizer, max_epochs=epochs, sample_every=k) for k in rates
        }
        self.generator = torch.Generator().manual_seed(batch_seed)
        self.steps = max(1, samples // params["batch_size"])
        self.records: dict[int, list[dict[str, Any]]] = {k: [] for k in rates}

    def epoch(self) -> None:
        """Train one epoch and add each rate's record."""
        x_train, y_train, x_val, y_val = self.data
        self.model.train()
        total = 0.0
        for _ in range(self.steps):
            inputs, targets = self.trial.augmented_batch(
                x_train, y_train, self.params["batch_size"], self.generator
            )
            self.optimizer.zero_grad()
            loss = nn.functional.cross_entropy(self.model(inputs), targets)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        self.model.eval()
        with torch.no_grad():
            logits = self.model(x_val)
            val_loss = nn.functional.cross_entropy(logits, y_val).item()
            val_acc = (logits.argmax(1) == y_val).float().mean().item()
        for k, reporter in self.reporters.items():
            self.records[k].append(
                reporter.end_epoch(train_loss=total / self.steps, val_loss=val_loss, val_acc=val_acc)
            )


@dataclass
class Judge:
    """One rate's view of one trial, judged report by report as the assessor would, to the first stop."""

    diagnoser: Diagnoser
    trial: str
    stop: Stop = None
    rule: str = ""
    protected_from: int | None = None
    done: bool = False

    def assess(self, records: Sequence[dict[str, Any]]) -> None:
        verdict = self.diagnoser.assess(self.trial, records)
        if verdict.protected and self.protected_from is None:
            self.protected_from = verdict.epoch
        if verdict.stop and verdict.reason is not None:
            self.stop, self.rule, self.done = (
                (verdict.reason.indicator, verdict.epoch),
                verdict.reason.rule,
                True,
            )

    def why(self) -> str:
        protected = (
            "never protected" if self.protected_from is None else f"protected from {self.protected_from}"
        )
        return f"{show(self.stop)} {self.rule} ({protected})"


def configurations(bank: Path | None, trials: int, seed: int) -> list[tuple[str, dict[str, Any], list[dict]]]:
    """(name, parameters, recorded records) of the bank's first ``trials`` trials, or drawn ones."""
    if bank is not None:
        lines = [json.loads(line) for line in bank.read_text().splitlines()[1 : trials + 1]]
        return [
            (line["trial"], line["parameters"], [epoch["record"] for epoch in line["epochs"]])
            for line in lines
        ]
    space = json.loads((ROOT / "configs" / "digits" / "search_space.json").read_text())
    rng = np.random.default_rng(seed)
    return [(f"t{index:03d}", draw(space, rng), []) for index in range(trials)]


def real_trainings(bank: Path | None, trials: int, epochs: int, samples: int, seed: int) -> None:
    trial = load_digits_trial()
    variants: dict[str, Callable[[int], int]] = {
        "1 in 3": lambda n: 3,
        f"1 in n//{MIN_SAMPLED_BATCHES}": lambda n: n // MIN_SAMPLED_BATCHES,
        "1 in n//3": lambda n: n // 3,
    }
    labels = ["full", *variants, OTHER] + (["bank"] if bank else [])
    diagnosers = {label: Diagnoser() for label in labels}
    configs = configurations(bank, trials, seed)
    source = (
        f"the first {len(configs)} trials of the digits trace bank {bank}"
        if bank
        else (f"{len(configs)} configurations drawn from configs/digits/search_space.json with seed {seed}")
    )
    print(f"\n## 3. Real training: {source}")
    print(
        f"{epochs} epochs of {samples} samples (n = {samples // 128} or {samples // 64} batches); "
        f"{OTHER}: full statistics, the same training but for the order and augmentation of its batches"
        + ("; bank: the bank's own records" if bank else "")
    )
    print(f"{'trial':<6} {'configuration':<58} " + " ".join(f"{label:>16}" for label in labels))
    differ = dict.fromkeys(labels, 0)
    started = time.perf_counter()
    for name, params, recorded in configs:
        batches = max(1, samples // params["batch_size"])
        rates = {"full": 1, **{label: rate(batches) for label, rate in variants.items()}}
        trainings = {
            0: Training(
                trial, params, sorted(set(rates.values())), epochs=epochs, samples=samples, batch_seed=0
            ),
            1: Training(trial, params, [1], epochs=epochs, samples=samples, batch_seed=1),
        }
        watched = {label: (trainings[0], rate) for label, rate in rates.items()} | {OTHER: (trainings[1], 1)}
        judges = {label: Judge(diagnosers[label], name) for label in labels}
        for epoch in range(epochs):
            for training in {id(t): t for t, _ in watched.values()}.values():
                if any(not judges[label].done for label, (t, _) in watched.items() if t is training):
                    training.epoch()
            for label, (training, rate) in watched.items():
                if not judges[label].done:
                    judges[label].assess(training.records[rate])
            if bank and not judges["bank"].done and epoch < len(recorded):
                judges["bank"].assess(recorded[: epoch + 1])
            if all(j.done for j in judges.values()):
                break
        stops = {label: j.stop for label, j in judges.items()}
        for label, stop in stops.items():
            differ[label] += stop != stops["full"]
        config = (
            f"{params['optimizer']} lr={params['lr']:.2g} depth={params['depth']} width={params['width']} "
            f"{params['activation']} bias={params['bias_init']} bs={params['batch_size']}"
        )
        cells = " ".join(
            f"{show(stop) + ('' if label == 'full' else (' *' if stop != stops['full'] else '')):>16}"
            for label, stop in stops.items()
        )
        print(f"{name:<6} {config:<58} {cells}", flush=True)
        if len(set(stops.values())) > 1:  # why: each rate's rule, and protection
            for label, judge in judges.items():
                print(f"{'':<9}{label}: {judge.why()}")
    print(
        f"{'differ':<6} {f'(first stop differs from full, of {len(configs)} trials)':<58} "
        + " ".join(f"{'' if label == 'full' else differ[label]:>16}" for label in labels)
    )
    print(f"# {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="replays of each synthetic history")
    parser.add_argument(
        "--bank", type=Path, help="a digits trace bank (.jsonl): train its trials' configurations"
    )
    parser.add_argument("--trials", type=int, default=40, help="digits configurations trained")
    parser.add_argument("--epochs", type=int, default=15, help="as the digits bank records them")
    parser.add_argument(
        "--samples-per-epoch", type=int, default=20_000, help="as the digits bank records them"
    )
    parser.add_argument("--seed", type=int, default=2024, help="without --bank, draws the configurations")
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2, 3], choices=[1, 2, 3])
    args = parser.parse_args()
    logging.getLogger("nni").setLevel(logging.WARNING)  # NNI's standalone mode logs every record
    torch.set_num_threads(1)
    print(f"# torch {torch.__version__}, {platform.machine()}; command: python {' '.join(sys.argv)}")
    if 1 in args.parts:
        synthetic_pathologies(args.seeds)
    if 2 in args.parts:
        near_thresholds(args.seeds)
    if 3 in args.parts:
        real_trainings(args.bank, args.trials, args.epochs, args.samples_per_epoch, args.seed)


if __name__ == "__main__":
    main()
