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


def patches_beat_onednn() -> bool:
    """Whether this CPU runs a one-channel 5 x 5 convolution faster as a product of patches
    than in oneDNN: on AVX2 CPUs, where oneDNN's kernel for so few inputs per output does
    little arithmetic per byte; not on AVX-512 ones, whose oneDNN kernel (brgemm) is faster.

    Measured for deepnn's first block (conv, max-pool, ReLU; forward and backward, batch 50,
    one thread, CPU time): on a 2-core AVX2 EPYC 4.5-6 ms in oneDNN against 2.9 ms as patches;
    on a 2-core AVX-512/AMX Xeon 4.1 ms in oneDNN against 6.4 ms as patches. CPUs with neither
    (unmeasured) keep oneDNN."""
    return torch.backends.cpu.get_cpu_capability() == "AVX2"


class Conv2d(nn.Conv2d):
    """nn.Conv2d that computes a convolution with few inputs per output (C_in k_h k_w <= 64,
    e.g. deepnn's first layer on 1-channel images) on an AVX2 CPU as one matrix product of
    image patches: (B H W, C_in k k) @ (C_in k k, C_out) -> (B, C_out, H, W) in channels-last
    order (`patches_beat_onednn` says where and why; `layerwise bench lab7` times the whole
    step). Parameters, state dict and results are nn.Conv2d's; other CPUs, shapes, strides,
    devices and padding modes go to nn.Conv2d itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._as_patches(x):
            return super().forward(x)
        B, C, H, W = x.shape
        kh, kw = self.kernel_size
        ph, pw = self.padding
        padded = F.pad(x, (pw, pw, ph, ph))
        patches = padded.unfold(2, kh, 1).unfold(3, kw, 1)  # (B, C, H, W, kh, kw), a view
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(B * H * W, C * kh * kw)
        weight = self.weight.reshape(self.out_channels, -1).t()  # (C kh kw, C_out)
        out = patches @ weight if self.bias is None else torch.addmm(self.bias, patches, weight)
        return out.view(B, H, W, self.out_channels).permute(0, 3, 1, 2)  # (B, C_out, H, W)

    def _as_patches(self, x: torch.Tensor) -> bool:
        kh, kw = self.kernel_size
        same = self.padding == ((kh - 1) // 2, (kw - 1) // 2) and kh % 2 == 1 and kw % 2 == 1
        patch_bytes = x.numel() * kh * kw * x.element_size()  # the (B H W, C kh kw) copy
        return (x.device.type == "cpu" and patches_beat_onednn() and x.dim() == 4
                and self.in_channels * kh * kw <= 64
                and patch_bytes <= 64 * 2**20 and same and self.stride == (1, 1)
                and self.dilation == (1, 1) and self.groups == 1 and self.padding_mode == "zeros")
