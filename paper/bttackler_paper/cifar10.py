"""CIFAR-10 for the two image tasks: reading, train/val split, normalisation, augmentation, batches.

Two formats are read from a local path (nothing is downloaded):

- the official python version: the ``cifar-10-batches-py`` folder (``data_batch_1`` .. ``data_batch_5``,
  ``test_batch``) or the folder that contains it;
- an ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (images uint8 ``(N, 32, 32, 3)``),
  like ``shared/data/cifar10_subset.npz``.

The training images are split 80/20 into train and validation (40k/10k on full CIFAR-10), at
random but fixed by a seed; the test images are kept apart. Batches are normalised with the
well-known CIFAR-10 training mean and std; training batches can be augmented (random 32 px crop of
the image padded by 4 black pixels, random horizontal flip), in plain torch on whole batches.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from bttackler_paper.errors import DatasetUnavailableError
from bttackler_paper.params import fraction_size

ENV_VAR = "BTTACKLER_CIFAR10"
"""Environment variable the trial scripts read the data path from when ``--data`` is not given."""

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
"""Per-channel mean and std of the 50,000 CIFAR-10 training images (pixel values scaled to [0, 1])."""

CROP_PADDING = 4
SEQUENCE_SHAPE = (96, 32)
"""An image as a sequence: 96 time steps (3 colour planes x 32 rows) of 32 values (one row)."""

_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html (cifar-10-python.tar.gz, then extract it)"
_EXPECTED = "a 'cifar-10-batches-py' folder (or its parent) or an .npz with x_train, y_train, x_test, y_test"
_BATCH_FOLDER = "cifar-10-batches-py"
_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_FILE = "test_batch"
_IMAGE_SHAPE = (3, 32, 32)


class Cifar10Arrays(NamedTuple):
    """The dataset as read: images uint8 ``(N, 3, 32, 32)`` (channels first), labels int64 ``(N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class ImageSplit:
    """Images (uint8 ``(N, 3, 32, 32)``) and labels (int64 ``(N,)``) of one split, on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> ImageSplit:
        return ImageSplit(self.images.to(device), self.labels.to(device))

    def batches(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        augment: bool = False,
        sequence: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(inputs, labels)``: normalised float images ``(B, 3, 32, 32)``, or ``(B, 96, 32)``
        sequences with ``sequence=True`` (see :func:`as_sequence`).

        Args:
            batch_size: images per batch (the last batch may be smaller).
            generator: shuffle with this CPU generator (and draw the augmentation from it); in order
                when ``None``.
            augment: random crop with padding and horizontal flip (for training batches).
            sequence: view each image as a sequence, for the LSTM task.
        """
        order = (
            torch.randperm(len(self), generator=generator)
            if generator is not None
            else torch.arange(len(self))
        )
        for index in order.split(batch_size):
            index = index.to(self.labels.device)
            images = self.images[index].float() / 255
            if augment:
                images = random_crop_and_flip(images, generator)
            images = normalize(images)
            yield (as_sequence(images) if sequence else images), self.labels[index]


@dataclass(frozen=True)
class Cifar10:
    """Train, validation and test splits (see :func:`load_cifar10`)."""

    train: ImageSplit
    val: ImageSplit
    test: ImageSplit

    def to(self, device: torch.device | str) -> Cifar10:
        return Cifar10(self.train.to(device), self.val.to(device), self.test.to(device))


def load_cifar10(
    path: str | os.PathLike[str] | None, *, fraction: float = 1.0, val_share: float = 0.2, seed: int = 0
) -> Cifar10:
    """Read CIFAR-10 from ``path`` and split its training images into train and validation.

    Args:
        path: see the module docstring; ``None`` (no path configured) is reported like a missing one.
        fraction: use only this share of the training images (drawn at random before the split) and
            the first share of the test images, for cheap runs.
        val_share: share of the (kept) training images held out for validation.
        seed: fixes which images are kept and which go to validation.

    Raises:
        DatasetUnavailableError: the path is missing or does not hold readable CIFAR-10 data.
        ValueError: ``fraction`` or ``val_share`` out of range, or too few images kept to split.
    """
    if not 0 < val_share < 1:
        raise ValueError(f"val_share must be in (0, 1), got {val_share!r}")
    arrays = read_cifar10(path)
    keep = np.random.default_rng(seed).permutation(len(arrays.y_train))
    keep = keep[: fraction_size(len(keep), fraction)]
    cut = len(keep) - max(1, round(len(keep) * val_share))
    if cut < 1:
        raise ValueError(f"fraction={fraction} keeps {len(keep)} training image(s), too few to split")
    test = slice(0, fraction_size(len(arrays.y_test), fraction))
    return Cifar10(
        train=_split(arrays.x_train[keep[:cut]], arrays.y_train[keep[:cut]]),
        val=_split(arrays.x_train[keep[cut:]], arrays.y_train[keep[cut:]]),
        test=_split(arrays.x_test[test], arrays.y_test[test]),
    )


def read_cifar10(path: str | os.PathLike[str] | None) -> Cifar10Arrays:
    """Read all of CIFAR-10 at ``path`` (a batches folder, its parent, or an .npz), unsplit.

    Raises:
        DatasetUnavailableError: naming the path, what is wrong, what to set and where to get the data.
    """
    if path is None:
        raise _unavailable(None, "no path was given")
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            return _read_batches(path / _BATCH_FOLDER if (path / _BATCH_FOLDER).is_dir() else path)
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise _unavailable(path, "the file is not an .npz archive (extract a .tar.gz first)")
            return _read_npz(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as error:
        raise _unavailable(path, f"cannot read it ({type(error).__name__}: {error})") from error
    raise _unavailable(path, "no such file or directory")


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Standardise float images in [0, 1], ``(B, 3, H, W)``, per channel with :data:`MEAN` and :data:`STD`."""
    mean = images.new_tensor(MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(STD).view(1, 3, 1, 1)
    return (images - mean) / std


def random_crop_and_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per image: pad by :data:`CROP_PADDING` zeros, crop back to the original size at a random offset,
    and mirror left-right with probability 1/2. ``images`` is ``(B, C, H, W)`` on any device; the random
    draws come from the CPU ``generator``."""
    batch, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (CROP_PADDING,) * 4)
    offsets = torch.randint(0, 2 * CROP_PADDING + 1, (2, batch, 1), generator=generator).to(device)
    flip = (torch.rand(batch, 1, generator=generator) < 0.5).to(device)
    rows = offsets[0] + torch.arange(height, device=device)  # (B, H): source row of each output row
    cols = offsets[1] + torch.arange(width, device=device)  # (B, W)
    cols = torch.where(flip, cols.flip(1), cols)  # a flip reads the crop's columns right to left
    return padded[
        torch.arange(batch, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def as_sequence(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 32, 32)`` -> ``(B, 96, 32)``: the image as 96 time steps of one 32-value row each.

    Steps 0-31 are the rows of the red plane top to bottom, 32-63 those of green, 64-95 those of blue,
    as the paper's Cifar10LSTM reads an image ("a sequence of 96 rows of 32 values").
    """
    return images.reshape(len(images), *SEQUENCE_SHAPE)


def _split(images: np.ndarray, labels: np.ndarray) -> ImageSplit:
    return ImageSplit(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))


def _read_batches(folder: Path) -> Cifar10Arrays:
    missing = [name for name in (*_TRAIN_FILES, _TEST_FILE) if not (folder / name).is_file()]
    if missing:
        raise _unavailable(folder, f"the folder lacks {', '.join(missing)}")
    train = [_read_batch(folder / name) for name in _TRAIN_FILES]
    x_test, y_test = _read_batch(folder / _TEST_FILE)
    return Cifar10Arrays(
        np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test
    )


def _read_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """One official batch: a pickled dict with ``b"data"`` uint8 ``(N, 3072)`` and ``b"labels"``."""
    with file.open("rb") as stream:
        batch = _BatchUnpickler(stream, encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{file.name} is not a CIFAR-10 batch (a dict with b'data' and b'labels')")
    data = np.asarray(batch[b"data"])
    return _checked(file.name, data.reshape(len(data), *_IMAGE_SHAPE), np.asarray(batch[b"labels"]))


def _read_npz(file: Path) -> Cifar10Arrays:
    with np.load(file, allow_pickle=False) as arrays:
        x_train, y_train, x_test, y_test = (arrays[key] for key in Cifar10Arrays._fields)
    return Cifar10Arrays(
        *_checked("x_train", x_train.transpose(0, 3, 1, 2), y_train),
        *_checked("x_test", x_test.transpose(0, 3, 1, 2), y_test),
    )


def _checked(name: str, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check dtype, shape and label range; return the labels as int64."""
    if images.dtype != np.uint8 or images.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(f"{name} must hold uint8 32x32 RGB images, got {images.dtype} {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} needs one integer label per image, got {labels.dtype} {labels.shape}")
    if len(labels) and not 0 <= labels.min() <= labels.max() <= 9:
        raise ValueError(f"{name} labels must be in 0..9")
    return images, labels.astype(np.int64)


def _unavailable(path: str | os.PathLike[str] | None, problem: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        "CIFAR-10",
        path,
        problem,
        expected=_EXPECTED,
        setting=f"--data or the {ENV_VAR} environment variable",
        source=_SOURCE,
    )


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds (numpy arrays, bytes), so a bad file cannot run code."""

    _ALLOWED = {
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        *(
            (module, name)
            for module in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name in ("_reconstruct", "scalar")
        ),
        *((module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")),
    }

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR-10 batch")
        return super().find_class(module, name)
