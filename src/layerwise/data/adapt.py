"""Data from Python as a layerwise `Dataset`: arrays, tensors, torch Datasets, DataLoaders.

`fit`, `train_dbn` and `fit_rbm` take, besides a dataset name or a `Dataset`:

    (X, y)              NumPy arrays, tensors (any device) or nested lists, X (N, ...), y (N,)
    TensorDataset(X, y) its two tensors are used as they are
    torch Dataset       any map-style dataset of (x, y) pairs: read once through a DataLoader
    DataLoader          of (x, y) batches: read once into tensors when they fit, else streamed

Conversions (the same for training, validation and `predict`): uint8 inputs are 8-bit pixels
and are divided by 255, as layerwise's own image files are; bool and other integer inputs are
converted to float32 unchanged (scale them yourself); float64 and float16 become float32;
(N, H, W) images get a channel axis, (N, 1, H, W). Targets: integer (or bool) labels mean
classification with max + 1 classes; float targets mean regression, (N,) becoming (N, 1).
A model that only classifies (every course model but polynomial) takes float labels that
are whole numbers as class indices.

Streaming rule: a DataLoader is read into tensors on the device when its examples, as
float32, take at most `RESIDENT_FRACTION` of the memory this process may still allocate
(the device's free memory on CUDA): batches are then `randperm` slices, the fast path.
Otherwise (or with `stream=True`) it is streamed: each step takes the loader's next batch and
moves it to the device. A streamed run trains in one process, mini-batch only, and its batch
order is the loader's (so a resumed run repeats it only where the loader's order is fixed).

Data that cannot be used is refused in one sentence naming the argument: a `DataTypeError`
(also a TypeError) for objects, strings or complex numbers, a `DataValueError` (also a
ValueError) for ragged, empty, non-finite or mismatched data and labels that are not class
indices.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from layerwise.data.datasets import (
    Dataset,
    Split,
    StreamedSplit,
    default_val_size,
    split_validation,
)
from layerwise.errors import DataTypeError, DataValueError

RESIDENT_FRACTION = 0.5  # of the memory budget a DataLoader may take when read into tensors
MAX_CLASSES = 100_000  # labels beyond this are not class indices but codes to encode first


def numeric_tensor(value, arg: str) -> torch.Tensor:
    """`value` (a tensor, NumPy array, nested list, anything with __array__) as a tensor of
    numbers, refusing objects, strings, complex numbers and ragged nesting in one sentence."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
    else:
        try:
            a = np.asarray(value)
        except ValueError:
            raise DataValueError(f"{arg} is ragged: its examples have different shapes; pad "
                                 "or crop them to one shape first.") from None
        if a.dtype == object:
            raise DataTypeError(f"{arg} is an array of Python objects (dtype object), not of "
                                "numbers: stack its items into one numeric array first, e.g. "
                                "np.stack(items).astype('float32').")
        if a.dtype.kind not in "biuf":
            what = f"text (dtype {a.dtype})" if a.dtype.kind in "US" else f"{a.dtype} values"
            raise DataTypeError(f"{arg} holds {what}, not numbers; layerwise trains on "
                                "integers, floats or booleans (encode labels as 0..K-1).")
        t = torch.from_numpy(np.ascontiguousarray(a))
    if t.is_complex():
        raise DataTypeError(f"{arg} holds complex numbers; give real numbers (e.g. the "
                            "magnitude, or real and imaginary parts as two features).")
    return t


def as_inputs(x, arg: str = "X", check: bool = True) -> torch.Tensor:
    """Inputs (N, ...) as float32: uint8 / 255, other numbers as they are, (N, H, W) images
    as (N, 1, H, W); with `check`, refused when empty, 1-D or not finite."""
    t = numeric_tensor(x, arg)
    if check and (t.dim() < 2 or len(t) == 0):
        hint = " (reshape it, e.g. X.reshape(-1, 1) for one feature)" if t.dim() == 1 else ""
        raise DataValueError(f"{arg} must hold at least one example of shape (N, features) or "
                             f"(N, H, W) images; it has shape {tuple(t.shape)}{hint}.")
    t = t.float().div_(255) if t.dtype == torch.uint8 else t.float()
    if t.dim() == 3:
        t = t.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    if check and not bool(torch.isfinite(t).all()):
        raise DataValueError(f"{arg} contains NaN or infinite values; remove or impute them.")
    return t


