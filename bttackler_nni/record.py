"""The epoch record: the dict a Reporter sends once per epoch and the assessor reads back.

This module owns the record's keys. The Reporter writes them; :func:`parse_record` reads any value
NNI may hand the assessor (a dict from our Reporter, a bare number from a plain NNI trial, or
garbage) into an :class:`EpochRecord` without ever raising, and lists what it had to ignore.

Record layout (all keys optional except ``default``)::

    {
      "default": 0.91,            # the metric NNI's tuner and web UI use
      "default_is_train_loss": 1, # only where default is the train loss standing in for a metric not
                                  # reported yet (epochs before a trial's first validation)
      "epoch": 3, "max_epochs": 20,
      "train_loss": 0.31, "val_loss": 0.35, "train_acc": 0.9, "val_acc": 0.91,
      "grad_median": 2.1e-3,      # G   (scalars at the top level: plottable in NNI's web UI)
      "grad_ratio_median": 1.4,   # Q
      "zero_grad_share": 0.02,    # Z
      "dead_activation_share": 0.3,   # only with activation tracking
      "nonfinite": 0,             # 1 when a loss or gradient of the epoch was NaN or +-Inf
      "sampled_batches": 45,
      "sample_every": 4,          # statistics were taken on 1 batch in 4 (chosen to hold the Reporter's
                                  # overhead_budget, or forced with sample_every=4)
      "overhead_share": 0.006,    # measured share of training time the statistics cost at that rate
                                  # (only when the Reporter calibrated it)
      "epoch_seconds": 2.4,       # wall time of the epoch: since the previous record (the first: since
                                  # the Reporter was created), training and evaluation included
      "startup_seconds": 3.1,     # first record only: from the trial process's start to the Reporter's
                                  # creation (imports, data, model), what a stop cannot save
      "layers": {"names": [...], "grad": [...], "zero_share": [...]},   # g[l], z[l], forward order
      "activations": {"names": [...], "dead_share": [...]},             # a[l]
      "trial": {"parameter_id": 7},   # the NNI parameter id this trial really received
    }
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .gradient_summary import summarize_gradients

DEFAULT = "default"
EPOCH = "epoch"
MAX_EPOCHS = "max_epochs"
TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
TRAIN_ACC = "train_acc"
VAL_ACC = "val_acc"
GRAD_MEDIAN = "grad_median"
GRAD_RATIO_MEDIAN = "grad_ratio_median"
ZERO_GRAD_SHARE = "zero_grad_share"
DEAD_ACTIVATION_SHARE = "dead_activation_share"
NONFINITE = "nonfinite"
DEFAULT_IS_TRAIN_LOSS = "default_is_train_loss"
SAMPLED_BATCHES = "sampled_batches"
SAMPLE_EVERY = "sample_every"
OVERHEAD_SHARE = "overhead_share"
EPOCH_SECONDS = "epoch_seconds"
STARTUP_SECONDS = "startup_seconds"
TRIAL = "trial"
PARAMETER_ID = "parameter_id"
LAYERS = "layers"
ACTIVATIONS = "activations"
NAMES = "names"
GRAD = "grad"
ZERO_SHARE = "zero_share"
DEAD_SHARE = "dead_share"

MAX_LAYERS = 4096
"""Per-layer lists longer than this are treated as malformed (the Reporter groups layers to fit)."""

MAX_COUNT = 10**9
"""Epoch counts above this are treated as malformed."""

_METRIC_KEYS = (DEFAULT, TRAIN_LOSS, VAL_LOSS, TRAIN_ACC, VAL_ACC)
_SCALAR_STAT_KEYS = (GRAD_MEDIAN, GRAD_RATIO_MEDIAN, ZERO_GRAD_SHARE, DEAD_ACTIVATION_SHARE)
_SHARE = (0.0, 1.0)
_NON_NEGATIVE = (0.0, math.inf)
_SCALAR_RANGES = {
    GRAD_MEDIAN: _NON_NEGATIVE,
    GRAD_RATIO_MEDIAN: _NON_NEGATIVE,
    ZERO_GRAD_SHARE: _SHARE,
    DEAD_ACTIVATION_SHARE: _SHARE,
}
_LIST_RANGES = {GRAD: _NON_NEGATIVE, ZERO_SHARE: _SHARE, DEAD_SHARE: _SHARE}
"""What a statistic can be: ``g`` is a mean of absolute values, shares are shares. NaN and +-Inf
are not out of range here: they are AGV's finding."""


