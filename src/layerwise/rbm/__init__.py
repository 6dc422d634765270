"""Restricted Boltzmann Machines and Deep Belief Networks."""

from layerwise.rbm.io import load  # noqa: I001 - io needs model and train first
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.train import CDConfig, CDTrainer, fit

__all__ = ["RBM", "RBMConfig", "CDConfig", "CDTrainer", "fit", "load"]
