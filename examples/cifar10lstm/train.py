"""Cifar10LSTM trial (BTTackler paper, task 2): a 2-layer LSTM on CIFAR-10 with BTTackler's Reporter attached.

Each image is read as a sequence of 96 rows of 32 values (the red, green and blue planes' rows).
Under NNI, use ``trialCommand: python train.py`` in this folder, with BTTACKLER_CIFAR10 set (or --data).
Standalone, with the task's default hyperparameters or your own:

    python train.py --data ../../../shared/data/cifar10_subset.npz --epochs 3 --data-fraction 0.2
    python train.py --data /data/cifar-10-batches-py --params '{"hidden_size": 32, "opt": "RMSprop"}'

Small setting (a few seconds per epoch on 2 CPU cores): --data-fraction 0.2 on the 15k-image subset.
Reports val accuracy each epoch; the final result is the best val accuracy.
"""

import time

import torch
from torch.nn import functional as F

from bttackler_nni import Reporter
from bttackler_nni.tasks import cifar10, cifar10_lstm, trial
from bttackler_nni.tasks.training import best, evaluate, train_epoch


def main() -> None:
    args = trial.parse_args(__doc__, cifar10.ENV_VAR)
    params = cifar10_lstm.validate_params(trial.parameters(cifar10_lstm.DEFAULT_PARAMS, args.params))
    device = trial.setup_torch(args)
    data = cifar10.load_cifar10(args.data, fraction=args.data_fraction, seed=args.seed).to(device)
    model, optimizer, scheduler = cifar10_lstm.build(params, device)

    reporter = Reporter(model, optimizer, max_epochs=args.epochs)
    records = trial.RecordLog(args.records_out)
    shuffle = torch.Generator().manual_seed(args.seed)
    accuracies = []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        train_batches = data.train.batches(
            params["batch_size"], generator=shuffle, augment=True, sequence=True
        )
        train_loss = train_epoch(model, optimizer, train_batches, F.cross_entropy)
        val_batches = data.val.batches(params["batch_size"], sequence=True)
        val = evaluate(model, val_batches, F.cross_entropy, accuracy=True)
        scheduler.step()
        records.write(reporter.end_epoch(train_loss=train_loss, val_loss=val.loss, val_acc=val.accuracy))
        accuracies.append(val.accuracy)
        metrics = {"train_loss": train_loss, "val_loss": val.loss, "val_acc": val.accuracy}
        print(trial.progress(epoch, args.epochs, time.perf_counter() - started, **metrics), flush=True)
    print(f"final result (best val_acc): {reporter.finish(default=best(accuracies, higher_is_better=True))}")


if __name__ == "__main__":
    trial.run(main)
