"""Datasets as tensors: load by name, split train/validation/test, batch by `randperm` slices.

Everything here fits in memory, so a dataset lives as whole tensors on the chosen device and a
mini-batch is an index slice of a permutation drawn from an explicit `torch.Generator`: no
DataLoader, no workers, no host-to-device copy per step.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from layerwise.data import synthetic
from layerwise.data.catalog import CATALOG
from layerwise.data.resolve import catalog_name, get_spec, locate, read_location
from layerwise.errors import ConfigError, ConfigTypeError, DataError
from layerwise.progress import stream
from layerwise.wording import plural

COURSE_VALIDATION = 5000  # the course's MNIST split: 55,000 train / 5,000 validation / 10,000 test


@dataclass(frozen=True)
class Split:
    """Inputs `x` (N, ...) float32 and targets `y`: (N,) int64 labels or (N, 1) float32 values."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self):
        assert len(self.x) == len(self.y), (self.x.shape, self.y.shape)

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))

    def batches(self, batch_size: int, lo: int = 0, hi: int | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x, y) slices of examples lo..hi in order, `batch_size` at a time."""
        hi = len(self) if hi is None else hi
        for start in range(lo, hi, batch_size):
            yield self.x[start:min(start + batch_size, hi)], self.y[start:min(start + batch_size,
                                                                              hi)]


@dataclass(frozen=True)
class StreamedSplit:
    """Examples too big to hold on the device: read from `loader` (a DataLoader of (x, y)
    batches) one batch at a time, each converted by `convert(x, y)` and moved to `device`.

    `x` and `y` are the first example only, (1, ...), for shapes and the device; the `n`
    examples are in the loader, which decides their order and batch size."""

    loader: object
    n: int
    x: torch.Tensor  # (1, ...) the first example, on the device
    y: torch.Tensor  # (1,) or (1, k)
    convert: object  # (x, y) from the loader -> float32 inputs and targets on `x.device`

    def __len__(self) -> int:
        return self.n

    def to(self, device: torch.device | str) -> StreamedSplit:
        return StreamedSplit(self.loader, self.n, self.x.to(device), self.y.to(device),
                             self.convert)

    def batches(self, batch_size: int = 0, lo: int = 0, hi: int | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The loader's batches, converted and on the device (the batch size is the
        loader's; a streamed split is evaluated whole, in one process)."""
        for x, y in self.loader:
            yield self.convert(x, y)


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset. `task` is "classification", "regression" or "unsupervised"."""

    name: str
    task: str
    train: Split | StreamedSplit
    val: Split | StreamedSplit | None
    test: Split | StreamedSplit
    classes: tuple[str, ...] = ()
    source: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> Dataset:
        val = self.val.to(device) if self.val is not None else None
        return Dataset(self.name, self.task, self.train.to(device), val, self.test.to(device),
                       self.classes, self.source)


def parse_dataset_name(text: str) -> tuple[str, dict[str, str]]:
    """Split `name:key=value,key=value` into the name (the catalog's spelling where it names
    an entry in another case: "MNIST" is mnist) and its options."""
    name, _, rest = text.partition(":")
    name = catalog_name(name)
    options = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"dataset option {item!r} in {text!r} is not of the form key=value.")
        options[key.strip()] = value.strip()
    return name, options


def split_validation(train: Split, val_size: int, generator: torch.Generator,
                     first: bool = False) -> tuple[Split, Split | None]:
    """Hold out `val_size` examples of `train`: the first ones with `first` (how TensorFlow's
    read_data_sets split MNIST for the course), else chosen by a permutation from `generator`."""
    if val_size <= 0:
        return train, None
    if val_size >= len(train):
        raise ConfigError(f"a validation set of {val_size} leaves nothing of the "
                          f"{len(train)} training examples.")
    if first:
        return (Split(train.x[val_size:], train.y[val_size:]),
                Split(train.x[:val_size], train.y[:val_size]))
    perm = torch.randperm(len(train), generator=generator)
    keep, held = perm[val_size:].sort().values, perm[:val_size].sort().values
    return Split(train.x[keep], train.y[keep]), Split(train.x[held], train.y[held])


def default_val_size(n_train: int, val_fraction: float) -> int:
    """5,000 for MNIST-sized training files (the course's split), else `val_fraction` of them."""
    return COURSE_VALIDATION if n_train == 60000 else int(round(n_train * val_fraction))


def _images(x: np.ndarray, source: str) -> torch.Tensor:
    """Images (N, H, W) or (N, C, H, W) of `source` as float32 (N, C, H, W) in [0, 1]: integer
    pixels divided by their type's largest value (uint8 255, int16 32,767...), float pixels as
    they are; negative integers, and floats outside [0, 1] or not finite, are refused in one
    sentence (training on them would give a loss that blames the learning rate)."""
    if x.dtype.kind in "iu":
        if x.dtype.kind == "i" and x.size and x.min() < 0:
            raise DataError(f"{source} holds negative {x.dtype} pixels (down to {x.min()}); "
                            "images take values from 0 up to their type's largest, so "
                            "rescale them, e.g. to uint8 0-255.")
        scale = float(np.iinfo(x.dtype).max)
    elif x.dtype.kind == "f":
        finite = np.isfinite(x).all()
        if not finite or x.size and (x.min() < 0 or x.max() > 1):
            what = "NaN or infinite values" if not finite else \
                f"values from {x.min():.4g} to {x.max():.4g}"
            raise DataError(f"{source} holds {x.dtype} pixels with {what}; float images take "
                            "values in [0, 1]: rescale them (or store uint8 0-255).")
        scale = 1.0
    else:
        raise DataError(f"{source} holds {x.dtype} values, not pixels.")
    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.dim() == 3:
        t = t.unsqueeze(1)
    return t.float().div_(scale) if scale != 1.0 else t.float()


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(y).astype(np.int64))


