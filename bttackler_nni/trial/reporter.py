"""``Reporter``: the trial-side half. Collects training diagnostics and reports them to NNI each epoch.

Typical use (gradient statistics are captured automatically before each ``optimizer.step()``)::

    import nni
    from bttackler_nni import Reporter

    params = nni.get_next_parameter()
    reporter = Reporter(model, optimizer, max_epochs=20)
    for epoch in range(20):
        train_loss = train_one_epoch(model, optimizer)        # your loop, unchanged
        val_loss, val_acc = evaluate(model)
        reporter.end_epoch(train_loss=train_loss, val_loss=val_loss, val_acc=val_acc)
    reporter.finish()                                          # final result: the last default
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from typing import Any

import nni
import numpy as np
import psutil
import torch
from torch import nn

from .. import record as keys
from ..gradient_summary import summarize_gradients
from .activations import ActivationMonitor
from .buffers import EpochBuffers
from .distributed import give_process_group_threads_time_at_exit, in_nni_trial, is_main_process
from .gradients import GradientMonitor
from .layers import parameter_device
from .orphan import ParentWatch
from .sampling import DEFAULT_BUDGET, SamplingSchedule

_logger = logging.getLogger("bttackler_nni")

Metric = float | torch.Tensor | np.ndarray
"""A number, or a one-element tensor or numpy array (read once per epoch, so a loss summed on the
device is fine)."""


class Reporter:
    """Attach to a model (and optimizer) to report BTTackler's epoch records to NNI.

    Args:
        model: the network being trained.
        optimizer: if given, gradient statistics are taken just before each ``optimizer.step()``
            (under AMP, ``GradScaler.step`` unscales the gradients first, so they are true values,
            and steps it skips for overflow are not counted). Without it, call
            :meth:`after_backward` after each ``loss.backward()``; under AMP call it after
            ``scaler.unscale_(optimizer)``, or the statistics are scaled by the loss scale.
        max_epochs: the trial's planned number of epochs (indicators depend on the stage).
        overhead_budget: the share of training time the statistics may cost (default 0.01, 1%).
            The Reporter times its statistics against the training steps in the first batches of
            training (every batch is sampled there), then takes them on 1 batch in k, the smallest
            k whose estimated share is within 80% of the budget (headroom for the estimate's
            error: :data:`~bttackler_nni.trial.sampling.BUDGET_AIM`), while an epoch still samples at least
            :data:`~bttackler_nni.trial.sampling.MIN_SAMPLED_BATCHES` batches (all, when shorter).
            Records carry the rate (``sample_every``) and the measured share (``overhead_share``).
        sample_every: instead of a budget, take statistics on every k-th batch (1 = every batch);
            nothing is timed and no minimum applies.
        track_activations: also measure the share of non-positive outputs of ReLU-family
            activation modules (costs one pass over their outputs per sampled batch).
        max_layers: records merge consecutive layers into at most this many groups (at most
            :data:`~bttackler_nni.record.MAX_LAYERS`, the longest per-layer list the assessor reads).
        report_to_nni: send records and the final result to NNI. ``False`` only builds and
            returns them, for searches run by something else (Optuna, Ray Tune, the framework
            adapters outside an NNI trial, see :func:`~.distributed.in_nni_trial`). In a distributed run
            (DDP) only the main process, global rank 0, sends; every process builds its records
            (:mod:`.distributed`).
        first_epoch: the 0-based epoch the run starts at: a run resumed from a checkpoint taken
            after N epochs passes N, so that its records carry the true epoch (the indicators judge
            by the stage of training, ``epoch / max_epochs``).

    Statistics never break training: if computing one fails, the Reporter logs a warning once
    and keeps reporting losses and metrics without it. One thing ends it: in an NNI trial whose
    stop reached only the trialCommand's shell, the next batch or ``end_epoch`` exits the process
    with the fix on stderr (:mod:`.orphan`).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        max_epochs: int,
        overhead_budget: float = DEFAULT_BUDGET,
        sample_every: int | None = None,
        track_activations: bool = False,
        max_layers: int = 1024,
        report_to_nni: bool = True,
        first_epoch: int = 0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"Reporter(model=...) must be a torch.nn.Module, got {type(model).__name__}")
        for name, value, minimum, maximum in (
            ("max_epochs", max_epochs, 1, None),
            ("max_layers", max_layers, 2, keys.MAX_LAYERS),  # the assessor ignores longer lists
            ("first_epoch", first_epoch, 0, max_epochs),
        ):
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < minimum
                or (maximum is not None and value > maximum)
            ):
                limits = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
                raise ValueError(f"Reporter({name}=...) must be a whole number {limits}, got {value!r}")
        if optimizer is not None and not hasattr(optimizer, "register_step_pre_hook"):
            raise TypeError(
                "Reporter(optimizer=...) must be a torch.optim.Optimizer; "
                "or leave it out and call reporter.after_backward() after each backward()"
            )
        self._schedule = SamplingSchedule(
            parameter_device(model), sample_every=sample_every, overhead_budget=overhead_budget
        )
        self.max_epochs = max_epochs
        self.report_to_nni = report_to_nni
        self._buffers = EpochBuffers()
        self._gradients = GradientMonitor(model, self._buffers, max_layers)
        self._activations = (
            ActivationMonitor(model, self._buffers, self._schedule, self._disable_statistics)
            if track_activations
            else None
        )
        self._step_hook = (
            optimizer.register_step_pre_hook(lambda *_: self._on_batch()) if optimizer is not None else None
        )
        # A trial NNI stopped, whose stop the trialCommand's shell did not pass on, leaves (.orphan).
        self._parent_watch = ParentWatch() if report_to_nni and in_nni_trial() else None
        give_process_group_threads_time_at_exit()  # or torch can abort a distributed process at exit
        self._epoch = first_epoch
        self._stats_enabled = True
        self._last_record: dict[str, Any] | None = None
        self._metric_default: float | None = None  # the latest default not taken from the train loss
        self._warned_activations_unseen = False
        self._epoch_started = time.perf_counter()
        self._startup_seconds = _process_age()

    @property
    def monitored_layers(self) -> list[str]:
        """Names of the monitored layers, frozen ones included (a record lists those that had
        gradients in its epoch), in forward order once the first batch has been seen."""
        return self._gradients.layer_names

    @property
    def sample_every(self) -> int:
        """Statistics are taken on 1 batch in this many (chosen by the budget, or forced)."""
        return self._schedule.sample_every

    @property
    def epoch(self) -> int:
        """0-based index of the epoch being trained (``first_epoch`` plus the records sent so far)."""
        return self._epoch

    def after_backward(self) -> None:
        """Take this batch's gradient statistics; only needed when no optimizer was given."""
        self._on_batch()

    def end_epoch(
        self,
        *,
        train_loss: Metric,
        val_loss: Metric | None = None,
        train_acc: Metric | None = None,
        val_acc: Metric | None = None,
        default: Metric | None = None,
    ) -> dict[str, Any]:
        """Build this epoch's record, send it with ``nni.report_intermediate_result``, and return it.

        Nothing is sent when the Reporter was created with ``report_to_nni=False``, nor from a
        process other than the main one of a distributed run.

        ``default`` (the metric NNI's tuner and web UI use) falls back to ``val_acc``, then
        ``val_loss``; in an epoch without either (no validation this epoch), to the latest default
        given or taken from them, so the series stays one metric; before the first, to
        ``train_loss``. Losses may be floats or 0-d tensors. Works outside an NNI experiment too
        (NNI then only logs the record).
        """
        if self._parent_watch is not None:
            self._parent_watch.check()
        metrics = {keys.TRAIN_LOSS: _as_float("train_loss", train_loss)}
        for key, value in ((keys.VAL_LOSS, val_loss), (keys.TRAIN_ACC, train_acc), (keys.VAL_ACC, val_acc)):
            if value is not None:
                metrics[key] = _as_float(key, value)
        chosen = self._default_of(default, metrics)
        record: dict[str, Any] = {
            keys.DEFAULT: metrics[keys.TRAIN_LOSS] if chosen is None else chosen,
            keys.EPOCH: self._epoch,
            keys.MAX_EPOCHS: self.max_epochs,
            **metrics,
        }
        if chosen is None:
            record[keys.DEFAULT_IS_TRAIN_LOSS] = 1
        record.update(self._epoch_statistics())
        now = time.perf_counter()
        record[keys.EPOCH_SECONDS] = now - self._epoch_started
        self._epoch_started = now
        if self._last_record is None and self._startup_seconds is not None:
            record[keys.STARTUP_SECONDS] = self._startup_seconds
        parameter_id = _nni_parameter_id()
        if parameter_id is not None:
            record[keys.TRIAL] = {keys.PARAMETER_ID: parameter_id}
        losses_finite = all(
            math.isfinite(metrics[k]) for k in (keys.TRAIN_LOSS, keys.VAL_LOSS) if k in metrics
        )
        record[keys.NONFINITE] = int(bool(record.get(keys.NONFINITE)) or not losses_finite)
        if self._sends():
            _send(nni.report_intermediate_result, record)
        self._last_record = record
        self._epoch += 1
        return record

    def _default_of(self, default: Metric | None, metrics: dict[str, float]) -> float | None:
        """This epoch's ``default``: given, else ``val_acc`` or ``val_loss``, else the latest of those
        (an epoch without validation); ``None`` before any (the train loss stands in)."""
        if default is None:
            default = next((metrics[k] for k in (keys.VAL_ACC, keys.VAL_LOSS) if k in metrics), None)
        if default is not None:
            self._metric_default = _as_float("default", default)
        return self._metric_default

    def finish(self, default: float | None = None, **metrics: float) -> float | dict[str, Any]:
        """Send the final result with ``nni.report_final_result`` and detach; returns what was sent.

        ``default`` falls back to the last record's ``default``. Extra keyword metrics turn the
        result into a dict (``{"default": ..., **metrics}``), shown in NNI's web UI.
        """
        if default is None:
            if self._last_record is None:
                raise ValueError("Reporter.finish() needs default=... when no epoch was reported")
            default = self._last_record[keys.DEFAULT]
        value: float | dict[str, Any] = _as_float("default", default)
        if metrics:
            value = {keys.DEFAULT: value, **{k: _as_float(k, v) for k, v in metrics.items()}}
        if self._sends():
            _send(nni.report_final_result, value)
        self.close()
        return value

    def close(self) -> None:
        """Remove every hook from the model and optimizer."""
        if self._step_hook is not None:
            self._step_hook.remove()
            self._step_hook = None
        self._gradients.close()
        if self._activations is not None:
            self._activations.remove()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _sends(self) -> bool:
        """Whether this process sends to NNI: asked to, and the main process of its trial."""
        return self.report_to_nni and is_main_process()

    def _on_batch(self) -> None:
        if self._parent_watch is not None:
            self._parent_watch.check()
        if self._stats_enabled:
            self._schedule.step(self._observe_gradients)
            if self._activations is not None:
                self._activations.arm(self._schedule.is_sampled())

    def _observe_gradients(self) -> None:
        try:
            self._gradients.observe()
        except Exception:  # noqa: BLE001 - a statistic must never break the training loop
            self._disable_statistics("gradient statistics")

    def _epoch_statistics(self) -> dict[str, Any]:
        """Top-level scalars and per-layer lists of the epoch (one device-to-host transfer)."""
        sampling = self._schedule.end_epoch()
        if not self._stats_enabled:
            return {}
        if self._activations is not None:
            self._activations.arm(self._schedule.is_sampled())  # the next epoch's first batch
        try:
            host = self._buffers.read_and_reset()
            stats: dict[str, Any] = dict(sampling)
            gradients = self._gradients.read_epoch(host)
            if gradients is not None:
                summary = summarize_gradients(gradients.grad, gradients.zero_share)
                stats[keys.GRAD_MEDIAN] = summary.grad_median
                if summary.ratio_median is not None:
                    stats[keys.GRAD_RATIO_MEDIAN] = summary.ratio_median
                stats[keys.ZERO_GRAD_SHARE] = summary.zero_share_median
                stats[keys.NONFINITE] = int(gradients.nonfinite)
                stats[keys.SAMPLED_BATCHES] = gradients.batches
                stats[keys.LAYERS] = {
                    keys.NAMES: gradients.names,
                    keys.GRAD: _floats(gradients.grad),
                    keys.ZERO_SHARE: _floats(gradients.zero_share),
                }
            activations = self._activations.read_epoch(host) if self._activations is not None else None
            unseen = self._activations is not None and activations is None and gradients is not None
            if unseen and not self._warned_activations_unseen:
                self._warned_activations_unseen = True
                _logger.warning(
                    "BTTackler Reporter(track_activations=True) saw no activation output this epoch: "
                    "ReLU-family modules compiled by torch.compile, or applied as functions (F.relu), are "
                    "not seen. Fix: nn.ReLU() modules in an uncompiled model, or track_activations=False"
                )
            if activations is not None:
                stats[keys.DEAD_ACTIVATION_SHARE] = float(np.median(activations.dead_share))
                stats[keys.ACTIVATIONS] = {
                    keys.NAMES: activations.names,
                    keys.DEAD_SHARE: _floats(activations.dead_share),
                }
            return stats
        except Exception:  # noqa: BLE001
            self._disable_statistics("epoch statistics")
            return {}

    def _disable_statistics(self, what: str) -> None:
        _logger.warning(
            "BTTackler Reporter could not compute %s and stops collecting them; losses and "
            "metrics are still reported",
            what,
            exc_info=True,
        )
        self._stats_enabled = False
        if self._activations is not None:
            self._activations.remove()


