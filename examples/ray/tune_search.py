"""A Ray Tune search whose broken trials BTTackler's scheduler stops, each with its reason.

Each trial trains an MLP on scikit-learn's digits with SGD and reports its epoch record as its Tune
result; the scheduler, in the driver, diagnoses every record with the peers' in view. Run::

    python examples/ray/tune_search.py --cpus 2

On a multi-node cluster, start Ray on every node (``ray start --head`` / ``ray start
--address=HEAD:6379``), install bttackler-nni there, and run this with ``--address auto`` on the
head node: only the records travel to the driver.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import ray
import torch
from ray import tune

from bttackler_nni import Reporter
from bttackler_nni.adapters.ray import BTTacklerScheduler

EXAMPLES = Path(__file__).resolve().parents[1]
EPOCHS = 10


def trainable(config: dict) -> None:
    sys.path.insert(0, str(EXAMPLES))
    from digits_task import mlp, split_digits, train_epoch

    torch.set_num_threads(1)
    data = split_digits()
    model = mlp(config["depth"])
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    reporter = Reporter(model, optimizer, max_epochs=EPOCHS, report_to_nni=False)  # BTTackler (1/2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        train_loss, val_loss, val_acc = train_epoch(model, optimizer, data, generator)
        tune.report(reporter.end_epoch(train_loss=train_loss, val_loss=val_loss, val_acc=val_acc))  # (2/2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray runtime")
    parser.add_argument("--address", default=None, help="an existing cluster, e.g. auto")
    args = parser.parse_args()
    logging.basicConfig(format="%(name)s: %(message)s")
    ray.init(address=args.address, num_cpus=None if args.address else args.cpus, include_dashboard=False)
    scheduler = BTTacklerScheduler()  # the diagnosis, in the driver
    results = tune.Tuner(
        trainable,
        param_space={"depth": tune.grid_search([1, 3]), "lr": tune.grid_search([1e-7, 0.03, 500.0])},
        tune_config=tune.TuneConfig(metric="default", mode="max", scheduler=scheduler),
        run_config=tune.RunConfig(verbose=0),
    ).fit()
    for result in results:
        config, trial_id = result.config, result.metrics["trial_id"]
        verdict = scheduler.stopped.get(trial_id)
        outcome = (
            f"stopped at epoch {verdict.epoch}: {verdict.reason_text()}" if verdict else "ran to the end"
        )
        accuracy = result.metrics["val_acc"]
        print(f"depth={config['depth']} lr={config['lr']:<6g} val_acc {accuracy:.4f}  {outcome}")
    print(scheduler.debug_string())


if __name__ == "__main__":
    main()
