"""layerwise: train neural networks and Restricted Boltzmann Machines on PyTorch.

The names a user needs are here (imported on first use, so `import layerwise` stays cheap):

    import layerwise as lw
    data = lw.load_dataset("mnist-10k")
    result = lw.fit("deepnn", data, lw.TrainConfig(steps=500), lw.RunConfig(device="cpu"))
    rbm = lw.fit_rbm(lw.RBMConfig(n_hidden=100), "mnist-10k", lw.CDConfig(epochs=3))

`layerwise.sklearn.BernoulliRBM` is the scikit-learn drop-in (needs scikit-learn).
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "load_dataset": "layerwise.data", "Dataset": "layerwise.data", "Split": "layerwise.data",
    "ModelConfig": "layerwise.nn", "build_model": "layerwise.nn",
    "RunConfig": "layerwise.runtime",
    "TrainConfig": "layerwise.train", "fit": "layerwise.train", "FitResult": "layerwise.train",
    "evaluate": "layerwise.train", "evaluate_checkpoint": "layerwise.train",
    "learning_curve": "layerwise.train", "save_model": "layerwise.train",
    "load_model": "layerwise.train",
    "RBM": "layerwise.rbm", "RBMConfig": "layerwise.rbm", "CDConfig": "layerwise.rbm",
    "ParallelConfig": "layerwise.rbm", "RBMResult": "layerwise.rbm",
    "fit_rbm": "layerwise.rbm", "train_rbm": "layerwise.rbm", "load_rbm": ("layerwise.rbm", "load"),
    "train_dbn": ("layerwise.rbm.dbn", "train_dbn"),
    "DBNResult": ("layerwise.rbm.dbn", "DBNResult"),
    "resume_recipe": "layerwise.resume", "Recipe": "layerwise.resume",
    "LayerwiseError": "layerwise.errors", "ConfigError": "layerwise.errors",
    "DataError": "layerwise.errors", "DataValueError": "layerwise.errors",
    "DataTypeError": "layerwise.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'layerwise' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
