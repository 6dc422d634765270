"""The report's measure: are RBM features better for classification than raw pixels?

Both classifiers are the same softmax regression trained with the same recipe by the supervised
trainer, one on hidden probabilities p(h | v), one on the pixels, in the same run.
"""

from __future__ import annotations

import torch

from layerwise.data.datasets import Dataset
from layerwise.nn.models import ModelConfig, build_model
from layerwise.progress import stream
from layerwise.rbm.data import Preprocessing, map_inputs
from layerwise.rbm.model import RBM
from layerwise.train.curves import recipe_length
from layerwise.train.trainer import TrainConfig, evaluate, train

RECIPE = TrainConfig(optimizer="adam", lr=1e-3, batch_size=100, epochs=10)


def softmax_accuracy(data: Dataset, cfg: TrainConfig = RECIPE, seed: int = 0,
                     progress: bool = False) -> float:
    torch.manual_seed(seed)
    model = build_model(ModelConfig("softmax", data.input_shape, data.num_classes))
    model = model.to(data.train.x.device)
    train(model, data, cfg, progress=progress)
    return evaluate(model, data.test, data.task)["accuracy"]


def compare(rbm: RBM, prep: Preprocessing, data: Dataset, cfg: TrainConfig = RECIPE,
            progress: bool = False) -> dict:
    """Test accuracy of softmax on RBM features and on raw pixels (as the RBM sees them)."""

    def pixels(x):
        return prep(x, rbm.W.dtype).float()

    def features(x):
        return rbm.transform(prep(x, rbm.W.dtype)).float()

    figures = {}
    for name, f, what in (("feature_accuracy", features, "RBM features"),
                          ("raw_accuracy", pixels, "raw pixels")):
        if progress:
            print(f"softmax on {what}, {recipe_length(cfg)}:", file=stream(), flush=True)
        figures[name] = softmax_accuracy(map_inputs(data, f), cfg, progress=progress)
    return figures
