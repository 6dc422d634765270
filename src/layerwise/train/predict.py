"""Inference on a trained model: `predict` (class indices or values) and `predict_proba`.

Inputs are converted as training converted them (uint8 / 255, other numbers to float32) and
laid out as the model's input shape (C, H, W) or (D,) asks where that is unambiguous: images
(N, H, W), (N, H*W) or (N, C, H, W) for a (1, H, W) model; (N, C*H*W) for a (C, H, W) model;
any (N, ...) of D numbers for a flat (D,) model. Anything else (channels-last images, another
size) is refused in one sentence.

Return type: NumPy in, NumPy out (as scikit-learn and Keras return); a tensor in, a tensor out
on the input's device. Batches of `batch_size` go through the model in eval mode under
no_grad on the model's device, so a large X needs no more memory than one batch on it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.data.adapt import as_inputs
from layerwise.errors import ConfigError, DataValueError


def conform(x: torch.Tensor, input_shape: tuple[int, ...], arg: str = "X") -> torch.Tensor:
    """x (N, ...) float32 laid out as (N, *input_shape), by the module docstring's rules."""
    have, want = tuple(x.shape[1:]), tuple(input_shape)
    if have == want or not want:
        return x
    flat = math.prod(want)
    squeezed = tuple(d for i, d in enumerate(want) if not (i == 0 and d == 1 and len(want) == 3))
    if len(want) == 1 and math.prod(have) == flat or have in (squeezed, (flat,)):
        return x.reshape(len(x), *want)
    hint = ""
    if len(want) == 3 and have == (*want[1:], want[0]):
        hint = " (channels-last images: use X.permute(0, 3, 1, 2) or np.moveaxis(X, -1, 1))"
    raise DataValueError(f"{arg} has examples of shape {have} but the model takes "
                         f"{want}{hint}; give (N, {', '.join(map(str, want))}).")


@torch.no_grad()
def outputs(model: nn.Module, X, input_shape: tuple[int, ...], batch_size: int = 2000
            ) -> torch.Tensor:
    """The model's outputs for X, (N, K), on the CPU (float32), in eval mode."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
    x = conform(as_inputs(X, "X", check=False), input_shape)
    if x.dim() < 2 or not len(x):
        raise DataValueError(f"X must hold at least one example; it has shape {tuple(x.shape)}.")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def _like(out: torch.Tensor, X):
    """NumPy for NumPy (and lists), a tensor on X's device for a tensor."""
    return out.to(X.device) if isinstance(X, torch.Tensor) else out.numpy()


class Predictor:
    """`predict` and `predict_proba` for a result holding `model`, `input_shape` and `task`."""

    model: nn.Module
    input_shape: tuple[int, ...]
    task: str

    def predict(self, X, batch_size: int = 2000):
        """Classification: the class index of each example, (N,) int64. Regression: the
        model's outputs, (N,) for one target, else (N, K). X as the module docstring says."""
        out = outputs(self.model, X, self.input_shape, batch_size)
        if self.task == "classification":
            return _like(out.argmax(1), X)
        return _like(out[:, 0] if out.dim() == 2 and out.shape[1] == 1 else out, X)

    def predict_proba(self, X, batch_size: int = 2000):
        """Class probabilities, softmax of the logits, (N, K) float32 rows summing to 1."""
        if self.task != "classification":
            raise ConfigError(f"predict_proba gives class probabilities, but this model was "
                              f"trained for {self.task}; use predict for its values.")
        return _like(F.softmax(outputs(self.model, X, self.input_shape, batch_size), 1), X)

