"""Activations and pooling layers of the course, as modules.

Activations (course slide 16): step, sigmoid, tanh, ReLU, leaky ReLU and ELU (eq. 7,
ELU_a(x) = a(exp(x) - 1) for x < 0, x otherwise). Pooling (slide 25): disjoint m x n regions
reduced by max, mean, min or sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.errors import ConfigError


class StepFunction(torch.autograd.Function):
    """Heaviside step H(x) = 1 if x >= 0 else 0. Its derivative is zero almost everywhere."""

    @staticmethod
    def forward(ctx, x):
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(
            "the step activation has zero gradient everywhere it is defined, so gradient "
            "descent cannot train through it; use it for forward passes only, or choose "
            "sigmoid, tanh, relu, leaky_relu or elu to train.")


class Step(nn.Module):
    """The 1940s threshold unit: forward only (training through it raises a clear error)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return StepFunction.apply(x)


ACTIVATIONS = {
    "step": Step,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": lambda: nn.ELU(alpha=1.0),
}


def activation(name: str) -> nn.Module:
    """An activation module by name (one of ACTIVATIONS)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; choose one of "
                          f"{', '.join(ACTIVATIONS)}.") from None


class Pool2d(nn.Module):
    """Pooling over disjoint `size` x `size` regions (stride = size) by max, mean, min or sum.

    Input (B, C, H, W) -> output (B, C, H // size, W // size).
    """

    MODES = ("max", "mean", "min", "sum")

    def __init__(self, mode: str = "max", size: int = 2):
        super().__init__()
        if mode not in self.MODES:
            raise ConfigError(f"unknown pooling {mode!r}; choose one of {', '.join(self.MODES)}.")
        self.mode, self.size = mode, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.size
        if self.mode == "max":
            return F.max_pool2d(x, k)
        if self.mode == "min":
            return -F.max_pool2d(-x, k)
        mean = F.avg_pool2d(x, k)
        return mean if self.mode == "mean" else mean * (k * k)

    def extra_repr(self) -> str:
        return f"mode={self.mode}, size={self.size}"