def _process_age() -> float | None:
    """Seconds since this process started (the trial's start-up so far), ``None`` if unknown.

    A stop saves a trial's remaining epochs but never its start-up, so RNK weighs the two
    (:class:`~bttackler_nni.diagnosis.peers.TrialTimes`).
    """
    try:
        age = time.time() - psutil.Process().create_time()
    except Exception:  # noqa: BLE001 - a statistic must never break the training loop
        return None
    return age if math.isfinite(age) and age >= 0 else None


def _nni_parameter_id() -> int | None:
    """The parameter id NNI delivered to this trial, or ``None`` outside NNI.

    NNI 3.0 can record another parameter id for a trial than the one it delivered (see
    docs/nni-notes.md); the assessor uses this one, sent by the trial itself, to put that right.
    NNI has no public accessor for it, so this reads ``nni.trial``'s record of the delivery.
    """
    delivered = getattr(nni.trial, "_params", None)
    parameter_id = delivered.get("parameter_id") if isinstance(delivered, dict) else None
    return parameter_id if isinstance(parameter_id, int) else None


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().item())
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise TypeError(
        f"Reporter: {name} must be a number or a one-element tensor or array, got {type(value).__name__}"
    )


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def _send(report: Any, value: Any) -> None:
    """Call an NNI report function, turning NNI's bare assertion into an actionable error."""
    try:
        report(value)
    except AssertionError as error:
        raise RuntimeError(
            "NNI refused the report: call nni.get_next_parameter() once at the start of the "
            f"trial, before the first Reporter.end_epoch() ({error})"
        ) from error
