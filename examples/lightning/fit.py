"""A Lightning run with BTTackler's callback: a broken configuration is stopped with its reason.

Standalone, the callback judges the run on its own and stops it with ``trainer.should_stop``; as an
NNI trial (``nni.get_next_parameter()`` returns the tuner's parameters) it reports every epoch
record to NNI instead, and NNI's BTTackler assessor decides. Try::

    python examples/lightning/fit.py                          # healthy: trains its 10 epochs
    python examples/lightning/fit.py --lr 500 --optimizer SGD # stopped at epoch 0 (AGV)
    python examples/lightning/fit.py --lr 1e-7 --optimizer SGD --clip 1.0   # stopped by PLC
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import lightning.pytorch as pl
import nni
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bttackler_nni.adapters.lightning import BTTacklerCallback

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from digits_task import mlp, split_digits  # noqa: E402


class DigitsModule(pl.LightningModule):
    def __init__(self, depth: int, optimizer: str, lr: float) -> None:
        super().__init__()
        self.net, self.optimizer_name, self.lr = mlp(depth), optimizer, lr

    def training_step(self, batch, _index):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)  # the callback averages this loss per epoch

    def validation_step(self, batch, _index):
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y))  # read by the callback by name
        self.log("val_acc", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return getattr(torch.optim, self.optimizer_name)(self.parameters(), lr=self.lr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--optimizer", default="Adam", choices=["Adam", "SGD"])
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--clip", type=float, default=None, help="gradient_clip_val (statistics are taken before)"
    )
    args = parser.parse_args()
    logging.basicConfig(format="%(name)s: %(message)s")  # shows the stop reason
    params = {**vars(args), **(nni.get_next_parameter() or {})}

    x_train, y_train, x_val, y_val = split_digits()
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=512)
    callback = BTTacklerCallback()  # BTTackler: the only line
    trainer = pl.Trainer(
        max_epochs=params["epochs"],
        gradient_clip_val=params["clip"],
        callbacks=[callback],
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    trainer.fit(DigitsModule(params["depth"], params["optimizer"], params["lr"]), train, val)
    for record in callback.records:
        print(
            f"epoch {record['epoch']}: train_loss {record['train_loss']:.4f} val_acc {record['val_acc']:.4f} "
            f"G {record.get('grad_median', float('nan')):.3g}"
        )
    stop = callback.stop_verdict
    print(f"stopped at epoch {stop.epoch}: {stop.reason_text()}" if stop else "trained to the end")


if __name__ == "__main__":
    main()
