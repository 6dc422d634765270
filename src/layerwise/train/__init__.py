"""Optimisers, the supervised training loop, and the run around it (`fit`).

The names below are imported on first use, so `layerwise.train.config` (TrainConfig) can be
imported without PyTorch (the command line builds its flags from it before it needs torch).
"""

from importlib import import_module

_EXPORTS = {
    "FitResult": "run", "evaluate_checkpoint": "evaluation", "fit": "run",
    "learning_curve": "evaluation",
    "load_model": "saving", "save_model": "saving",
    "TrainConfig": "config", "evaluate": "trainer", "train": "trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'layerwise.train' has no attribute {name!r}")
    value = getattr(import_module(f"layerwise.train.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