def as_targets(y, task: str | None, arg: str = "y") -> tuple[torch.Tensor, str]:
    """Targets and their task: int64 labels (N,) for classification, float32 (N, k) values for
    regression; `task` None decides by dtype (integers classify, floats regress)."""
    t = numeric_tensor(y, arg)
    if t.dim() == 2 and t.shape[1] == 1 and (task == "classification" or not
                                              t.is_floating_point()):
        t = t[:, 0]
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise DataValueError(f"{arg} contains NaN or infinite values; remove those examples.")
    task = task or ("regression" if t.is_floating_point() else "classification")
    if task == "regression":
        t = t.float()
        return (t[:, None] if t.dim() == 1 else t.reshape(len(t), -1)), task
    if t.dim() != 1:
        raise DataValueError(f"{arg} must be one class index per example, shape (N,); it has "
                             f"shape {tuple(t.shape)} (for one-hot rows use y.argmax(1)).")
    if t.is_floating_point() and not bool((t == t.round()).all()):
        bad = float(t[t != t.round()][0])
        raise DataValueError(f"{arg} holds {bad:g}, which is not a whole number: class labels "
                             "are 0, 1, ..., K-1 (for regression use float targets and a "
                             "regression model).")
    t = t.long()
    if len(t) and int(t.min()) < 0:
        raise DataValueError(f"{arg} holds the negative label {int(t.min())}; class labels "
                             "are 0, 1, ..., K-1 (encode them, e.g. np.unique(y, "
                             "return_inverse=True)[1]).")
    if len(t) and int(t.max()) >= max(MAX_CLASSES, 1):
        raise DataValueError(f"{arg}'s largest label is {int(t.max())}: class labels are 0, 1, "
                             "..., K-1; encode them first, e.g. np.unique(y, "
                             "return_inverse=True)[1].")
    return t, task


def labelled_split(data, task: str | None, arg: str) -> tuple[Split, str]:
    """(X, y) pairs, a TensorDataset or an in-memory torch Dataset as one Split."""
    x, y = _pair(data, arg)
    x = as_inputs(x, f"{arg}'s X" if arg != "data" else "X")
    y, task = as_targets(y, task, f"{arg}'s y" if arg != "data" else "y")
    if len(x) != len(y):
        raise DataValueError(f"{arg} has {len(x)} examples in X but {len(y)} targets in y; "
                             "they must be the same length.")
    return Split(x, y), task


def refuse_kind(data, arg: str = "data") -> None:
    """Refuse what is neither a name, a dataset, a pair nor an array, in one sentence."""
    size = f" of length {len(data)}" if isinstance(data, tuple | list) else ""
    raise DataTypeError(f"{arg} must be a dataset name, a layerwise Dataset, (X, y), a torch "
                        f"Dataset or a DataLoader of (x, y) pairs; got "
                        f"{type(data).__name__}{size}.")


def _pair(data, arg: str):
    from torch.utils.data import TensorDataset

    if isinstance(data, TensorDataset):
        if len(data.tensors) != 2:
            raise DataValueError(f"{arg} is a TensorDataset of {len(data.tensors)} tensors; "
                                 "fit needs two, inputs and targets: TensorDataset(X, y).")
        return data.tensors
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data
    refuse_kind(data, arg)


def is_torch_data(data) -> bool:
    from torch.utils.data import DataLoader
    from torch.utils.data import Dataset as TorchDataset

    return isinstance(data, (DataLoader, TorchDataset))


def loader_split(data, task: str | None, arg: str, device: torch.device,
                 stream: bool | None, batch_size: int, seed: int) -> tuple[Split | StreamedSplit,
                                                                         str]:
    """A DataLoader (or a map-style torch Dataset, read through one) as a Split on the device
    when it fits (see the module's streaming rule) or `stream` is False, else streamed."""
    from torch.utils.data import DataLoader, TensorDataset

    if isinstance(data, TensorDataset) and not stream:
        split, task = labelled_split(data, task, arg)
        return split.to(device), task
    if not isinstance(data, DataLoader):
        data = DataLoader(data, batch_size=batch_size if stream else 1024, shuffle=bool(stream),
                          generator=torch.Generator().manual_seed(seed))
    first = next(iter(data), None)
    if first is None:
        raise DataValueError(f"{arg} is empty; it gave no batches.")
    x0, y0 = _batch(first, arg)
    x0 = as_inputs(x0, f"{arg}'s inputs")
    y0, task = as_targets(y0, task, f"{arg}'s targets")
    try:
        n = len(data.dataset)
    except TypeError:
        raise DataValueError(f"{arg} has no length (an IterableDataset without __len__); fit "
                             "needs to know how many examples an epoch has: give its dataset "
                             "a __len__.") from None
    if stream is None:
        stream = not _fits(n * (x0[0].numel() + y0[0].numel()) * 4, device)
    convert = _Convert(task, arg, device)
    if stream:
        return StreamedSplit(data, n, x0[:1].to(device), y0[:1].to(device), convert), task
    xs, ys = zip(*(convert(*_batch(b, arg)) for b in data), strict=True)
    return Split(torch.cat(xs), torch.cat(ys)), task


