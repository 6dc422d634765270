"""Datasets: IDX and CIFAR-10 readers, the catalog, resolution, downloads, splits, batches.

The names below are imported on first use, so the catalog and the readers can be imported
without PyTorch (the command line lists and checks datasets before it needs torch).
"""

from importlib import import_module

_EXPORTS = {
    "CATALOG": "catalog", "DatasetSpec": "catalog", "FileSpec": "catalog",
    "read_cifar_binary": "cifar", "read_cifar_python": "cifar",
    "Dataset": "datasets", "Split": "datasets", "epoch_batches": "datasets",
    "load_dataset": "datasets", "read_idx": "idx", "write_idx": "idx",
    "cache_dir": "resolve", "locate": "resolve",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'layerwise.data' has no attribute {name!r}")
    value = getattr(import_module(f"layerwise.data.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