@dataclass(frozen=True)
class EpochRecord:
    """One report, parsed. Every field is ``None`` when the report did not carry a usable value.

    The gradient fields come from the per-layer lists when present (recomputed with
    :func:`~bttackler_nni.gradient_summary.summarize_gradients`), else from the top-level scalars.
    """

    default: float | None = None
    epoch: int | None = None
    max_epochs: int | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    train_acc: float | None = None
    val_acc: float | None = None
    nonfinite: bool = False
    default_is_train_loss: bool = False
    grad: np.ndarray | None = None
    zero_share: np.ndarray | None = None
    dead_share: np.ndarray | None = None
    layer_names: tuple[str, ...] = ()
    parameter_id: int | None = None
    grad_median: float | None = None
    grad_ratio_median: float | None = None
    grad_ratio_overflow: bool = False
    zero_grad_layers: tuple[int, ...] = ()
    zero_grad_share: float | None = None
    dead_activation_share: float | None = None
    sample_every: int | None = None
    overhead_share: float | None = None
    epoch_seconds: float | None = None
    startup_seconds: float | None = None

    def layer_name(self, index: int) -> str:
        """A layer's name for messages, or ``layer <index>`` when names were not sent."""
        if 0 <= index < len(self.layer_names):
            return self.layer_names[index]
        return f"layer {index}"

    def values_that_must_be_finite(self) -> list[tuple[str, float]]:
        """Each (key, value) pair that AGV checks for NaN and +-Inf, most specific first.

        Metrics, then the first non-finite entry of each per-layer list (naming the layer), then
        the summary statistics (which a non-finite layer value also makes non-finite).
        """
        metrics = (
            (DEFAULT, self.default),
            (TRAIN_LOSS, self.train_loss),
            (VAL_LOSS, self.val_loss),
            (TRAIN_ACC, self.train_acc),
            (VAL_ACC, self.val_acc),
        )
        pairs = [(key, value) for key, value in metrics if value is not None]
        for key, array, name_of in (
            (GRAD, self.grad, self.layer_name),
            (ZERO_SHARE, self.zero_share, self.layer_name),
            (DEAD_SHARE, self.dead_share, str),
        ):
            if array is not None and not np.all(np.isfinite(array)):
                index = int(np.flatnonzero(~np.isfinite(array))[0])
                pairs.append((f"{key}[{name_of(index)}]", float(array[index])))
        statistics = (
            (GRAD_MEDIAN, self.grad_median),
            (ZERO_GRAD_SHARE, self.zero_grad_share),
            (DEAD_ACTIVATION_SHARE, self.dead_activation_share),
        )
        pairs.extend((key, value) for key, value in statistics if value is not None)
        return pairs


