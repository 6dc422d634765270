"""CIFAR-10 in both of its published formats, read without ever running code from a file.

Binary format (`cifar-10-batches-bin/data_batch_N.bin`, `test_batch.bin`): records of
1 label byte followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each 32x32 row-major).

Python format (`cifar-10-batches-py/data_batch_N`, `test_batch`): a pickled dict with
`data` (uint8 array N x 3072, same pixel layout) and `labels` (list of N ints). Pickle can run
arbitrary code, so these files are opened with `layerwise.data.safe_pickle`, which admits only
the numpy callables needed to rebuild an ndarray; every other global is refused before it is
loaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from layerwise.data.idx import read_bytes
from layerwise.data.safe_pickle import load_arrays_pickle
from layerwise.errors import DataError

RECORD = 1 + 3 * 32 * 32
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")

def _to_images(pixels: np.ndarray, source: str) -> np.ndarray:
    if pixels.ndim != 2 or pixels.shape[1] != 3072 or pixels.dtype != np.uint8:
        raise DataError(f"{source} holds pixels of shape {pixels.shape} and dtype {pixels.dtype}; "
                        "CIFAR-10 batches hold uint8 rows of 3072 values.")
    return pixels.reshape(-1, 3, 32, 32)  # (N, C, H, W)


def _check_labels(labels: np.ndarray, n: int, source: str) -> np.ndarray:
    if labels.shape != (n,):
        raise DataError(f"{source} has {labels.shape[0]} labels for {n} images.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{source} has labels outside 0-9; it is not a CIFAR-10 batch.")
    return labels.astype(np.int64)


def read_cifar_binary(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a binary CIFAR-10 batch: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    data = read_bytes(path)
    if len(data) == 0 or len(data) % RECORD:
        raise DataError(f"{path} is {len(data)} bytes, not a whole number of {RECORD}-byte "
                        "CIFAR-10 records; the file is truncated or not a CIFAR-10 batch.")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    images = _to_images(records[:, 1:].copy(), str(path))
    return images, _check_labels(records[:, 0].astype(np.int64), len(images), str(path))


def read_cifar_python(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a python-format CIFAR-10 batch with the restricted unpickler (never runs code)."""
    return parse_cifar_python(read_bytes(path), str(path))


def parse_cifar_python(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode python-format batch bytes: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    batch = load_arrays_pickle(data, source, "CIFAR-10 python batch")
    if not isinstance(batch, dict):
        raise DataError(f"{source} does not hold a CIFAR-10 batch dictionary.")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{source} lacks the 'data' and 'labels' entries of a CIFAR-10 batch.")
    images = _to_images(np.asarray(batch["data"]), source)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    return images, _check_labels(labels, len(images), source)


def write_cifar_binary(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (N, 3, 32, 32) uint8 and labels as a binary CIFAR-10 batch (for tests/tools)."""
    from layerwise.data.files import atomic_write_bytes

    rec = np.empty((len(images), RECORD), dtype=np.uint8)
    rec[:, 0] = labels
    rec[:, 1:] = images.reshape(len(images), -1)
    atomic_write_bytes(path, rec.tobytes())


def write_cifar_python(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write a python-format CIFAR-10 batch the way the published files are laid out."""
    from layerwise.data.files import atomic_write_bytes

    batch = {
        "batch_label": "training batch 1 of 5",
        "labels": [int(v) for v in labels],
        "data": np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8),
        "filenames": [f"image_{i}.png" for i in range(len(images))],
    }
    atomic_write_bytes(path, pickle.dumps(batch, protocol=2))
