"""What the training-loop adapters (Lightning, Hugging Face) share: one Reporter, and a Diagnoser outside NNI.

:class:`LoopCallback` is the part of both callbacks that is not about their framework: the settings
they take, the :class:`LoopDiagnosis` of the current run, its records and the verdict that stopped it.

Inside an NNI trial the records go to NNI, whose assessor judges them with the peers' losses, so
the loop itself decides nothing. Outside one (a plain ``trainer.fit``), the records are judged here,
the run alone (no peers, so no cross-trial protection), and the adapter stops its loop when the
verdict is a stop; the reason is logged on the ``bttackler_nni`` logger.
"""

from __future__ import annotations

import logging
from typing import Any

from ..diagnosis.config import AssessorConfig
from ..diagnosis.engine import Diagnoser
from ..diagnosis.verdict import Verdict
from ..trial.distributed import in_nni_trial
from ..trial.reporter import Reporter

_logger = logging.getLogger("bttackler_nni")


class LoopDiagnosis:
    """A Reporter on the model, reporting to NNI inside an NNI trial and judged here outside one.

    Args:
        model: the network being trained.
        optimizer: as for :class:`~bttackler_nni.Reporter`: statistics just before each real
            ``optimizer.step()``; ``None`` when the adapter calls :meth:`after_backward` itself.
        max_epochs: the run's planned epochs.
        first_epoch: the epoch the run starts at (a run resumed from a checkpoint).
        config: the diagnosis settings used outside NNI (defaults otherwise).
        send: whether this process reports to NNI when inside a trial (only the main process
            does in distributed training).
        reporter_options: passed on to the Reporter (``sample_every``, ``track_activations``, ...).
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        *,
        max_epochs: int,
        first_epoch: int = 0,
        config: AssessorConfig | None,
        send: bool = True,
        reporter_options: dict[str, Any] | None = None,
    ) -> None:
        self.in_nni = in_nni_trial()
        self.reporter = Reporter(
            model,
            optimizer,
            max_epochs=max_epochs,
            first_epoch=first_epoch,
            report_to_nni=self.in_nni and send,
            **(reporter_options or {}),
        )
        self._diagnoser = None if self.in_nni else Diagnoser(config)
        self.records: list[dict[str, Any]] = []
        self.verdicts: list[Verdict] = []

    def after_backward(self) -> None:
        """Take this step's gradient statistics (when the Reporter has no optimizer to hook)."""
        self.reporter.after_backward()

    def end_epoch(self, **metrics: Any) -> Verdict | None:
        """Close the epoch's record (``Reporter.end_epoch`` arguments); the verdict when it stops the run."""
        record = self.reporter.end_epoch(**metrics)
        self.records.append(record)
        if self._diagnoser is None:
            return None
        stopped_before = bool(self.verdicts) and self.verdicts[-1].stop
        verdict = self._diagnoser.assess("run", self.records)
        self.verdicts.append(verdict)
        if not verdict.stop:
            return None
        if not stopped_before:  # a trainer that trains on (Lightning's min_epochs) hears it once
            _logger.warning("BTTackler stops training at epoch %d: %s", verdict.epoch, verdict.reason_text())
        return verdict

    def finish(self) -> None:
        """Inside NNI, send the final result (the last record's ``default``); detach the hooks either way."""
        if self.reporter.report_to_nni and self.records:
            self.reporter.finish()
        else:
            self.reporter.close()


class LoopCallback:
    """The settings, records and stopping verdict the Lightning and Hugging Face callbacks share.

    Args:
        max_epochs: the planned epochs; ``None`` takes the trainer's.
        config: diagnosis settings used outside NNI (inside NNI the assessor's apply).
        reporter_options: passed to :class:`~bttackler_nni.Reporter` (``sample_every``,
            ``overhead_budget``, ``track_activations``, ``max_layers``).
    """

    def __init__(
        self, max_epochs: int | None, config: AssessorConfig | None, reporter_options: dict[str, Any]
    ) -> None:
        self._max_epochs = max_epochs
        self._config = config
        self._reporter_options = reporter_options
        self._loop: LoopDiagnosis | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every epoch record of the current (or last) run."""
        return self._loop.records if self._loop is not None else []

    @property
    def stop_verdict(self) -> Verdict | None:
        """The verdict that stopped standalone training, if one did."""
        verdicts = self._loop.verdicts if self._loop is not None else []
        return verdicts[-1] if verdicts and verdicts[-1].stop else None

    def _start_loop(
        self, model: Any, optimizer: Any, *, max_epochs: int, first_epoch: int, send: bool
    ) -> None:
        """Start a new run's :class:`LoopDiagnosis` as the current one."""
        self._loop = LoopDiagnosis(
            model,
            optimizer,
            max_epochs=max_epochs,
            first_epoch=min(first_epoch, max_epochs),
            config=self._config,
            send=send,
            reporter_options=self._reporter_options,
        )
