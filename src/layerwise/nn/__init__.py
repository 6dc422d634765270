"""Supervised models and layers of the course, and the report's CIFAR-10 nets."""

from layerwise.nn.models import MODELS, ModelConfig, build_model, freeze_layers

__all__ = ["MODELS", "ModelConfig", "build_model", "freeze_layers"]
