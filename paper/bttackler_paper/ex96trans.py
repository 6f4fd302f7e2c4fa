"""Ex96Trans, the paper's third task: an Autoformer-style forecaster for Exchange-Rate, and its builder.

Written for this package from the ideas of Autoformer (Wu et al., NeurIPS 2021): the series is split
into a smooth trend and a seasonal rest inside the network, and attention is replaced by
auto-correlation, which mixes whole sub-series shifted by the delays where the series best matches
itself.

- Decomposition: trend = moving average (kernel 25, both ends padded by repeating the edge value),
  seasonal = input - trend.
- Embedding: a circular convolution (kernel 3) from the variables to ``d_model``, then dropout. No
  calendar or positional embedding: the model sees values only.
- Encoder, ``e_layers`` times: auto-correlation + residual, decomposition (the trend is dropped),
  feed-forward + residual, decomposition; then a layer norm with the time mean removed.
- Decoder input: the last ``label_len`` steps of the input's seasonal part followed by zeros, and a
  trend that starts from the last ``label_len`` steps of the input's trend followed by the input's
  mean. Each of the ``d_layers`` layers: self auto-correlation, cross auto-correlation with the
  encoder output and feed-forward, each with a residual and a decomposition; the three trends it
  removes are projected to the variables and added to the running trend.
- Output: trend + linear projection of the seasonal part, last ``pred_len`` steps.

Heads: the search space draws ``n_heads`` from 5..15 and ``d_model`` from {256, 512, 1024}, so the
heads rarely divide the width. Each head therefore gets ``d_model // n_heads`` channels: queries,
keys and values are projected from ``d_model`` to ``n_heads * (d_model // n_heads)`` channels and
the result back to ``d_model`` (e.g. 15 heads of 17 channels = 255 for ``d_model`` 256). Every
configuration with ``n_heads <= d_model`` builds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from bttackler_paper.errors import ParameterError
from bttackler_paper.params import Integer, Real, Spec, validate

SCHEMA: dict[str, Spec] = {
    "e_layers": Integer(1),
    "d_layers": Integer(1),
    "d_model": Integer(1),
    "n_heads": Integer(1),
    "d_ff": Integer(1),
    "learning_rate": Real(0.0, open_low=True),
    "batch_size": Integer(1),
    "dropout": Real(0.0, 1.0),
}
"""Every key of the paper's Ex96Trans search space, with what a buildable value must satisfy."""

DEFAULT_PARAMS: dict[str, Any] = {
    "e_layers": 2,
    "d_layers": 1,
    "d_model": 256,
    "n_heads": 8,
    "d_ff": 1024,
    "learning_rate": 1e-4,
    "batch_size": 32,
    "dropout": 0.05,
}
"""The smallest widths of the search space with Autoformer's usual depth, heads, rate and batch; used
when a trial is run without a tuner."""

LR_DECAY = 0.5
"""The learning rate is halved after every epoch."""


