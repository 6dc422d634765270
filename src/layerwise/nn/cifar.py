"""The report's CIFAR-10 convolutional nets: its Keras example and `net1`, `net2`, `net3`.

The report prints code only for the example (conv 3x3x32 ReLU twice, max-pool 2, flatten, dense)
and, for its three architectures, only the layer counts (8, 7, "more"; net3 with dropout and L2)
and the parameter counts of its table: 193,034, 686,090 and 1,055,466. The nets below are the
Keras-style stacks whose counts equal the table's exactly; docs/cifar-architectures.md gives the
search (scripts/cifar_param_search.py) and why these are the ones chosen.

Layers are counted as Keras lists them, without Flatten: Conv2D, MaxPooling2D, Dense (and
Dropout for net3). Convolutions are 'valid' (Keras' default), weights Glorot-uniform and biases
zero (Keras' defaults). Input (B, 3, 32, 32) -> logits (B, num_outputs); the counts hold for that
input size and 10 outputs.
"""

from __future__ import annotations

from torch import nn

from layerwise.errors import ConfigError

# (kind, size): "c" conv 3x3 or 5x5 with `size` filters, "p" max-pool 2, "d" dense ReLU layer.
KERAS_EXAMPLE = (("c3", 32), ("c3", 32), ("p", 2))
NET1 = (("c3", 32), ("p", 2), ("c3", 64), ("p", 2), ("c3", 64), ("p", 2), ("d", 512))
NET2 = (("c5", 32), ("c5", 64), ("p", 2), ("c5", 64), ("p", 2), ("d", 512))
NET3 = (("c3", 32), ("c3", 32), ("p", 2), ("c3", 64), ("c3", 128), ("c3", 128), ("p", 2),
        ("c3", 128), ("d", 1024), ("d", 128))

SPECS = {"cifar-keras": KERAS_EXAMPLE, "net1": NET1, "net2": NET2, "net3": NET3}


def _keras_init(net: nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def build_stack(spec: tuple, input_shape: tuple[int, ...], num_outputs: int,
                dropout: float = 0.0) -> nn.Sequential:
    """A Keras-style stack from `spec`, then a dense layer to the logits.

    With `dropout` p > 0 (net3), Dropout(p / 2) follows every pooling layer and Dropout(p) every
    hidden dense layer: the usual lighter rate after convolutions, heavier after dense layers.
    """
    if len(input_shape) != 3:
        raise ConfigError(f"the CIFAR nets take images (C, H, W); got inputs of shape "
                          f"{input_shape}.")
    out_h, out_w = _out_side(input_shape[1], spec), _out_side(input_shape[2], spec)
    if min(out_h, out_w) < 1:
        raise ConfigError(f"images of {input_shape[1]}x{input_shape[2]} are too small "
                          f"for this net's convolutions and pooling.")
    channels = input_shape[0]
    layers: list[nn.Module] = []
    width = None
    for kind, size in spec:
        if kind.startswith("c"):
            layers.append(nn.Sequential(nn.Conv2d(channels, size, int(kind[1:])), nn.ReLU()))
            channels = size
        elif kind == "p":
            layers.append(nn.MaxPool2d(2))
            if dropout:
                layers.append(nn.Dropout(dropout / 2))
        else:
            if width is None:
                layers.append(nn.Flatten())
                width = channels * out_h * out_w  # (B, C, h, w) -> (B, C*h*w)
            block = [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                block.append(nn.Dropout(dropout))
            layers.append(nn.Sequential(*block))
            width = size
    if width is None:
        layers.append(nn.Flatten())
        width = channels * out_h * out_w
    layers.append(nn.Linear(width, num_outputs))
    net = nn.Sequential(*layers)
    _keras_init(net)
    return net


def _out_side(side: int, spec: tuple) -> int:
    """The side of the feature map after the convolutions and pools of `spec`."""
    for kind, _ in spec:
        if kind.startswith("c"):
            side -= int(kind[1:]) - 1
        elif kind == "p":
            side //= 2
    return side
