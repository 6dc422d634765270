"""Supervised models and layers of the course, and the report's CIFAR-10 nets.

The names below are imported on first use, so `layerwise.nn.config` (ModelConfig) can be
imported without PyTorch.
"""

from importlib import import_module

_EXPORTS = {"MODELS": "models", "ModelConfig": "config", "build_model": "models",
            "freeze_layers": "models"}
__all__ = ["MODELS", "ModelConfig", "build_model", "freeze_layers"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'layerwise.nn' has no attribute {name!r}")
    value = getattr(import_module(f"layerwise.nn.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
