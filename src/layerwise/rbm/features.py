"""The report's measure: are RBM features better for classification than raw pixels?

Both classifiers are the same softmax regression trained with the same recipe by the supervised
trainer, one on hidden probabilities p(h | v), one on the pixels, in the same run.
"""

from __future__ import annotations

import torch

from layerwise.data.datasets import Dataset, Split
from layerwise.nn.models import ModelConfig, build_model
from layerwise.rbm.data import Preprocessing
from layerwise.rbm.model import RBM
from layerwise.train.trainer import TrainConfig, evaluate, train

RECIPE = TrainConfig(optimizer="adam", lr=1e-3, batch_size=100, epochs=10)


def _map(split: Split | None, f) -> Split | None:
    if split is None:
        return None
    return Split(torch.cat([f(x) for x in split.x.split(5000)]), split.y)


def softmax_accuracy(data: Dataset, cfg: TrainConfig = RECIPE, seed: int = 0) -> float:
    torch.manual_seed(seed)
    model = build_model(ModelConfig("softmax", data.input_shape, data.num_classes))
    model = model.to(data.train.x.device)
    train(model, data, cfg, progress=False)
    return evaluate(model, data.test, data.task)["accuracy"]


def compare(rbm: RBM, prep: Preprocessing, data: Dataset, cfg: TrainConfig = RECIPE) -> dict:
    """Test accuracy of softmax on RBM features and on raw pixels (as the RBM sees them)."""

    def pixels(x):
        return prep(x, rbm.W.dtype).float()

    def features(x):
        return rbm.transform(prep(x, rbm.W.dtype)).float()

    results = {}
    for name, f in (("feature_accuracy", features), ("raw_accuracy", pixels)):
        mapped = Dataset(data.name, data.task, _map(data.train, f), _map(data.val, f),
                         _map(data.test, f), data.classes, data.source)
        results[name] = softmax_accuracy(mapped, cfg)
    return results
