"""The trial both CIFAR-10 tasks run: train a classifier with the Reporter attached, report val accuracy.

``examples/cifar10cnn/train.py`` and ``examples/cifar10lstm/train.py`` differ only in the model and
in whether images are fed as sequences of rows, so the loop lives here once.
"""

from __future__ import annotations

import time
from types import ModuleType

import torch
from torch.nn import functional as F

from bttackler_nni.trial.reporter import Reporter
from bttackler_paper import cifar10, trial
from bttackler_paper.training import best, evaluate, train_epoch


def train_classifier(description: str | None, task: ModuleType, *, sequence: bool) -> None:
    """Parse the trial command line, train ``task``'s model on CIFAR-10, report to NNI.

    Args:
        description: the trial script's docstring (its ``--help``).
        task: :mod:`~bttackler_paper.cifar10_cnn` or :mod:`~bttackler_paper.cifar10_lstm`.
        sequence: feed each image as 96 rows of 32 values (the LSTM task).
    """
    args = trial.parse_args(description, cifar10.ENV_VAR)
    params = task.validate_params(trial.parameters(task.DEFAULT_PARAMS, args.params))
    device = trial.setup_torch(args)
    data = cifar10.load_cifar10(args.data, fraction=args.data_fraction, seed=args.seed).to(device)
    model, optimizer, scheduler = task.build(params, device)

    reporter = Reporter(model, optimizer, max_epochs=args.epochs)
    records = trial.RecordLog(args.records_out)
    shuffle = torch.Generator().manual_seed(args.seed)
    accuracies = []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        train_batches = data.train.batches(
            params["batch_size"], generator=shuffle, augment=True, sequence=sequence
        )
        train_loss = train_epoch(model, optimizer, train_batches, F.cross_entropy)
        val_batches = data.val.batches(params["batch_size"], sequence=sequence)
        val = evaluate(model, val_batches, F.cross_entropy, accuracy=True)
        val_acc = float(val.accuracy if val.accuracy is not None else "nan")  # always set with accuracy=True
        scheduler.step()
        records.write(reporter.end_epoch(train_loss=train_loss, val_loss=val.loss, val_acc=val_acc))
        accuracies.append(val_acc)
        metrics = {"train_loss": train_loss, "val_loss": val.loss, "val_acc": val_acc}
        print(trial.progress(epoch, args.epochs, time.perf_counter() - started, **metrics), flush=True)
    print(f"final result (best val_acc): {reporter.finish(default=best(accuracies, higher_is_better=True))}")
