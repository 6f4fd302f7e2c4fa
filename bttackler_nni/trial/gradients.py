"""Per-layer gradient statistics, reduced and accumulated on the device (docs/method.md section 3).

For each monitored weight ``W_l`` and each sampled batch: ``mean(|dL/dW_l|)`` and the share of
exactly-zero entries of ``dL/dW_l``. Both are summed on the device; the host reads them once per
epoch through :class:`~bttackler_nni.trial.buffers.EpochBuffers`. Nothing here synchronises with
the device per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .buffers import EpochBuffers
from .layers import ForwardOrderRecorder, WeightLayer, find_weight_layers, parameter_device


@dataclass(frozen=True)
class LayerGradients:
    """One epoch's per-layer gradient statistics, forward order, layers without gradients left out.

    Attributes:
        names: layer names.
        grad: ``g[l]``, mean over sampled batches of ``mean(|dL/dW_l|)``.
        zero_share: ``z[l]``, mean over sampled batches of the share of exactly-zero entries.
        batches: batches sampled in the epoch.
        nonfinite: whether some gradient entry of the epoch was NaN or +-Inf.
    """

    names: list[str]
    grad: np.ndarray
    zero_share: np.ndarray
    batches: int
    nonfinite: bool


INDEX_CACHE_SIZE = 64
"""Subsets of layers with gradients whose sum positions :class:`GradientMonitor` keeps."""

SIGN_PASS_ELEMENTS = 1 << 24
"""Most gradient entries one fused zero-count pass copies at once (64 MB of float32 temporaries)."""


def reduce_gradients(grads: list[torch.Tensor], fused: bool, device: torch.device) -> torch.Tensor:
    """Per-tensor L1 norms, then per-tensor non-zero counts: one float32 vector of ``2 * len(grads)``.

    ``fused`` uses multi-tensor kernels (a handful of launches for all layers, which is what a GPU
    needs: there, per-layer launches cost more than the arithmetic); otherwise one reduction per
    tensor, which is about 3x faster on CPU, where foreach ops are plain loops. Both accumulate in
    float32, so fp16 and bf16 gradients cannot overflow the sums. Each tensor is reduced where it
    lives; only the results move to ``device`` (a no-op when they are already there).
    """
    if fused:
        return torch.stack(
            [*torch._foreach_norm(grads, 1, dtype=torch.float32), *_fused_nonzero_counts(grads)]
        )
    l1 = [torch.sum(torch.abs(g), dtype=torch.float32).to(device) for g in grads]
    nonzero = [torch.count_nonzero(g).to(device, torch.float32) for g in grads]
    return torch.stack(l1 + nonzero)


def _fused_nonzero_counts(grads: list[torch.Tensor]) -> list[torch.Tensor]:
    """Non-zero entries per tensor as float32 scalars, from multi-tensor kernels.

    ``torch._foreach_norm`` has no fused kernel for the 0-"norm" (it loops over tensors), so the
    count is the L1 norm of the signs. The signs are temporaries, so they are taken over runs of at
    most :data:`SIGN_PASS_ELEMENTS` entries; a tensor larger than that is counted on its own, where
    one launch more is nothing. A NaN entry makes its tensor's count NaN (the epoch is flagged
    non-finite either way).
    """
    counts: list[torch.Tensor] = []
    for run in _runs_under(grads, SIGN_PASS_ELEMENTS):
        if len(run) == 1 and run[0].numel() > SIGN_PASS_ELEMENTS:
            counts.append(torch.count_nonzero(run[0]).to(torch.float32))
        else:
            counts.extend(torch._foreach_norm(torch._foreach_sign(run), 1, dtype=torch.float32))
    return counts


def _runs_under(tensors: list[torch.Tensor], limit: int) -> list[list[torch.Tensor]]:
    """Consecutive runs of ``tensors`` of at most ``limit`` entries each (a larger tensor: a run alone)."""
    runs: list[list[torch.Tensor]] = []
    size = limit + 1  # forces a new run at the first tensor
    for tensor in tensors:
        if size + tensor.numel() > limit:
            runs.append([])
            size = 0
        runs[-1].append(tensor)
        size += tensor.numel()
    return runs


class GradientMonitor:
    """Accumulates gradient statistics of a model's monitored layers.

    Call :meth:`observe` once per sampled batch, after ``backward`` and before the optimizer
    changes or clears the gradients; call :meth:`read_epoch` at the end of each epoch.

    Args:
        model: the network.
        buffers: where the device accumulators live.
        max_layers: above this many layers, consecutive layers are merged into equal groups (mean of
            their ``g`` and ``z``) so a record stays small.
    """

    def __init__(self, model: nn.Module, buffers: EpochBuffers, max_layers: int = 1024) -> None:
        self._layers: list[WeightLayer] = find_weight_layers(model)
        self._order = ForwardOrderRecorder(model)
        self._buffers = buffers
        self._max_layers = max_layers
        self._device = parameter_device(model)
        self._ready = False

    @property
    def layer_names(self) -> list[str]:
        """Monitored layers; in forward order once the first batch has been observed."""
        return [layer.name for layer in self._layers]

    def _start(self) -> None:
        """Fix the forward order and allocate the accumulators (at the first observed batch)."""
        self._layers = self._order.sort(self._layers)
        count = len(self._layers)
        self._weights = [layer.weight for layer in self._layers]
        inverse_numel = torch.tensor(
            [1 / w.numel() for w in self._weights], dtype=torch.float32, device=self._device
        )
        # sums[:count] adds up mean(|g|) per layer, sums[count:] the share of non-zero entries
        self._scale = inverse_numel.repeat(2)
        self._sums = self._buffers.create("gradient_sums", 2 * count, self._device)
        self._batches = np.zeros(count, dtype=np.int64)  # counted on the host: no device work
        self._fused = self._device.type != "cpu" and all(w.device == self._device for w in self._weights)
        self._index_cache: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        self._ready = True

    def observe(self) -> None:
        """Add this batch's gradient statistics to the epoch's sums (device work only)."""
        if not self._ready:
            self._start()
        present, grads = [], []
        for i, weight in enumerate(self._weights):
            # a frozen weight's .grad is stale, or zeros kept by zero_grad(set_to_none=False)
            grad = weight.grad if weight.requires_grad else None
            if grad is not None and grad.is_sparse:  # Embedding(sparse=True): its rows, summed per row
                grad = grad.coalesce().values()  # the entries left out are zeros, as the scale counts
            if grad is not None and grad.layout == torch.strided:
                present.append(i)
                grads.append(grad)
        if not present:
            return
        stats = reduce_gradients(grads, self._fused, self._device)
        if len(present) == len(self._weights):
            self._sums.addcmul_(stats, self._scale)
            self._batches += 1
            return
        index, scale = self._index_cache.get(tuple(present)) or self._cache_index(present)
        self._sums.index_add_(0, index, stats * scale)
        self._batches[present] += 1

    def _cache_index(self, present: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Where the statistics of a subset of layers go in the sums, and their scale factors.

        Kept for the few subsets a run repeats (frozen layers, a branch used on some batches); a
        run that draws a new subset each batch (LayerDrop) would grow the cache without end, so it
        starts over once it holds :data:`INDEX_CACHE_SIZE` subsets."""
        if len(self._index_cache) >= INDEX_CACHE_SIZE:
            self._index_cache.clear()
        count = len(self._weights)
        index = torch.tensor(present + [count + i for i in present], device=self._device)
        return self._index_cache.setdefault(tuple(present), (index, self._scale[index]))

    def close(self) -> None:
        """Remove the forward-order hooks, which stay on every module until the first observed batch."""
        self._order.stop()

    def read_epoch(self, host: dict[str, np.ndarray]) -> LayerGradients | None:
        """This epoch's statistics from the buffers' host copy, or ``None`` if no gradient was seen."""
        if not self._ready:
            return None
        batches, self._batches = self._batches, np.zeros_like(self._batches)
        seen = batches > 0
        if not seen.any():
            return None
        count = len(self._weights)
        sums = host["gradient_sums"]
        names = [name for name, keep in zip(self.layer_names, seen, strict=True) if keep]
        grad = sums[:count][seen] / batches[seen]
        zero_share = 1 - sums[count:][seen] / batches[seen]
        nonfinite = not bool(np.all(np.isfinite(grad)))
        names, grad, zero_share = _group(names, grad, zero_share, self._max_layers)
        return LayerGradients(names, grad, zero_share, int(batches.max()), nonfinite)


def _group(
    names: list[str], grad: np.ndarray, zero_share: np.ndarray, max_layers: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Merge consecutive layers into at most ``max_layers`` equal groups (means), keeping records small."""
    if len(names) <= max_layers:
        return names, grad, zero_share
    size = -(-len(names) // max_layers)
    starts = range(0, len(names), size)
    grouped_names = [f"{names[s]}..{names[min(s + size, len(names)) - 1]}" for s in starts]
    return (
        grouped_names,
        np.array([grad[s : s + size].mean() for s in starts]),
        np.array([zero_share[s : s + size].mean() for s in starts]),
    )
