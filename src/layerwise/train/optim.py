"""Optimisers of the course: gradient descent (eq. 4), momentum as the course writes it (eq. 5),
and Adam; the L2 penalty of eq. 6."""

from __future__ import annotations

import torch
from torch import nn

from layerwise.errors import ConfigError
from layerwise.names import OPTIMIZERS


class CourseMomentum(torch.optim.Optimizer):
    """Gradient descent with momentum in the course's form (eq. 5):

        delta_a(t+1) = -(1 - nu) * lr * grad_a(loss) + nu * delta_a(t)
        a(t+1)       = a(t) + delta_a(t+1)

    Unlike `torch.optim.SGD(momentum=nu)`, the gradient is scaled by (1 - nu), so the step size
    at steady state is lr * grad whatever nu is: nu only smooths.
    """

    def __init__(self, params, lr: float, nu: float):
        if not 0.0 <= nu < 1.0:
            raise ConfigError(f"momentum nu must be in [0, 1), got {nu}.")
        super().__init__(params, {"lr": lr, "nu": nu})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, nu = group["lr"], group["nu"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "delta" not in state:
                    state["delta"] = torch.zeros_like(p)
                delta = state["delta"]
                delta.mul_(nu).add_(p.grad, alpha=-(1.0 - nu) * lr)
                p.add_(delta)
        return loss


def build_optimizer(name: str, params, lr: float,
                    momentum: float = 0.9) -> torch.optim.Optimizer:
    """`gd`/`sgd`: plain a -= lr * grad (eq. 4; they differ in batch size, not update);
    `momentum`: eq. 5; `adam`: Adam with PyTorch's defaults for the betas."""
    params = [p for p in params if p.requires_grad]
    if lr <= 0:
        raise ConfigError(f"learning rate must be positive, got {lr}.")
    if name in ("gd", "sgd"):
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return CourseMomentum(params, lr=lr, nu=momentum)
    if name == "adam":
        # The fused kernel updates each parameter in one pass over its four tensors; on the
        # CPU as on CUDA (torch >= 2.4) it is several times faster than the default per-tensor
        # loop for deepnn's 3.3 M parameters. Its arithmetic is Adam's, in one rounding order.
        return torch.optim.Adam(params, lr=lr, fused=all(p.dtype.is_floating_point
                                                           for p in params) or None)
    raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}.")


def match_state_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor (Adam's moments, a momentum buffer) its
    parameter's memory layout, in place of one that differs.

    Fused optimizers walk a parameter and its state as the same flat memory, so a moment kept
    in NCHW order beside a channels-last weight is updated at the wrong elements, silently:
    that happens when a checkpoint written in one layout is resumed in the other (the
    trainer makes convolutional models channels-last on the CPU)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for key, value in state.items():
                if (isinstance(value, torch.Tensor) and value.shape == p.shape
                        and value.stride() != p.stride()):
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """mu-free part of eq. 6: sum of a_i^2 over every parameter except biases."""
    terms = [p.pow(2).sum() for n, p in model.named_parameters()
             if p.requires_grad and not n.endswith("bias")]
    return torch.stack(terms).sum() if terms else torch.zeros(())