def _load_files(name: str, data_dir, offline: bool, progress: bool):
    loc = locate(name, data_dir=data_dir, offline=offline, progress=progress)
    arrays, _ = read_location(loc)
    train = Split(_images(arrays["train_x"], f"{loc.directory}: the training set"),
                  _labels(arrays["train_y"]))
    test = Split(_images(arrays["test_x"], f"{loc.directory}: the test set"),
                 _labels(arrays["test_y"]))
    classes = loc.spec.classes or tuple(
        str(c) for c in range(int(max(train.y.max(), test.y.max())) + 1))
    return train, test, classes, f"{loc.source}: {loc.directory}", loc.spec.first_validation


def _load_synthetic(name: str, options: dict[str, str], generator: torch.Generator):
    synthetic.parse_options(CATALOG[name].options, options, name)
    if name == "regression":
        x, y, xt, yt = synthetic.regression(options, generator)
    elif name == "lab4":
        x, y, xt, yt = synthetic.lab4()
    else:
        v, vt = synthetic.random_binary(options, generator)
        return Split(v, torch.zeros(len(v))), Split(vt, torch.zeros(len(vt)))
    return Split(x, y), Split(xt, yt)


def load_dataset(name: str, *, data_dir: str | Path | None = None, offline: bool = False,
                 val_size: int | None = None, val_fraction: float = 0.1, seed: int = 0,
                 device: torch.device | str = "cpu", progress: bool = True) -> Dataset:
    """Load dataset `name` (catalog name, `name:opt=val,...`, or a directory of IDX files).

    Validation: `val_size` examples held out of the training files, by default 5,000 for
    MNIST-format data with 60,000 training images (the course's 55,000/5,000/10,000) and
    `val_fraction` of them elsewhere. MNIST holds out its first training images, as the
    course's TensorFlow did; other datasets a random set fixed by `seed`.
    """
    if not isinstance(name, str):
        raise ConfigTypeError(f"the dataset must be named by a string (a catalog name, "
                              f"NAME:options or a directory), got {name!r} "
                              f"({type(name).__name__}).")
    if val_size is not None and (isinstance(val_size, bool) or not isinstance(
            val_size, numbers.Integral) or val_size < 0):
        raise ConfigTypeError(f"val_size must be a whole number of examples, 0 or more, got "
                              f"{val_size!r}.")
    base, options = parse_dataset_name(name)
    generator = torch.Generator().manual_seed(seed)
    first_validation = False
    if base in CATALOG and get_spec(base).layout == "synthetic":
        train, test = _load_synthetic(base, options, generator)
        task = {"regression": "regression", "lab4": "regression"}.get(base, "unsupervised")
        classes, source = (), "synthetic"
        if base == "lab4":
            val_size = 0
    else:
        if options:
            raise ConfigError(f"dataset {base} takes no options.")
        train, test, classes, source, first_validation = _load_files(base, data_dir, offline,
                                                                     progress)
        task = "classification"
    if val_size is None:
        val_size = default_val_size(len(train), val_fraction)
    train, val = split_validation(train, val_size, generator, first_validation)
    return Dataset(base, task, train, val, test, tuple(classes), source).to(device)


def epoch_batches(n: int, batch_size: int, generator: torch.Generator,
                  drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Index tensors for one epoch: slices of `randperm(n)` drawn from `generator`.

    The permutation lives on the generator's device, so indexing a device-resident dataset with
    it needs no host round-trip.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}.")
    perm = torch.randperm(n, generator=generator, device=generator.device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield perm[start:start + batch_size]


def note_full_batch(batch_size: int, n_train: int, enabled: bool = True) -> bool:
    """Say once, on the progress stream, that `batch_size` exceeds the `n_train` training
    examples, so every step takes the whole training set (one step per epoch); return whether
    it does. The caller leaves out optimizer "gd", which is full-batch by definition."""
    if batch_size <= n_train:
        return False
    if enabled:
        print(f"note: the batch size {batch_size:,} is larger than the training set "
              f"({plural(n_train, 'example')}), so every step takes all of it: full-batch "
              "training, one step per epoch.", file=stream(), flush=True)
    return True
