"""Restricted Boltzmann Machines and Deep Belief Networks."""

from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.train import CDConfig, CDTrainer, fit

__all__ = ["RBM", "RBMConfig", "CDConfig", "CDTrainer", "fit"]
