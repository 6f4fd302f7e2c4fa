"""Ex96Trans trial (BTTackler paper, task 3): an Autoformer-style forecaster on Exchange-Rate, 96 steps in,
96 out, with BTTackler's Reporter attached.

Under NNI, use ``trialCommand: python train.py`` in this folder, with BTTACKLER_EXCHANGE_RATE set (or
--data). Standalone, with the task's default hyperparameters or your own:

    python train.py --data ../../../shared/data/exchange_rate.csv --epochs 3 --data-fraction 0.05
    python train.py --data exchange_rate.csv --params '{"d_model": 512, "n_heads": 7, "e_layers": 1}'

Small setting (a few seconds per epoch on 2 CPU cores): --data-fraction 0.05 with the default
hyperparameters. Reports val MSE (on scaled values) each epoch as the default metric, so the
experiment must minimise; the final result is the lowest val MSE.
"""

import time

import torch
from torch.nn import functional as F

from bttackler_nni import Reporter
from bttackler_paper import ex96trans, exchange_rate, trial
from bttackler_paper.training import best, evaluate, train_epoch


def main() -> None:
    args = trial.parse_args(__doc__, exchange_rate.ENV_VAR)
    params = ex96trans.validate_params(trial.parameters(ex96trans.DEFAULT_PARAMS, args.params))
    device = trial.setup_torch(args)
    data = exchange_rate.load_exchange_rate(args.data, fraction=args.data_fraction).to(device)
    model, optimizer, scheduler = ex96trans.build(params, device, variables=len(data.columns))

    reporter = Reporter(model, optimizer, max_epochs=args.epochs)
    records = trial.RecordLog(args.records_out)
    shuffle = torch.Generator().manual_seed(args.seed)
    val_mses = []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        train_batches = data.train.batches(params["batch_size"], generator=shuffle)
        train_mse = train_epoch(model, optimizer, train_batches, F.mse_loss)
        val_mse = evaluate(model, data.val.batches(params["batch_size"]), F.mse_loss).loss
        scheduler.step()
        records.write(reporter.end_epoch(train_loss=train_mse, val_loss=val_mse, default=val_mse))
        val_mses.append(val_mse)
        metrics = {"train_mse": train_mse, "val_mse": val_mse}
        print(trial.progress(epoch, args.epochs, time.perf_counter() - started, **metrics), flush=True)
    print(f"final result (lowest val_mse): {reporter.finish(default=best(val_mses, higher_is_better=False))}")


if __name__ == "__main__":
    trial.run(main)
