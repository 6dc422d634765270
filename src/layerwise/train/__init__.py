"""Optimisers, the supervised training loop, and the run around it (`fit`)."""

from layerwise.train.run import FitResult, evaluate_checkpoint, fit, learning_curve
from layerwise.train.saving import load_model, save_model
from layerwise.train.trainer import TrainConfig, evaluate, train

__all__ = ["FitResult", "TrainConfig", "evaluate", "evaluate_checkpoint", "fit",
           "learning_curve", "load_model", "save_model", "train"]