class SeriesDecomposition(nn.Module):
    """Split ``(N, L, C)`` into ``(seasonal, trend)``; trend = centred moving average over time."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        front = x[:, :1].expand(-1, (self.kernel_size - 1) // 2, -1)
        back = x[:, -1:].expand(-1, self.kernel_size // 2, -1)
        padded = torch.cat([front, x, back], dim=1).transpose(1, 2)
        trend = F.avg_pool1d(padded, self.kernel_size, stride=1).transpose(1, 2)
        return x - trend, trend


class AutoCorrelation(nn.Module):
    """Multi-head auto-correlation: each output step mixes the values at the best-matching delays.

    Per sample, the circular cross-correlation of queries and keys (computed with FFTs, averaged over
    heads and channels) scores every delay ``tau``; the ``floor(ln L)`` best delays are kept and their
    scores softmax-normalised; the output at step ``t`` is the weighted sum of the values at ``t - tau``.
    Projected keys and values longer than the queries are cut to the query length, shorter ones
    zero-padded at the end.
    """

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if not 1 <= n_heads <= d_model:
            raise ValueError(f"n_heads={n_heads} must be between 1 and d_model={d_model}")
        self.n_heads = n_heads
        inner = n_heads * (d_model // n_heads)
        self.query = nn.Linear(d_model, inner)
        self.key = nn.Linear(d_model, inner)
        self.value = nn.Linear(d_model, inner)
        self.out = nn.Linear(inner, d_model)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        length = queries.shape[1]
        q = self._heads(self.query(queries))
        k = self._heads(_fit_length(self.key(keys), length))
        v = self._heads(_fit_length(self.value(values), length))
        spectrum = torch.fft.rfft(q, dim=-1) * torch.conj(torch.fft.rfft(k, dim=-1))
        score = torch.fft.irfft(spectrum, n=length, dim=-1).mean(dim=(1, 2))  # (N, L): score of each delay
        top, delays = torch.topk(score, max(1, int(math.log(length))), dim=-1)
        weights = torch.softmax(top, dim=-1)
        steps = torch.arange(length, device=v.device)
        mixed = torch.zeros_like(v)
        for i in range(delays.shape[1]):
            source = (steps - delays[:, i : i + 1]) % length  # (N, L): step t reads t - tau
            shifted = v.gather(-1, source[:, None, None, :].expand_as(v))
            mixed = mixed + weights[:, i, None, None, None] * shifted
        return self.out(mixed.flatten(1, 2).transpose(1, 2))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, L, H * E)`` -> ``(N, H, E, L)``: time last, for the FFTs and the shifts."""
        return x.unflatten(-1, (self.n_heads, -1)).permute(0, 2, 3, 1)


def _fit_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """Cut ``(N, S, D)`` to ``length`` steps, or pad it with zeros at the end."""
    if x.shape[1] >= length:
        return x[:, :length]
    return F.pad(x, (0, 0, 0, length - x.shape[1]))


def _feed_forward(d_model: int, d_ff: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_model, d_ff),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(d_ff, d_model),
        nn.Dropout(dropout),
    )


class SeasonalLayerNorm(nn.Module):
    """Layer norm over channels, then the time mean removed (the seasonal part has no level)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return x - x.mean(dim=1, keepdim=True)


class EncoderLayer(nn.Module):
    """Auto-correlation and feed-forward, each followed by a decomposition that drops the trend."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, moving_avg: int) -> None:
        super().__init__()
        self.attention = AutoCorrelation(d_model, n_heads)
        self.feed_forward = _feed_forward(d_model, d_ff, dropout)
        self.decompose = SeriesDecomposition(moving_avg)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.decompose(x + self.dropout(self.attention(x, x, x)))
        x, _ = self.decompose(x + self.feed_forward(x))
        return x


