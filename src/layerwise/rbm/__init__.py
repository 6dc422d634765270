"""Restricted Boltzmann Machines and Deep Belief Networks.

`fit_rbm(model_config, data, ...)` trains one from a dataset name, a `Dataset` or an array (in
one process, or split over torchrun's ranks with a `ParallelConfig`); `RBM`, `CDTrainer` and
the epoch loop `run_epochs` are the pieces it is made of; `load` opens a checkpoint.

The names below are imported on first use, so `layerwise.rbm.config` (RBMConfig, CDConfig,
ParallelConfig) can be imported without PyTorch.
"""

from importlib import import_module

_EXPORTS = {
    "RBM": "model", "RBMConfig": "config", "CDConfig": "config", "CDTrainer": "train",
    "EpochRecord": "loop", "run_epochs": "loop", "ParallelCD": "parallel",
    "ParallelConfig": "config", "RBMResult": "run", "fit_rbm": "run", "train_rbm": "run",
    "load": "io",
}
__all__ = ["RBM", "RBMConfig", "CDConfig", "CDTrainer", "EpochRecord", "ParallelCD",
           "ParallelConfig", "RBMResult", "fit_rbm", "load", "run_epochs", "train_rbm"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'layerwise.rbm' has no attribute {name!r}")
    value = getattr(import_module(f"layerwise.rbm.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
