"""Restricted Boltzmann Machines and Deep Belief Networks.

`train_rbm` trains one from a dataset name, a `Dataset` or an array (in one process, or split
over torchrun's ranks with a `ParallelConfig`); `RBM`, `CDTrainer` and `fit` are the pieces it
is made of; `load` opens a checkpoint.
"""

from layerwise.rbm.io import load  # noqa: I001 - io needs model and train first
from layerwise.rbm.loop import EpochRecord, fit
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.parallel import ParallelCD, ParallelConfig
from layerwise.rbm.run import RBMResult, train_rbm
from layerwise.rbm.train import CDConfig, CDTrainer

__all__ = ["RBM", "RBMConfig", "CDConfig", "CDTrainer", "EpochRecord", "ParallelCD",
           "ParallelConfig", "RBMResult", "fit", "load", "train_rbm"]
