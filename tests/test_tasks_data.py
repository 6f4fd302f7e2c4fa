"""CIFAR-10 and Exchange-Rate loading: formats, splits, scaling, augmentation, windows and clear errors.

Uses the real files in ../shared/data; tests that need them are skipped when that folder is absent.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bttackler_paper import cifar10, exchange_rate
from bttackler_paper.errors import DatasetUnavailableError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"the real datasets are expected in {SHARED_DATA}, which is absent"
)
CIFAR_NPZ = SHARED_DATA / "cifar10_subset.npz"
EXCHANGE_CSV = SHARED_DATA / "exchange_rate.csv"


def _numbered_images(count: int, offset: int = 0) -> np.ndarray:
    """uint8 ``(count, 3, 32, 32)`` images whose first pixel is their number, the rest random."""
    images = np.random.default_rng(offset).integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(offset, offset + count)
    return images


def _write_batches_folder(folder: Path, per_batch: int = 4) -> np.ndarray:
    """A fake ``cifar-10-batches-py`` in the official format; returns all images, training ones first."""
    folder.mkdir(parents=True)
    images = _numbered_images(6 * per_batch)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        part = images[i * per_batch : (i + 1) * per_batch]
        batch = {
            b"batch_label": name.encode(),
            b"labels": [(i + j) % 10 for j in range(per_batch)],
            b"data": part.reshape(per_batch, 3072),  # official row layout: 1024 red, 1024 green, 1024 blue
            b"filenames": [f"{name}_{j}.png".encode() for j in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return images


def test_official_batches_folder_is_read_in_channel_first_layout(tmp_path):
    images = _write_batches_folder(tmp_path / "cifar-10-batches-py")
    for path in (tmp_path / "cifar-10-batches-py", tmp_path):  # the folder itself or its parent
        arrays = cifar10.read_cifar10(path)
        np.testing.assert_array_equal(arrays.x_train, images[:20])
        np.testing.assert_array_equal(arrays.x_test, images[20:])
        assert arrays.y_train.dtype == np.int64 and arrays.y_train[:5].tolist() == [0, 1, 2, 3, 1]


def test_split_is_80_20_disjoint_and_fixed_by_the_seed(tmp_path):
    images = _numbered_images(50)
    nhwc = images.transpose(0, 2, 3, 1)
    np.savez(
        tmp_path / "c.npz",
        x_train=nhwc,
        y_train=np.arange(50) % 10,
        x_test=nhwc[:7],
        y_test=np.zeros(7, np.uint8),
    )
    data = cifar10.load_cifar10(tmp_path / "c.npz", seed=3)
    train_ids, val_ids = (set(split.images[:, 0, 0, 0].tolist()) for split in (data.train, data.val))
    assert (len(train_ids), len(val_ids), len(data.test)) == (40, 10, 7)
    assert train_ids | val_ids == set(range(50)) and not train_ids & val_ids
    assert torch.equal(cifar10.load_cifar10(tmp_path / "c.npz", seed=3).val.images, data.val.images)
    assert not torch.equal(cifar10.load_cifar10(tmp_path / "c.npz", seed=4).val.images, data.val.images)
    half = cifar10.load_cifar10(tmp_path / "c.npz", seed=3, fraction=0.5)
    assert (len(half.train), len(half.val), len(half.test)) == (20, 5, 4)
    with pytest.raises(ValueError, match="keeps 1 training image"):
        cifar10.load_cifar10(tmp_path / "c.npz", fraction=0.02)


@needs_shared_data
def test_real_subset_npz_gives_12k_train_3k_val_1k_test_and_normalised_batches():
    data = cifar10.load_cifar10(CIFAR_NPZ)
    assert (len(data.train), len(data.val), len(data.test)) == (12_000, 3_000, 1_000)
    assert data.train.images.dtype == torch.uint8 and data.train.images.shape[1:] == (3, 32, 32)
    assert torch.bincount(data.train.labels, minlength=10).min() > 1_000  # class-balanced subset
    images, labels = next(data.train.batches(2_000))
    assert images.dtype == torch.float32 and labels.shape == (2_000,)
    channel_means = images.mean(dim=(0, 2, 3))
    channel_stds = images.std(dim=(0, 2, 3))
    assert channel_means.abs().max() < 0.1 and (channel_stds - 1).abs().max() < 0.1
    small = cifar10.load_cifar10(CIFAR_NPZ, fraction=0.1)
    assert (len(small.train), len(small.val), len(small.test)) == (1_200, 300, 100)


def test_training_batches_are_shuffled_and_cover_every_image_once(tmp_path):
    split = cifar10.ImageSplit(torch.from_numpy(_numbered_images(23)), torch.arange(23) % 10)
    batches = list(split.batches(5, generator=torch.Generator().manual_seed(0)))
    assert [len(labels) for _, labels in batches] == [5, 5, 5, 5, 3]
    in_order = torch.cat([labels for _, labels in split.batches(5)])
    shuffled = torch.cat([labels for _, labels in batches])
    assert torch.equal(in_order, split.labels) and not torch.equal(shuffled, in_order)
    assert sorted(shuffled.tolist()) == sorted(in_order.tolist())


def test_augmentation_is_a_crop_of_the_4_pixel_padded_image_possibly_mirrored():
    images = torch.rand(6, 3, 32, 32)
    augmented = cifar10.random_crop_and_flip(images, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    crops_seen = set()
    for original, result in zip(padded, augmented, strict=True):
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if torch.equal(
                result, (lambda c: c.flip(2) if flip else c)(original[:, dy : dy + 32, dx : dx + 32])
            )
        ]
        assert matches, "an augmented image is not a crop of the padded original"
        crops_seen.add(matches[0])
    assert len(crops_seen) > 1


def test_sequence_view_is_96_rows_red_then_green_then_blue():
    images = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    sequences = cifar10.as_sequence(images)
    assert sequences.shape == (2, 96, 32)
    for step in (0, 31, 32, 63, 64, 95):
        assert torch.equal(sequences[1, step], images[1, step // 32, step % 32])
    split = cifar10.ImageSplit(images.to(torch.uint8), torch.zeros(2, dtype=torch.int64))
    assert next(split.batches(2, sequence=True))[0].shape == (2, 96, 32)


def _missing(tmp: Path) -> Path:
    return tmp / "missing"


def _not_configured(tmp: Path) -> None:
    return None


def _tarball(tmp: Path) -> Path:
    (tmp / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08 a gzip header, not an npz")
    return tmp / "cifar-10-python.tar.gz"


def _npz_without_test_images(tmp: Path) -> Path:
    np.savez(tmp / "c.npz", x_train=np.zeros((2, 32, 32, 3), np.uint8), y_train=np.zeros(2, np.uint8))
    return tmp / "c.npz"


def _folder_without_test_batch(tmp: Path) -> Path:
    _write_batches_folder(tmp / "cifar-10-batches-py")
    (tmp / "cifar-10-batches-py" / "test_batch").unlink()
    return tmp / "cifar-10-batches-py"


@pytest.mark.parametrize(
    "make, problem",
    [
        (_missing, "no such file or directory"),
        (_not_configured, "no path was given"),
        (_tarball, "not an .npz"),
        (_npz_without_test_images, "x_test"),
        (_folder_without_test_batch, "lacks test_batch"),
    ],
)
def test_unusable_cifar_path_raises_one_clear_error(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(DatasetUnavailableError) as raised:
        cifar10.load_cifar10(path)
    message = str(raised.value)
    assert problem in message and "BTTACKLER_CIFAR10" in message and "--data" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message and "cifar-10-python.tar.gz" in message
    if path is not None:
        assert str(path) in message and raised.value.path == path


def test_a_batch_file_that_would_run_code_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_batches_folder(folder)
    marker = tmp_path / "ran"
    (folder / "data_batch_3").write_bytes(
        b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."  # pickle protocol 0: os.system(...)
    )
    with pytest.raises(DatasetUnavailableError, match="unexpected object os.system"):
        cifar10.read_cifar10(folder)
    assert not marker.exists()


@needs_shared_data
def test_exchange_rate_follows_autoformer_split_and_window_counts():
    data = exchange_rate.load_exchange_rate(EXCHANGE_CSV)
    assert data.columns == ("0", "1", "2", "3", "4", "5", "6", "OT")
    assert [len(s.series) for s in (data.train, data.val, data.test)] == [5_311, 760 + 96, 1_517 + 96]
    assert [len(s) for s in (data.train, data.val, data.test)] == [5_120, 665, 1_422]
    assert torch.equal(data.val.series[:96], data.train.series[-96:])  # val starts seq_len rows earlier
    assert torch.equal(data.test.series[-1], exchange_rate.load_exchange_rate(EXCHANGE_CSV).test.series[-1])
    inputs, targets = data.train.windows(torch.tensor([0, 7]))
    assert inputs.shape == (2, 96, 8) and targets.shape == (2, 96, 8)
    assert torch.equal(inputs[1], data.train.series[7:103]) and torch.equal(
        targets[1], data.train.series[103:199]
    )


@needs_shared_data
def test_exchange_rate_scaler_is_fit_on_the_training_rows_only():
    columns, values = exchange_rate.read_exchange_rate(EXCHANGE_CSV)
    data = exchange_rate.load_exchange_rate(EXCHANGE_CSV)
    np.testing.assert_allclose(data.scaler.mean, values[:5_311].mean(axis=0))
    np.testing.assert_allclose(data.scaler.std, values[:5_311].std(axis=0))
    assert not np.allclose(data.scaler.mean, values.mean(axis=0))
    torch.testing.assert_close(data.train.series.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.train.series.std(0), torch.ones(8), atol=1e-3, rtol=0)
    assert data.test.series.mean(0).abs().max() > 0.1  # later rows are not re-centred
    np.testing.assert_allclose(
        data.scaler.inverse_transform(data.train.series.numpy()), values[:5_311], rtol=1e-5
    )


@needs_shared_data
def test_exchange_rate_fraction_keeps_evenly_spaced_windows_of_each_split():
    data = exchange_rate.load_exchange_rate(EXCHANGE_CSV, fraction=0.05)
    assert [len(s) for s in (data.train, data.val, data.test)] == [256, 33, 71]
    assert data.train.starts[0] == 0 and data.train.starts[-1] == 5_119
    assert len(data.train.series) == 5_311
    batches = list(data.train.batches(100, generator=torch.Generator().manual_seed(0)))
    assert [len(x) for x, _ in batches] == [100, 100, 56]


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "no such file"),
        ("date,0,1\n2020/1/1,1.0,oops\n", "cannot read it as a CSV of numbers"),
        ("day,0,1\n2020/1/1,1.0,2.0\n", "header must start with 'date'"),
        ("date,0,1\n" + "2020/1/1,1.0,2.0\n" * 50, "too few for a train window"),
    ],
)
def test_unusable_exchange_rate_file_raises_one_clear_error(tmp_path, content, problem):
    path = tmp_path / "exchange_rate.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatasetUnavailableError) as raised:
        exchange_rate.load_exchange_rate(path)
    message = str(raised.value)
    assert problem in message and str(path) in message and "BTTACKLER_EXCHANGE_RATE" in message
    assert "Autoformer" in message and "LSTNet" in message


@pytest.mark.parametrize("fraction", [0, 1.5, -0.1])
def test_a_fraction_outside_0_1_is_refused(fraction):  # checked before the file is read
    with pytest.raises(ValueError, match="fraction must be in"):
        exchange_rate.load_exchange_rate(EXCHANGE_CSV, fraction=fraction)