def parse_record(raw: Any) -> tuple[EpochRecord, list[str]]:
    """Read one history entry; never raises.

    Returns:
        The parsed record and a list of human-readable problems (values that were ignored).
    """
    if _is_number(raw):
        return EpochRecord(default=_as_float(raw)), []
    if not isinstance(raw, Mapping):
        return EpochRecord(), [f"report is a {type(raw).__name__}, not a dict or a number"]
    problems: list[str] = []
    fields: dict[str, Any] = {}
    for key in _METRIC_KEYS:
        fields[key] = _read_number(raw, key, problems)
    fields[EPOCH] = _read_count(raw, EPOCH, problems)
    fields[MAX_EPOCHS] = _read_count(raw, MAX_EPOCHS, problems, minimum=1)
    fields[NONFINITE] = _read_flag(raw, NONFINITE, problems)
    fields[DEFAULT_IS_TRAIN_LOSS] = _read_flag(raw, DEFAULT_IS_TRAIN_LOSS, problems)
    fields[SAMPLE_EVERY] = _read_count(raw, SAMPLE_EVERY, problems, minimum=1)
    for key in (OVERHEAD_SHARE, EPOCH_SECONDS, STARTUP_SECONDS):
        fields[key] = _read_number(raw, key, problems, _NON_NEGATIVE)
    scalars = {key: _read_number(raw, key, problems, _SCALAR_RANGES[key]) for key in _SCALAR_STAT_KEYS}

    layers = _read_group(raw, LAYERS, (GRAD, ZERO_SHARE), problems)
    grad = layers.get(GRAD)
    zero_share = layers.get(ZERO_SHARE)
    if grad is not None and zero_share is not None and len(zero_share) != len(grad):
        problems.append(f"{LAYERS}.{ZERO_SHARE} has {len(zero_share)} entries, {LAYERS}.{GRAD} {len(grad)}")
        zero_share = None
    dead_share = _read_group(raw, ACTIVATIONS, (DEAD_SHARE,), problems).get(DEAD_SHARE)

    if grad is not None and len(grad):
        summary = summarize_gradients(grad, zero_share)
        fields.update(
            grad_median=summary.grad_median,
            grad_ratio_median=summary.ratio_median,
            grad_ratio_overflow=summary.ratio_overflow,
            zero_grad_layers=summary.zero_grad_layers,
            zero_grad_share=summary.zero_share_median
            if summary.zero_share_median is not None
            else scalars[ZERO_GRAD_SHARE],
        )
    else:
        ratio = scalars[GRAD_RATIO_MEDIAN]
        fields.update(
            grad_median=scalars[GRAD_MEDIAN],
            grad_ratio_median=ratio if ratio is None or math.isfinite(ratio) else None,
            grad_ratio_overflow=ratio is not None and not math.isfinite(ratio),
            zero_grad_share=scalars[ZERO_GRAD_SHARE],
        )
    fields[DEAD_ACTIVATION_SHARE] = (
        float(np.median(dead_share))
        if dead_share is not None and len(dead_share)
        else scalars[DEAD_ACTIVATION_SHARE]
    )
    fields[PARAMETER_ID] = _read_parameter_id(raw.get(TRIAL), problems)
    names = _read_names(raw.get(LAYERS), len(grad) if grad is not None else 0)
    record = EpochRecord(grad=grad, zero_share=zero_share, dead_share=dead_share, layer_names=names, **fields)
    return record, problems


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _as_float(value: Any) -> float:
    """``float(value)``, with an integer too large for a float read as +-inf (a non-finite value)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _out_of_range(value: float, bounds: tuple[float, float]) -> bool:
    """Finite and outside ``bounds`` (a non-finite value is AGV's finding, not malformed input)."""
    return math.isfinite(value) and not bounds[0] <= value <= bounds[1]


def _read_number(
    raw: Mapping, key: str, problems: list[str], bounds: tuple[float, float] | None = None
) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if not _is_number(value):
        problems.append(f"{key} is {_describe(value)}, not a number")
        return None
    number = _as_float(value)
    if bounds is not None and _out_of_range(number, bounds):
        problems.append(f"{key} is {_describe(value)}, outside [{bounds[0]:g}, {bounds[1]:g}]")
        return None
    return number


def _read_count(raw: Mapping, key: str, problems: list[str], minimum: int = 0) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if _is_number(value) and minimum <= value <= MAX_COUNT and float(value).is_integer():
        return int(value)
    problems.append(f"{key} is {_describe(value)}, not a whole number >= {minimum}")
    return None


def _read_flag(raw: Mapping, key: str, problems: list[str]) -> bool:
    value = raw.get(key)
    if value is None:
        return False
    if isinstance(value, (bool, np.bool_)) or (_is_number(value) and value in (0, 1)):
        return bool(value)
    problems.append(f"{key} is {_describe(value)}, not 0/1")
    return False


def _read_group(raw: Mapping, group: str, keys: Sequence[str], problems: list[str]) -> dict[str, np.ndarray]:
    section = raw.get(group)
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        problems.append(f"{group} is {_describe(section)}, not a dict")
        return {}
    arrays = {}
    for key in keys:
        array = _read_number_list(section.get(key), f"{group}.{key}", problems)
        if array is not None:
            arrays[key] = array
    return arrays


def _read_number_list(value: Any, label: str, problems: list[str]) -> np.ndarray | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple, np.ndarray)):
        problems.append(f"{label} is {_describe(value)}, not a list")
        return None
    if len(value) > MAX_LAYERS:
        problems.append(f"{label} has {len(value)} entries, more than {MAX_LAYERS}")
        return None
    if not all(_is_number(item) for item in value):
        problems.append(f"{label} holds values that are not numbers")
        return None
    array = np.asarray([_as_float(item) for item in value], dtype=np.float64)
    low, high = _LIST_RANGES[label.rsplit(".", 1)[-1]]
    finite = array[np.isfinite(array)]
    if finite.size and (finite.min() < low or finite.max() > high):
        problems.append(f"{label} holds values outside [{low:g}, {high:g}]")
        return None
    return array


def _read_parameter_id(section: Any, problems: list[str]) -> int | None:
    if section is None:
        return None
    if not isinstance(section, Mapping):
        problems.append(f"{TRIAL} is {_describe(section)}, not a dict")
        return None
    return _read_count(section, PARAMETER_ID, problems)


def _read_names(section: Any, count: int) -> tuple[str, ...]:
    names = section.get(NAMES) if isinstance(section, Mapping) else None
    if isinstance(names, (list, tuple)) and len(names) == count and all(isinstance(n, str) for n in names):
        return tuple(names)
    return ()


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
