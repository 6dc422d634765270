"""The supervised models of the course, built from a typed `ModelConfig`.

Every model is an `nn.Sequential` of *layers* in input-to-output order, so "freeze the first N
layers" (transfer learning, the course's Lab 9 idea) means the first N children that hold
parameters.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from layerwise.device import check_fits
from layerwise.errors import ConfigError
from layerwise.nn import cifar
from layerwise.nn.config import DEFAULT_DROPOUT, ModelConfig
from layerwise.nn.layers import Conv2d, Pool2d, activation
from layerwise.settings import check_argument

__all__ = ["DEFAULT_DROPOUT", "MODELS", "ModelConfig", "build_model", "freeze_layers"]


class Polynomial(nn.Module):
    """y(x) = sum_{j=0..n} a_j x^j (the course's eq. 1); x (B, 1) -> y (B, 1)."""

    def __init__(self, degree: int, init: tuple[float, ...] = ()):
        super().__init__()
        a = torch.tensor(init, dtype=torch.float32) if init else torch.zeros(degree + 1)
        if a.numel() != degree + 1:
            raise ConfigError(f"degree {degree} needs {degree + 1} initial coefficients.")
        self.a = nn.Parameter(a)
        self.register_buffer("powers", torch.arange(degree + 1, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x ** self.powers) @ self.a[:, None]  # (B, 1) ** (n+1,) -> (B, n+1) @ (n+1, 1)


def _flat_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def polynomial(cfg: ModelConfig) -> nn.Sequential:
    return nn.Sequential(Polynomial(cfg.degree, cfg.init))


def softmax(cfg: ModelConfig) -> nn.Sequential:
    """Lab 6: logits = x W + b, W and b initialised to zero as in the course."""
    fc = nn.Linear(_flat_size(cfg.input_shape), cfg.num_outputs)
    nn.init.zeros_(fc.weight)
    nn.init.zeros_(fc.bias)
    return nn.Sequential(nn.Flatten(), fc)


def mlp(cfg: ModelConfig) -> nn.Sequential:
    """Fully connected layers of sizes `hidden` with the chosen activation, then logits."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = _flat_size(cfg.input_shape)
    sizes = [width, *cfg.hidden, cfg.num_outputs]
    # weights, gradients and Adam's two moments: four float32 copies of every parameter
    check_fits(16 * sum(a * b for a, b in zip(sizes, sizes[1:], strict=False)),
               f"an mlp of layers {'-'.join(map(str, sizes))}")
    for h in cfg.hidden:
        block = [nn.Linear(width, h), activation(cfg.activation)]
        if cfg.dropout:
            block.append(nn.Dropout(cfg.dropout))
        layers.append(nn.Sequential(*block))
        width = h
    layers.append(nn.Linear(width, cfg.num_outputs))
    return nn.Sequential(*layers)


def _course_init(module: nn.Module) -> None:
    """The course's weight_variable/bias_variable: truncated normal std 0.1, biases 0.1."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(m.bias, 0.1)


def deepnn(cfg: ModelConfig) -> nn.Sequential:
    """The course's Lab 7 CNN: (B, C, 28, 28) -> logits (B, num_outputs).

    conv 5x5x32 'same' + ReLU, pool 2 -> (B, 32, 14, 14); conv 5x5x64 'same' + ReLU, pool 2 ->
    (B, 64, 7, 7); fc 1024 + ReLU; dropout (0.5 in the course); fc to the logits.
    """
    c, h, w = cfg.input_shape
    if h % 4 or w % 4:
        raise ConfigError(f"deepnn needs image sides divisible by 4, got {h}x{w}.")
    dropout = cfg.dropout

    def conv_block(c_in: int, c_out: int) -> nn.Sequential:
        conv, relu, pool = Conv2d(c_in, c_out, 5, padding=2), nn.ReLU(), Pool2d(cfg.pool, 2)
        # ReLU is monotone, so it commutes with max and min pooling: pooling first gives the
        # same outputs and gradients with a quarter of the ReLU's element-wise work (forward
        # and backward). Mean and sum pooling do not commute with it and keep the course's order.
        return nn.Sequential(conv, pool, relu) if cfg.pool in ("max", "min") else \
            nn.Sequential(conv, relu, pool)

    net = nn.Sequential(
        conv_block(c, 32),
        conv_block(32, 64),
        nn.Sequential(nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 1024), nn.ReLU(),
                      nn.Dropout(dropout)),
        nn.Linear(1024, cfg.num_outputs),
    )
    _course_init(net)
    return net


def _cifar_net(name: str):
    def build(cfg: ModelConfig) -> nn.Sequential:
        return cifar.build_stack(cifar.SPECS[name], cfg.input_shape, cfg.num_outputs, cfg.dropout)
    build.__doc__ = f"The report's CIFAR-10 net {name!r} (see layerwise.nn.cifar)."
    return build


MODELS = {
    "polynomial": polynomial,
    "softmax": softmax,
    "mlp": mlp,
    "deepnn": deepnn,
    **{name: _cifar_net(name) for name in cifar.SPECS},
}


def build_model(cfg: ModelConfig | str, data=None, **options) -> nn.Sequential:
    """Instantiate a model (on the CPU; move it with `.to(device)`): `cfg` is a ModelConfig or
    a model name with `options` (ModelConfig's fields), sized to `data` (a Dataset) where its
    input shape or outputs are not given, e.g. `build_model("deepnn", data)`."""
    check_argument(cfg, "cfg", (ModelConfig, str))
    if isinstance(cfg, str):
        cfg = ModelConfig(cfg, **options)
    elif options:
        cfg = replace(cfg, **options)
    if data is not None:
        cfg = cfg.sized_for(data)
    if cfg.input_shape is None or cfg.num_outputs is None:
        raise ConfigError(f"{cfg.name} needs its input shape and number of outputs: give "
                          "them in the ModelConfig or pass the dataset.")
    return MODELS[cfg.name](cfg)


def parameter_layers(model: nn.Module) -> list[nn.Module]:
    """The model's top-level children that hold parameters, input to output."""
    return [m for m in model.children() if any(True for _ in m.parameters())]


def freeze_layers(model: nn.Module, n: int) -> None:
    """Freeze the first `n` parameter-holding layers (requires_grad = False)."""
    layers = parameter_layers(model)
    if not 0 <= n < len(layers):
        raise ConfigError(f"--freeze {n}: the model has {len(layers)} trainable layers, "
                          f"so freeze between 0 and {len(layers) - 1} of them.")
    for layer in layers[:n]:
        for p in layer.parameters():
            p.requires_grad_(False)
