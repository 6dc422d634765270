"""Datasets: IDX and CIFAR-10 readers, the catalog, resolution, downloads, splits, batches."""

from layerwise.data.catalog import CATALOG, DatasetSpec, FileSpec
from layerwise.data.cifar import read_cifar_binary, read_cifar_python
from layerwise.data.datasets import Dataset, Split, epoch_batches, load_dataset
from layerwise.data.idx import read_idx, write_idx
from layerwise.data.resolve import cache_dir, locate

__all__ = [
    "CATALOG", "Dataset", "DatasetSpec", "FileSpec", "Split", "cache_dir", "epoch_batches",
    "load_dataset", "locate", "read_cifar_binary", "read_cifar_python", "read_idx", "write_idx",
]
