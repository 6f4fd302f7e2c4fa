"""``BTTacklerCallback``: BTTackler's diagnosis inside a Lightning ``Trainer`` (the ``[lightning]`` extra).

Usage::

    from bttackler_nni.adapters.lightning import BTTacklerCallback

    trainer = lightning.pytorch.Trainer(max_epochs=20, callbacks=[BTTacklerCallback()])
    trainer.fit(model, train_loader, val_loader)

Inside an NNI trial each epoch's record goes to NNI (the assessor decides, with the peers) and the
final result is sent when ``fit`` ends; outside one the run is judged on its own and stopped with
``trainer.should_stop``, the reason logged on the ``bttackler_nni`` logger.

Where the gradient statistics are taken (Lightning 2.x, ``Precision._after_closure``): in
``on_before_optimizer_step``, which Lightning calls once per optimizer step, after the backward
pass of the whole ``accumulate_grad_batches`` window (Lightning divides each micro-batch loss by the
window, so the gradient is the window's mean), after AMP's ``GradScaler`` has unscaled the
gradients, and **before** gradient clipping (``gradient_clip_val``), which Lightning applies right
after this hook. So the statistics show the gradients the model produced, even when clipping keeps
them from the optimizer. Under fp16 AMP, a step the ``GradScaler`` skips because its gradients
overflowed is not counted, as the Reporter does with a plain ``GradScaler``; finding that out reads
the scaler's verdict on the host once per step, which ``GradScaler.step`` does right after anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl

from ..diagnosis.config import AssessorConfig
from .loop import LoopCallback

_logger = logging.getLogger("bttackler_nni")


class BTTacklerCallback(LoopCallback, pl.Callback):
    """Reports BTTackler's epoch records to NNI, or stops standalone training that the diagnosis finds broken.

    The record's train loss is the mean of the losses ``training_step`` returned during the epoch
    (summed on the device, read once per epoch); the other metrics are read by name from
    ``trainer.callback_metrics``, validation metrics only in epochs where validation ran. One
    optimizer is supported.

    Args (``max_epochs``, ``config`` and ``reporter_options`` as for :class:`~.loop.LoopCallback`;
    ``max_epochs`` defaults to the Trainer's):
        train_loss: name of a logged metric to use as the train loss when ``training_step``
            returns none (manual optimization).
        val_loss, val_acc, train_acc: names of logged metrics (``self.log(...)``) to put in the
            record; a name that was not logged is left out.
        default: name of the metric NNI's tuner optimises; defaults to ``val_acc``, then
            ``val_loss``, then the train loss.
    """

    def __init__(
        self,
        *,
        max_epochs: int | None = None,
        train_loss: str = "train_loss",
        val_loss: str = "val_loss",
        val_acc: str = "val_acc",
        train_acc: str | None = None,
        default: str | None = None,
        config: AssessorConfig | None = None,
        **reporter_options: Any,
    ) -> None:
        LoopCallback.__init__(self, max_epochs, config, reporter_options)
        self._train_loss_name = train_loss
        self._train_names = {"train_acc": train_acc, "default": default}
        self._val_names = {"val_loss": val_loss, "val_acc": val_acc}
        self._loss_sum: Any = None  # the epoch's summed training losses, a tensor on the device
        self._loss_batches = 0
        self._validated = False
        self._warned_unnamed = False

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._planned_epochs(trainer)  # before the sanity check and any checkpoint is loaded

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # here, unlike in on_fit_start, a fit resumed from a checkpoint has its epoch back
        self._start_loop(
            pl_module,
            None,
            max_epochs=self._planned_epochs(trainer),
            first_epoch=trainer.current_epoch,
            send=trainer.is_global_zero,
        )
        self._reset_epoch()

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        if self._loop is not None and not _skipped_by_grad_scaler(trainer, optimizer):
            self._loop.after_backward()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is None or not hasattr(loss, "detach"):
            return
        loss = loss.detach()
        if pl_module.automatic_optimization:
            loss = loss * trainer.accumulate_grad_batches  # undo Lightning's division by the window
        self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
        self._loss_batches += 1

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._validated = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._loop is None:
            return
        metrics = trainer.callback_metrics
        if self._loss_sum is not None:
            train_loss = self._loss_sum / self._loss_batches
        elif self._train_loss_name in metrics:
            train_loss = metrics[self._train_loss_name]
        else:
            raise ValueError(
                "BTTacklerCallback found no training loss this epoch. Fix: return the loss from "
                "training_step (a tensor, or a dict with a 'loss' key), or log it as "
                f"{self._train_loss_name!r}"
            )
        names = {**self._train_names, **(self._val_names if self._validated else {})}
        logged = {key: metrics[name] for key, name in names.items() if name is not None and name in metrics}
        if self._validated and not self._warned_unnamed and not logged.keys() & self._val_names.keys():
            self._warned_unnamed = True
            _logger.warning(
                "BTTacklerCallback: validation ran but logged none of %s (logged: %s), so records rank "
                "by the train loss. Fix: BTTacklerCallback(val_acc=..., val_loss=...) with the names "
                "you log (several val dataloaders add '/dataloader_idx_N')",
                ", ".join(repr(n) for n in self._val_names.values()),
                ", ".join(sorted(metrics)) or "nothing",
            )
        verdict = self._loop.end_epoch(train_loss=train_loss, **logged)
        self._reset_epoch()
        if trainer.strategy.reduce_boolean_decision(verdict is not None, all=False):
            trainer.should_stop = True

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._loop is not None:
            self._loop.finish()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if self._loop is not None:
            self._loop.reporter.close()

    def _planned_epochs(self, trainer: pl.Trainer) -> int:
        max_epochs = self._max_epochs if self._max_epochs is not None else trainer.max_epochs
        if max_epochs is None or max_epochs < 1:
            raise ValueError(
                f"BTTacklerCallback needs the planned number of epochs, and the Trainer's max_epochs is "
                f"{max_epochs!r}. Fix: pass Trainer(max_epochs=...) or BTTacklerCallback(max_epochs=...)"
            )
        return max_epochs

    def _reset_epoch(self) -> None:
        self._loss_sum = None
        self._loss_batches = 0
        self._validated = False


def _skipped_by_grad_scaler(trainer: pl.Trainer, optimizer: Any) -> bool:
    """Whether fp16 AMP's ``GradScaler`` found inf/NaN in this step's gradients and will skip the step.

    Lightning unscales (which records what the scaler found) just before ``on_before_optimizer_step``;
    torch has no public accessor for that record. Anything unexpected counts as not skipped.
    """
    scaler = getattr(trainer.precision_plugin, "scaler", None)
    if scaler is None or not scaler.is_enabled():
        return False
    try:
        found = scaler._found_inf_per_device(optimizer)
        return any(bool(flag.item()) for flag in found.values())
    except Exception:  # noqa: BLE001 - the check must never break training
        return False
