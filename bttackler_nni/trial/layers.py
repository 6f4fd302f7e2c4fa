"""Which weights the Reporter monitors, and in what order (docs/method.md section 3).

A monitored layer is a module that owns a weight of rank >= 2: Linear, Conv1d/2d/3d, Bilinear,
Embedding, attention projections, each layer (and direction) of an LSTM/GRU/RNN, and any custom
module holding such a parameter. Subclasses are found because matching is by ``isinstance`` and by
parameter shape, not by class name. Layers are ordered by the forward pass (first call), not by
registration.

Frozen weights are listed too, because fine-tuning unfreezes layers as it goes; whether a weight
trains is read at each sampled batch (:class:`~.gradients.GradientMonitor`). A module whose main
weight is frozen while other weights of rank >= 2 of its own train (a LoRA-style layer holding
``lora_A`` and ``lora_B`` next to its frozen ``weight``) contributes those too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .hooks import ModuleHook

_PREFERRED_WEIGHTS = ("weight", "in_proj_weight", "q_proj_weight")


@dataclass(frozen=True)
class WeightLayer:
    """One monitored layer: a readable name, its module and its main weight."""

    name: str
    module: nn.Module
    weight: nn.Parameter


def find_weight_layers(model: nn.Module) -> list[WeightLayer]:
    """Every monitored layer of ``model`` in registration order; a shared (tied) weight appears once."""
    lazy = [
        name for name, p in model.named_parameters() if isinstance(p, nn.parameter.UninitializedParameter)
    ]
    if lazy:
        raise ValueError(
            f"Reporter needs the model's parameters initialized, and {lazy[0]} is a lazy module's "
            "uninitialized parameter. Fix: run one forward pass (a dry run) before creating the Reporter"
        )
    layers, seen = [], set()
    for module_name, module in model.named_modules():
        for weight_name, weight in _main_weights(module):
            if id(weight) in seen:
                continue
            seen.add(id(weight))
            base = module_name or type(module).__name__
            name = base if weight_name in _PREFERRED_WEIGHTS else f"{base}.{weight_name}"
            layers.append(WeightLayer(name, module, weight))
    return layers


def _main_weights(module: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """The weight(s) that represent ``module``: one per recurrent layer and direction, else one."""
    if isinstance(module, nn.RNNBase):
        directions = ("", "_reverse") if module.bidirectional else ("",)
        for layer in range(module.num_layers):
            for suffix in directions:
                weight = getattr(module, f"weight_ih_l{layer}{suffix}", None)
                if isinstance(weight, nn.Parameter):
                    yield f"weight_ih_l{layer}{suffix}", weight
        return
    own = {name: p for name, p in module.named_parameters(recurse=False) if p.dim() >= 2}
    main = next((name for name in _PREFERRED_WEIGHTS if name in own), next(iter(own), None))
    if main is None:
        return
    yield main, own[main]
    if not own[main].requires_grad:  # a frozen base weight: the module trains through the others
        yield from ((name, p) for name, p in own.items() if name != main and p.requires_grad)


class ForwardOrderRecorder:
    """Notes the order in which modules are first called during the next forward pass.

    Hooks every module until :meth:`sort` is called (after the first forward), then removes them,
    so steady-state training carries no hook at all.
    """

    def __init__(self, model: nn.Module) -> None:
        self._first_call: dict[int, int] = {}
        self._parents: dict[int, nn.Module | None] = {id(model): None}
        for module in model.modules():
            for child in module.children():
                self._parents.setdefault(id(child), module)
        self._handles = [m.register_forward_pre_hook(_NoteCall(self._first_call)) for m in model.modules()]

    def sort(self, layers: list[WeightLayer]) -> list[WeightLayer]:
        """``layers`` in forward order; stops recording.

        A weight takes the place of the first call of the module that owns it, so a parameter held
        directly by a container (or the model itself) comes before its children's. A module that is
        never called itself (e.g. ``out_proj`` inside ``nn.MultiheadAttention``,
        whose weight the parent uses directly) takes the place of its nearest called ancestor below
        the model. Layers with none (a branch the first batch did not take, such as a second task's
        head) keep their registration order, at the end.
        """
        self.stop()
        registration = {id(layer): index for index, layer in enumerate(layers)}
        return sorted(layers, key=lambda layer: (self._call_index(layer.module), registration[id(layer)]))

    def stop(self) -> None:
        """Remove the hooks (also when the Reporter closes before its first observed batch)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _call_index(self, owner: nn.Module) -> float:
        module: nn.Module | None = owner
        while module is not None:
            parent = self._parents.get(id(module))
            if id(module) in self._first_call and (module is owner or parent is not None):
                return self._first_call[id(module)]
            module = parent
        return math.inf


class _NoteCall(ModuleHook):
    """The forward pre-hook that notes a module's first call."""

    def __init__(self, first_call: dict[int, int]) -> None:
        self._first_call = first_call

    def __call__(self, module: nn.Module, _inputs: object) -> None:
        self._first_call.setdefault(id(module), len(self._first_call))


def parameter_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")
