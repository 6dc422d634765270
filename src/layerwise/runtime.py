"""Where a run reads its data, computes and writes: what supervised and RBM runs share.

`RunConfig` (defined in layerwise.run_config, which imports no torch) holds the settings that
are not part of a recipe (so they are not stored in checkpoints): data location, validation
hold-out, device, threads, GPU memory cap, the distributed timeout, the TensorBoard directory
and the checkpoint to resume from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from layerwise.data.datasets import Dataset, Split, load_dataset
from layerwise.device import resolve_device
from layerwise.errors import ConfigError, ConfigTypeError
from layerwise.run_config import RunConfig  # noqa: F401 - its home; re-exported here

# A dataset name, a Dataset, (X, y), a torch Dataset or DataLoader, or bare examples (N, ...).
DataLike = str | Dataset | tuple | torch.Tensor | np.ndarray | TorchDataset | DataLoader


def check_outputs(checkpoint: str | None = None, **directories: str | None) -> None:
    """Refuse, before any work, output paths that could only fail after it: a path that is not
    a path, a name longer than the file system allows, a checkpoint path that is a directory or
    not a regular file, or whose directory cannot be created or written; an output directory
    (logdir=, plots=, shards=) that is a file or that cannot be created or written."""
    from layerwise.data.files import check_name, writable_dir

    if checkpoint:
        check_output_file(checkpoint, "--checkpoint")
    for flag, directory in directories.items():
        if not directory:
            continue
        path = Path(check_path(directory, flag)).expanduser()
        check_name(path, f"--{flag}")
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--{flag} {directory} is a file; it needs a directory.")
        writable_dir(path, f"--{flag}")


def check_output_file(file: str | Path, flag: str, example: str = "model.pt") -> None:
    """Refuse, before any work, an output file (`--checkpoint`, `--out`) that could only fail
    after it: a name too long, a directory, an existing path that is not a regular file, a
    directory that cannot be created or written."""
    from layerwise.data.files import check_name, output_target, writable_dir

    path = Path(check_path(file, flag.lstrip("-"))).expanduser()
    check_name(path, flag)
    if path.is_dir():
        raise ConfigError(f"{flag} {file} is a directory; give the path of a file, e.g. "
                          f"{path / example}.")
    writable_dir(output_target(path).parent, flag)


def check_path(value, argument: str):
    """`value` if it is a path (a string or an os.PathLike); otherwise a ConfigTypeError
    naming `argument`."""
    import os

    if isinstance(value, str | os.PathLike):
        return value
    raise ConfigTypeError(f"{argument} must be a path (a string or a pathlib.Path), got "
                          f"{value!r} ({type(value).__name__}).")


def setup_device(run: RunConfig) -> torch.device:
    """Resolve the device and apply the thread count and GPU memory cap."""
    device = resolve_device(run.device)
    if run.threads:
        torch.set_num_threads(run.threads)
    if run.gpu_memory_fraction is not None and device.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(run.gpu_memory_fraction, device)
    return device


def as_dataset(data: DataLike, run: RunConfig, seed: int, device: torch.device,
               progress: bool = True, *, task: str | None = None, validation_data=None,
               stream: bool | None = False, batch_size: int = 50) -> Dataset:
    """A Dataset on `device` from a dataset name (loaded as `run` says), a Dataset, labelled
    data in Python ((X, y), a torch Dataset or DataLoader: see `layerwise.data.adapt`, whose
    `task`, `validation_data`, `stream` and `batch_size` these are), or a bare tensor or array
    of examples (N, ...) used whole for training, without labels."""
    from layerwise.data.adapt import as_inputs, is_torch_data, refuse_kind, supervised_dataset

    if isinstance(data, str):  # named as given (a synthetic spec keeps its options)
        data = dataclasses.replace(load_dataset(
            data, data_dir=run.data_dir, offline=run.offline, val_size=run.val_size, seed=seed,
            device=device, progress=progress), name=data)
        if validation_data is None:
            return data
    if isinstance(data, Dataset) or is_torch_data(data) or _is_pair(data):
        return supervised_dataset(data, task=task, validation_data=validation_data,
                                  val_size=run.val_size, seed=seed, device=device,
                                  stream=stream, batch_size=batch_size)
    if task is not None or not (isinstance(data, list) or hasattr(data, "__array__")):
        refuse_kind(data)  # a supervised run needs labels; anything else is no array
    x = as_inputs(data, "data")
    empty = Split(x[:0], torch.zeros(0))
    return Dataset("array", "unsupervised", Split(x, torch.zeros(len(x))), None, empty).to(device)


def _is_pair(data) -> bool:
    """(X, y): a tuple of two, or a list of two arrays (a list of two examples is an array)."""
    return isinstance(data, tuple) and len(data) == 2 or isinstance(data, list) and len(
        data) == 2 and all(hasattr(item, "shape") for item in data)