class _Convert:
    """One loader batch (x, y) as float32 inputs and targets of `task` on `device`."""

    def __init__(self, task: str, arg: str, device: torch.device):
        self.task, self.arg, self.device = task, arg, device

    def __call__(self, x, y) -> tuple[torch.Tensor, torch.Tensor]:
        x = as_inputs(x, f"{self.arg}'s inputs").to(self.device, non_blocking=True)
        y = as_targets(y, self.task, f"{self.arg}'s targets")[0]
        if len(x) != len(y):
            raise DataValueError(f"{self.arg} gave a batch of {len(x)} inputs but {len(y)} "
                                 "targets; they must be the same length.")
        return x, y.to(self.device, non_blocking=True)


def _batch(batch, arg: str):
    if isinstance(batch, dict) or not isinstance(batch, (tuple, list)) or len(batch) != 2:
        size = f" of {len(batch)}" if isinstance(batch, tuple | list) else ""
        raise DataTypeError(f"{arg} must give (inputs, targets) pairs; one of its batches is "
                            f"a {type(batch).__name__}{size}.")
    return batch


def _fits(nbytes: int, device: torch.device) -> bool:
    """Whether `nbytes` stay within RESIDENT_FRACTION of what `device` may still allocate."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= RESIDENT_FRACTION * free
    from layerwise.memory import budget

    left, _ = budget()
    return left is None or nbytes <= RESIDENT_FRACTION * left


def supervised_dataset(data, *, task: str | None = None, validation_data=None,
                       val_size: int | None = None, seed: int = 0,
                       device: torch.device | str = "cpu", stream: bool | None = None,
                       batch_size: int = 50) -> Dataset:
    """A labelled Dataset on `device` from any of the module's forms (not a name): the
    hold-out is `validation_data` when given, else `val_size` examples (None: a tenth) drawn
    by a permutation seeded with `seed`; a streamed loader holds none out."""
    device = torch.device(device)
    if isinstance(data, Dataset):
        return _checked(data, validation_data, task, seed, device, stream, batch_size)
    if is_torch_data(data):
        train, task = loader_split(data, task, "data", device, stream, batch_size, seed)
    else:
        train, task = labelled_split(data, task, "data")
    val = None
    if validation_data is not None:
        val = _validation(validation_data, task, seed, device, stream, batch_size)
    elif isinstance(train, Split):
        size = default_val_size(len(train), 0.1) if val_size is None else val_size
        train, val = split_validation(train, size, torch.Generator().manual_seed(seed))
    name = type(data).__name__ if is_torch_data(data) else "arrays"
    empty = Split(train.x[:0], train.y[:0])
    out = Dataset(name, task, train, val, empty, _classes(task, train, val), "python")
    return out.to(device) if isinstance(train, Split) else out


def _validation(data, task, seed, device, stream, batch_size):
    if is_torch_data(data):
        split, _ = loader_split(data, task, "validation_data", device, stream, batch_size, seed)
        return split
    return labelled_split(data, task, "validation_data")[0]


def _checked(data: Dataset, validation_data, task, seed, device, stream, batch_size) -> Dataset:
    """A Dataset built by hand, checked, with its classes inferred when not given and its
    validation split replaced by `validation_data` when given."""
    if validation_data is not None:
        data = dataclasses.replace(data, val=_validation(validation_data, data.task, seed,
                                                         device, stream, batch_size))
    if data.task == "classification":
        for which, split in (("train", data.train), ("val", data.val), ("test", data.test)):
            if isinstance(split, Split) and split is not None:
                as_targets(split.y, "classification", f"the Dataset's {which}.y")
        classes = _classes("classification", data.train, data.val, data.test)
        if data.classes and len(classes) > len(data.classes):
            raise DataValueError(f"the Dataset {data.name!r} has labels up to "
                                 f"{len(classes) - 1} but {len(data.classes)} classes; give "
                                 "one name per label in classes=.")
        if not data.classes:
            data = dataclasses.replace(data, classes=classes)
    return data.to(device)


def _classes(task: str, *splits) -> tuple[str, ...]:
    """Class names "0".."K-1" from the largest label of the in-memory splits given."""
    if task != "classification":
        return ()
    tops = [int(s.y.max()) for s in splits if isinstance(s, Split) and len(s)]
    tops += [int(_all_labels(s).max()) for s in splits if isinstance(s, StreamedSplit)
             and _all_labels(s) is not None]
    return tuple(str(c) for c in range(max(tops, default=-1) + 1))


def _all_labels(split: StreamedSplit) -> torch.Tensor | None:
    """A streamed dataset's labels where it keeps them apart from its inputs (torchvision's
    `targets`, a TensorDataset's second tensor); None where only a full pass would tell."""
    dataset = split.loader.dataset
    labels = getattr(dataset, "targets", None)
    if labels is None and hasattr(dataset, "tensors") and len(dataset.tensors) == 2:
        labels = dataset.tensors[1]
    return None if labels is None or not len(labels) else torch.as_tensor(labels)
