"""Exchange-Rate for the forecasting task: reading, Autoformer's 70/10/20 split, scaling, windows.

The file is the standard ``exchange_rate.csv`` (header ``date,0,1,2,3,4,5,6,OT``; one row per day;
8 currencies). As in the Autoformer family's ``Dataset_Custom``:

- rows are split in time order: the first ``int(0.7 * rows)`` for training, the last
  ``int(0.2 * rows)`` for test, the rest for validation; validation and test start ``seq_len`` rows
  earlier so that their first window is complete (7,588 rows: 5,311 / 760 / 1,517 rows, giving
  5,120 / 665 / 1,422 windows);
- every variable is standardised with the mean and std of the training rows only;
- a window is ``seq_len`` input rows followed by the next ``pred_len`` rows to forecast. The
  decoder's known part (``label_len`` rows) is the end of the input, so the model takes it from
  there and windows do not repeat it.

No calendar features are produced: the forecaster sees values only. Nothing is downloaded.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bttackler_paper.errors import DatasetUnavailableError
from bttackler_paper.params import fraction_size

ENV_VAR = "BTTACKLER_EXCHANGE_RATE"
"""Environment variable the trial script reads the CSV path from when ``--data`` is not given."""

SEQ_LEN = 96
PRED_LEN = 96
TRAIN_SHARE = 0.7
TEST_SHARE = 0.2

_SOURCE = (
    "the exchange_rate.csv of the Autoformer repository (https://github.com/thuml/Autoformer, "
    "'dataset' download) or the LSTNet data (https://github.com/laiguokun/multivariate-time-series-data)"
)


@dataclass(frozen=True)
class Scaler:
    """Per-variable standardisation ``(x - mean) / std``; a constant variable gets std 1."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


@dataclass(frozen=True)
class WindowSplit:
    """The scaled rows of one split and the first row of each of its windows.

    Attributes:
        series: float32 ``(rows, variables)``, scaled.
        starts: int64 ``(windows,)``; window ``i`` covers ``seq_len + pred_len`` rows from ``starts[i]``.
        seq_len, pred_len: input and forecast lengths.
    """

    series: torch.Tensor
    starts: torch.Tensor
    seq_len: int
    pred_len: int

    def __len__(self) -> int:
        return len(self.starts)

    def to(self, device: torch.device | str) -> WindowSplit:
        return WindowSplit(self.series.to(device), self.starts.to(device), self.seq_len, self.pred_len)

    def windows(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows ``index`` as ``(inputs (B, seq_len, variables), targets (B, pred_len, variables))``."""
        rows = self.starts[index, None] + torch.arange(
            self.seq_len + self.pred_len, device=self.starts.device
        )
        window = self.series[rows]
        return window[:, : self.seq_len], window[:, self.seq_len :]

    def batches(
        self, batch_size: int, *, generator: torch.Generator | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(inputs, targets)`` batches, shuffled with the CPU ``generator`` or in time order."""
        order = (
            torch.randperm(len(self), generator=generator)
            if generator is not None
            else torch.arange(len(self))
        )
        for index in order.split(batch_size):
            yield self.windows(index.to(self.starts.device))


@dataclass(frozen=True)
class ExchangeRate:
    """Train, validation and test windows, the scaler fit on the training rows, and the column names."""

    train: WindowSplit
    val: WindowSplit
    test: WindowSplit
    scaler: Scaler
    columns: tuple[str, ...]

    def to(self, device: torch.device | str) -> ExchangeRate:
        return ExchangeRate(
            self.train.to(device), self.val.to(device), self.test.to(device), self.scaler, self.columns
        )


def load_exchange_rate(
    path: str | os.PathLike[str] | None,
    *,
    seq_len: int = SEQ_LEN,
    pred_len: int = PRED_LEN,
    fraction: float = 1.0,
) -> ExchangeRate:
    """Read the CSV, split it, fit the scaler on the training rows and cut the windows.

    Args:
        path: the CSV; ``None`` (no path configured) is reported like a missing file.
        seq_len, pred_len: input and forecast lengths.
        fraction: keep only this share of each split's windows, evenly spaced over the split (for
            cheap runs); the rows, the split and the scaler do not change.

    Raises:
        DatasetUnavailableError: the file is missing, unreadable, or too short for one window per split.
        ValueError: ``fraction`` out of range.
    """
    fraction_size(1, fraction)  # validate before reading
    columns, values = read_exchange_rate(path)
    rows = len(values)
    n_train, n_test = int(rows * TRAIN_SHARE), int(rows * TEST_SHARE)
    bounds = {
        "train": (0, n_train),
        "val": (n_train - seq_len, rows - n_test),
        "test": (rows - n_test - seq_len, rows),
    }
    scaler = Scaler.fit(values[:n_train])
    series = torch.from_numpy(scaler.transform(values)).float()
    splits = {}
    for name, (first, end) in bounds.items():
        windows = end - first - seq_len - pred_len + 1
        if first < 0 or windows < 1:
            raise _unavailable(
                path, f"{rows} rows are too few for a {name} window of {seq_len} + {pred_len} rows"
            )
        keep = np.unique(
            np.linspace(0, windows - 1, fraction_size(windows, fraction)).round().astype(np.int64)
        )
        splits[name] = WindowSplit(series[first:end], torch.from_numpy(keep), seq_len, pred_len)
    return ExchangeRate(**splits, scaler=scaler, columns=columns)


def read_exchange_rate(path: str | os.PathLike[str] | None) -> tuple[tuple[str, ...], np.ndarray]:
    """The value columns' names and the values, float64 ``(rows, variables)``; the date column is dropped.

    Raises:
        DatasetUnavailableError: naming the path, what is wrong, what to set and where to get the file.
    """
    if path is None:
        raise _unavailable(None, "no path was given")
    path = Path(path).expanduser()
    if not path.is_file():
        raise _unavailable(path, "no such file")
    try:
        with path.open(newline="") as stream:
            reader = csv.reader(stream)
            header = next(reader)
            if len(header) < 2 or header[0] != "date":
                raise ValueError(f"the header must start with 'date' and name the series, got {header[:3]}")
            values = np.array([row[1:] for row in reader if row], dtype=np.float64)
    except (OSError, ValueError, StopIteration, UnicodeDecodeError, csv.Error) as error:
        raise _unavailable(
            path, f"cannot read it as a CSV of numbers ({type(error).__name__}: {error})"
        ) from error
    if values.ndim != 2 or values.shape[1] != len(header) - 1 or not np.isfinite(values).all():
        raise _unavailable(path, "every row needs one finite number per series after its date")
    return tuple(header[1:]), values


def _unavailable(path: str | os.PathLike[str] | None, problem: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        "Exchange-Rate",
        path,
        problem,
        expected="the exchange_rate.csv file (header date,0,1,2,3,4,5,6,OT)",
        setting=f"--data or the {ENV_VAR} environment variable",
        source=_SOURCE,
    )
