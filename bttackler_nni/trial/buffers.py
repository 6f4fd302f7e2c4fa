"""Device-resident accumulators for one epoch, read back to the host with a single transfer."""

from __future__ import annotations

import numpy as np
import torch


class EpochBuffers:
    """Named float32 tensors that statistics are summed into on the device during an epoch.

    The host never looks at them per batch: :meth:`read_and_reset` concatenates all of them,
    copies them to the host once, and zeroes them for the next epoch.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def create(self, name: str, size: int, device: torch.device) -> torch.Tensor:
        """A zeroed 1-D float32 buffer of ``size`` entries on ``device``, read back under ``name``."""
        buffer = torch.zeros(size, dtype=torch.float32, device=device)
        self._buffers[name] = buffer
        return buffer

    def read_and_reset(self) -> dict[str, np.ndarray]:
        """Every buffer's content as float64 host arrays (one device-to-host copy), then zero them."""
        if not self._buffers:
            return {}
        tensors = list(self._buffers.values())
        device = tensors[0].device
        host = torch.cat([t.to(device) for t in tensors]).cpu().numpy().astype(np.float64)
        for tensor in tensors:
            tensor.zero_()
        arrays, start = {}, 0
        for name, tensor in self._buffers.items():
            arrays[name] = host[start : start + tensor.numel()]
            start += tensor.numel()
        return arrays
