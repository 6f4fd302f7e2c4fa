"""Optional dead-activation share ``a[l]`` of ReLU-family activation modules (docs/method.md section 3).

Costs a comparison and a reduction over each activation output per sampled training batch, so the
Reporter enables it only on request. The modules carry a hook only during sampled batches (the
Reporter arms and disarms them as the sampling schedule moves on), because a hooked module costs a
Python call on every forward pass, sampled or not, which no budget would see. Activations applied
as functions (``F.relu``) have no module and are not seen, nor are they in a ``torch.compile``'d
forward: the hooks step aside while TorchDynamo traces (compiled code would not see a hook armed
later, and the sampling counter would recompile the graph at every batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .buffers import EpochBuffers
from .hooks import ModuleHook
from .layers import parameter_device
from .sampling import SamplingSchedule

RELU_FAMILY: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
)
"""Activation modules whose non-positive outputs mark a unit that passes (almost) no gradient."""


@dataclass(frozen=True)
class DeadActivations:
    """One epoch's share of non-positive outputs per activation module (in first-call order)."""

    names: list[str]
    dead_share: np.ndarray


class ActivationMonitor:
    """Counts non-positive outputs of ReLU-family modules during sampled training batches.

    Armed (hooked) at construction, for the first batch, which is always sampled; :meth:`arm` after
    each batch for the next one.

    Args:
        model: the network.
        buffers: where the device accumulators live.
        schedule: which batches are sampled (and the timing of their statistics while calibrating).
        on_failure: called with a description when counting fails (the hook then returns quietly,
            so the forward pass goes on).
    """

    def __init__(
        self,
        model: nn.Module,
        buffers: EpochBuffers,
        schedule: SamplingSchedule,
        on_failure: Callable[[str], None],
    ) -> None:
        modules = [(name, m) for name, m in model.named_modules() if isinstance(m, RELU_FAMILY)]
        device = parameter_device(model)
        self._names = [name or type(m).__name__ for name, m in modules]
        self._modules = [m for _, m in modules]
        self._order: list[int] = []
        self._dead = buffers.create("dead_outputs", len(modules), device)
        self._total = buffers.create("activation_outputs", len(modules), device)
        self._schedule = schedule
        self._on_failure = on_failure
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self.arm(True)

    def arm(self, sampled: bool) -> None:
        """Hook the activation modules for the next batch if it is ``sampled``, else unhook them."""
        if sampled and not self._handles:
            self._handles = [
                m.register_forward_hook(_CountDead(self, i)) for i, m in enumerate(self._modules)
            ]
        elif not sampled:
            self.remove()

    def observe(self, index: int, module: nn.Module, output: object) -> None:
        """Count one activation module's output (the hooks are on only in sampled batches)."""
        if not module.training or not isinstance(output, torch.Tensor):
            return
        try:
            self._schedule.timed(lambda: self._count(index, output))
        except Exception:  # noqa: BLE001 - a statistic must never break the forward pass
            self._on_failure("activation statistics")

    def _count(self, index: int, output: torch.Tensor) -> None:
        if index not in self._order:
            self._order.append(index)
        self._dead[index] += torch.count_nonzero(output <= 0).to(self._dead.device)
        self._total[index] += output.numel()

    def read_epoch(self, host: dict[str, np.ndarray]) -> DeadActivations | None:
        """This epoch's shares from the buffers' host copy, or ``None`` when no activation ran."""
        dead, total = host["dead_outputs"], host["activation_outputs"]
        seen = [i for i in self._order if total[i] > 0]
        if not seen:
            return None
        return DeadActivations([self._names[i] for i in seen], dead[seen] / total[seen])

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class _CountDead(ModuleHook):
    """The forward hook of activation module ``index``."""

    def __init__(self, monitor: ActivationMonitor, index: int) -> None:
        self._monitor, self._index = monitor, index

    def __call__(self, module: nn.Module, _inputs: object, output: object) -> None:
        if not torch.compiler.is_compiling():
            self._monitor.observe(self._index, module, output)