class DecoderLayer(nn.Module):
    """Self and cross auto-correlation and feed-forward; returns the seasonal part and the trend removed."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float, moving_avg: int, variables: int
    ) -> None:
        super().__init__()
        self.self_attention = AutoCorrelation(d_model, n_heads)
        self.cross_attention = AutoCorrelation(d_model, n_heads)
        self.feed_forward = _feed_forward(d_model, d_ff, dropout)
        self.decompose = SeriesDecomposition(moving_avg)
        self.dropout = nn.Dropout(dropout)
        self.trend_projection = nn.Conv1d(
            d_model, variables, 3, padding=1, padding_mode="circular", bias=False
        )

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, trend1 = self.decompose(x + self.dropout(self.self_attention(x, x, x)))
        x, trend2 = self.decompose(x + self.dropout(self.cross_attention(x, memory, memory)))
        x, trend3 = self.decompose(x + self.feed_forward(x))
        trend = (trend1 + trend2 + trend3).transpose(1, 2)
        return x, self.trend_projection(trend).transpose(1, 2)


class ValueEmbedding(nn.Module):
    """``(N, L, variables)`` -> ``(N, L, d_model)`` by a circular convolution over time, then dropout."""

    def __init__(self, variables: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(variables, d_model, 3, padding=1, padding_mode="circular", bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.conv(x.transpose(1, 2)).transpose(1, 2))


class Ex96Trans(nn.Module):
    """Forecast ``pred_len`` steps of ``variables`` series from the previous ``seq_len`` steps.

    Input ``(N, seq_len, variables)`` (scaled values), output ``(N, pred_len, variables)``. The
    decoder's known part (``label_len`` steps) is the end of the input, so no second input is needed.

    Args:
        variables: number of series (8 for Exchange-Rate).
        d_model, n_heads, d_ff, e_layers, d_layers, dropout: as in the search space.
        seq_len, label_len, pred_len: input length, decoder's known part, forecast length.
        moving_avg: kernel of the trend's moving average.

    Raises:
        ValueError: when ``n_heads > d_model`` or ``label_len > seq_len``.
    """

    def __init__(
        self,
        variables: int = 8,
        *,
        d_model: int,
        n_heads: int,
        d_ff: int,
        e_layers: int,
        d_layers: int,
        dropout: float,
        seq_len: int = 96,
        label_len: int = 48,
        pred_len: int = 96,
        moving_avg: int = 25,
    ) -> None:
        super().__init__()
        if not 0 <= label_len <= seq_len:
            raise ValueError(f"label_len={label_len} must be between 0 and seq_len={seq_len}")
        self.label_len = label_len
        self.pred_len = pred_len
        self.decompose = SeriesDecomposition(moving_avg)
        self.encoder_embedding = ValueEmbedding(variables, d_model, dropout)
        self.decoder_embedding = ValueEmbedding(variables, d_model, dropout)
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, moving_avg) for _ in range(e_layers)
        )
        self.encoder_norm = SeasonalLayerNorm(d_model)
        self.decoder = nn.ModuleList(
            DecoderLayer(d_model, n_heads, d_ff, dropout, moving_avg, variables) for _ in range(d_layers)
        )
        self.decoder_norm = SeasonalLayerNorm(d_model)
        self.projection = nn.Linear(d_model, variables)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        seasonal, trend = self.decompose(history)
        known = slice(history.shape[1] - self.label_len, None)
        future = (history.shape[0], self.pred_len, history.shape[2])
        seasonal = torch.cat([seasonal[:, known], history.new_zeros(future)], dim=1)
        trend = torch.cat([trend[:, known], history.mean(dim=1, keepdim=True).expand(future)], dim=1)

        memory = self.encoder_embedding(history)
        for layer in self.encoder:
            memory = layer(memory)
        memory = self.encoder_norm(memory)

        x = self.decoder_embedding(seasonal)
        for layer in self.decoder:
            x, layer_trend = layer(x, memory)
            trend = trend + layer_trend
        forecast = trend + self.projection(self.decoder_norm(x))
        return forecast[:, -self.pred_len :]


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check an Ex96Trans parameter dict (keys as in the paper's search space); see :func:`.params.validate`.

    Raises:
        ParameterError: naming every missing, unknown or invalid key, or ``n_heads > d_model``
            (checked here, before a trial loads its data, not only when the model is built).
    """
    checked = validate("Ex96Trans", SCHEMA, params)
    if checked["n_heads"] > checked["d_model"]:
        raise ParameterError(
            f"invalid Ex96Trans parameters: n_heads={checked['n_heads']} must be between 1 and "
            f"d_model={checked['d_model']}"
        )
    return checked


def build(
    params: Mapping[str, Any], device: torch.device | str = "cpu", *, variables: int = 8
) -> tuple[Ex96Trans, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Model (96 in -> 96 out, label 48), Adam(``learning_rate``) and a per-epoch halving of the LR.

    Raises:
        ParameterError: naming every missing, unknown or invalid key (also ``n_heads > d_model``).
    """
    p = validate_params(params)
    try:
        model = Ex96Trans(
            variables,
            d_model=p["d_model"],
            n_heads=p["n_heads"],
            d_ff=p["d_ff"],
            e_layers=p["e_layers"],
            d_layers=p["d_layers"],
            dropout=p["dropout"],
        ).to(device)
    except ValueError as error:
        raise ParameterError(f"invalid Ex96Trans parameters: {error}") from error
    optimizer = torch.optim.Adam(model.parameters(), lr=p["learning_rate"])
    return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=LR_DECAY)
