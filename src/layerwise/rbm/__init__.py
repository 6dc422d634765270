"""Restricted Boltzmann Machines and Deep Belief Networks.

`fit_rbm(model_config, data, ...)` trains one from a dataset name, a `Dataset` or an array (in
one process, or split over torchrun's ranks with a `ParallelConfig`); `RBM`, `CDTrainer` and
the epoch loop `run_epochs` are the pieces it is made of; `load` opens a checkpoint.
"""

from layerwise.rbm.io import load  # noqa: I001 - io needs model and train first
from layerwise.rbm.loop import EpochRecord, run_epochs
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.parallel import ParallelCD, ParallelConfig
from layerwise.rbm.run import RBMResult, fit_rbm, train_rbm
from layerwise.rbm.train import CDConfig, CDTrainer

__all__ = ["RBM", "RBMConfig", "CDConfig", "CDTrainer", "EpochRecord", "ParallelCD",
           "ParallelConfig", "RBMResult", "fit_rbm", "load", "run_epochs", "train_rbm"]
