"""``BTTacklerTrainerCallback``: the diagnosis in a Hugging Face ``Trainer`` (``[huggingface]`` extra).

Usage::

    from bttackler_nni.adapters.huggingface import BTTacklerTrainerCallback

    args = TrainingArguments(..., num_train_epochs=20, eval_strategy="epoch")
    Trainer(model, args, ..., callbacks=[BTTacklerTrainerCallback()]).train()

Inside an NNI trial each epoch's record goes to NNI (the assessor decides, with the peers) and the
final result is sent when training ends; outside one the run is judged on its own and stopped with
``control.should_training_stop``, the reason logged on the ``bttackler_nni`` logger. Under DDP
(``torchrun``) each process judges its own records, and a stop that any of them decides stops them
all at that epoch's end.

Where the gradient statistics are taken (transformers 5.x, ``Trainer._run_epoch``): when the
optimizer really steps, once per ``gradient_accumulation_steps`` window. The Trainer clips the
gradients to ``max_grad_norm`` (**1.0 by default**) and only then calls ``on_pre_optimizer_step`` and
steps, so the statistics are of **clipped** gradients: with clipping on, G cannot show an explosion
(``G > grad_max``), which then shows in the losses (AGV for NaN gradients, ULC); set
``max_grad_norm=0`` to measure the raw gradients. The hook is the wrapped torch optimizer's own step
(the Reporter's), not ``on_pre_optimizer_step``, because under fp16 AMP the ``GradScaler`` skips the
step of an overflowing batch without calling it: such steps are not counted, as with the Reporter.
Gradients are already unscaled there (the Trainer unscales to clip or measure the norm).

The record's train loss is the mean of the losses the Trainer logged during the epoch (weighted by
their steps; a log is requested at each epoch end so that the last steps count). The Trainer
replaces a NaN or infinite step loss by the running mean (``logging_nan_inf_filter``), so NaN
shows through the gradients.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..diagnosis.config import AssessorConfig
from ..trial.distributed import any_process
from .loop import LoopCallback


class BTTacklerTrainerCallback(LoopCallback, TrainerCallback):
    """Reports BTTackler's epoch records to NNI, or stops standalone training that the diagnosis finds broken.

    One record per training epoch, closed after the epoch's evaluation when the Trainer evaluates at
    each epoch end (``eval_strategy="epoch"``), else at the epoch end with the metrics of the latest
    evaluation of that epoch, if any.

    Args (``max_epochs``, ``config`` and ``reporter_options`` as for :class:`~.loop.LoopCallback`;
    ``max_epochs`` defaults to the Trainer's ``num_train_epochs``, rounded up):
        val_loss, val_acc: keys of the evaluation metrics to put in the record (``compute_metrics``
            returning ``{"accuracy": ...}`` gives ``eval_accuracy``); a missing key is left out.
        default: key of the evaluation metric NNI's tuner optimises; defaults to ``val_acc``, then
            ``val_loss``, then the train loss.
    """

    def __init__(
        self,
        *,
        max_epochs: int | None = None,
        val_loss: str = "eval_loss",
        val_acc: str = "eval_accuracy",
        default: str | None = None,
        config: AssessorConfig | None = None,
        **reporter_options: Any,
    ) -> None:
        LoopCallback.__init__(self, max_epochs, config, reporter_options)
        self._names = {"val_loss": val_loss, "val_acc": val_acc, "default": default}
        self._first_step = self._last_logged_step = 0
        self._device: Any = None  # the Trainer's, for the stop decided across processes
        self._evaluation: dict[str, float] = {}
        self._reset_epoch()

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        max_epochs = self._max_epochs or math.ceil(state.num_train_epochs)
        optimizer = kwargs.get("optimizer")
        torch_optimizer = getattr(optimizer, "optimizer", optimizer)  # inside accelerate's wrapper
        self._start_loop(
            kwargs["model"],
            torch_optimizer,
            max_epochs=max_epochs,
            first_epoch=math.floor(state.epoch or 0),  # a run resumed from a checkpoint goes on from it
            send=state.is_world_process_zero,
        )
        self._device = args.device
        self._first_step = self._last_logged_step = state.global_step
        self._reset_epoch()

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        self._epoch_ended = True
        self._await_evaluation = control.should_evaluate
        self._await_log = state.global_step > self._last_logged_step
        control.should_log = control.should_log or self._await_log  # logged before any evaluation
        self._close_if_complete(control)
        return control

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if logs and "loss" in logs:
            steps = state.global_step - self._last_logged_step
            self._loss_sum += logs["loss"] * steps
            self._loss_steps += steps
            self._last_logged_step = state.global_step
            self._await_log = False
            self._close_if_complete(control)
        return control

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if state.global_step == self._first_step:
            return control  # before this run's first step (eval_on_start): no epoch's evaluation
        self._evaluation = dict(metrics or {})
        self._await_evaluation = False
        self._close_if_complete(control)  # only once the epoch has ended: mid-epoch evaluations wait
        return control

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._loop is not None:
            self._loop.finish()

    def _close_if_complete(self, control: TrainerControl) -> None:
        """Send the epoch's record once the epoch, its last loss log and its evaluation are in."""
        if self._loop is None or not self._epoch_ended or self._await_log or self._await_evaluation:
            return
        metrics = {
            key: self._evaluation[name] for key, name in self._names.items() if name in self._evaluation
        }
        train_loss = self._loss_sum / self._loss_steps if self._loss_steps else math.nan
        verdict = self._loop.end_epoch(train_loss=train_loss, **metrics)
        self._reset_epoch()
        if not self._loop.in_nni and any_process(verdict is not None, self._device):
            control.should_training_stop = True  # in every process, or the others would wait for it

    def _reset_epoch(self) -> None:
        self._loss_sum = 0.0
        self._loss_steps = 0
        self._evaluation = {}
        self._epoch_ended = False
        self._await_log = False
        self._await_evaluation = False
