"""The report's CIFAR-10 nets: parameter counts of its table, layer counts, training end to end."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from layerwise.cli.main import main
from layerwise.data.idx import write_idx
from layerwise.nn.models import ModelConfig, build_model

ROOT = Path(__file__).resolve().parents[1]
TABLE = {"net1": (193_034, 8), "net2": (686_090, 7), "net3": (1_055_466, 11)}


def _build(name, dropout=0.0):
    return build_model(ModelConfig(name, (3, 32, 32), 10, dropout=dropout))


def _keras_layer_count(net):
    """Conv2D + MaxPooling2D + Dense layers, as the report counts them."""
    return sum(isinstance(m, nn.Conv2d | nn.MaxPool2d | nn.Linear) for m in net.modules())


@pytest.mark.parametrize("name", sorted(TABLE))
def test_parameter_and_layer_counts_match_the_report_s_table(name):
    params, layers = TABLE[name]
    net = _build(name, dropout=0.5 if name == "net3" else 0.0)
    assert sum(p.numel() for p in net.parameters()) == params
    assert _keras_layer_count(net) == layers
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_keras_example_is_two_3x3x32_convs_a_pool_and_a_dense_layer():
    net = _build("cifar-keras")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [(32, (3, 3), (0, 0))] * 2
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 1
    # 896 + 9,248 + (14*14*32)*10 + 10: the Keras model's summary for Dense(10) after Flatten.
    assert sum(p.numel() for p in net.parameters()) == 72_874


def test_only_net3_has_dropout_and_the_rate_is_respected():
    assert not any(isinstance(m, nn.Dropout) for m in _build("net1", 0.0).modules())
    rates = sorted(m.p for m in _build("net3", 0.4).modules() if isinstance(m, nn.Dropout))
    assert rates == pytest.approx([0.2, 0.2, 0.4, 0.4])


def test_images_too_small_for_the_net_get_a_clear_error():
    from layerwise.errors import ConfigError
    with pytest.raises(ConfigError, match="too small"):
        build_model(ModelConfig("net3", (3, 16, 16), 10))


def test_the_derivation_script_finds_the_chosen_nets():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "cifar_param_search.py")],
                         capture_output=True, text=True, check=True).stdout
    assert ("8 layers  valid  conv3x3x32 pool conv3x3x64 pool conv3x3x64 pool  "
            "dense512 dense10") in out
    assert "7 layers  valid  conv5x5x32 conv5x5x64 pool conv5x5x64 pool  dense512 dense10" in out
    assert ("11 layers  valid  conv3x3x32 conv3x3x32 pool conv3x3x64 conv3x3x128 conv3x3x128 "
            "pool conv3x3x128  dense1024 dense128 dense10") in out


def test_train_net1_from_the_cli_on_colour_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    arrays = (rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8),
              rng.integers(0, 10, 40, dtype=np.uint8),
              rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8),
              rng.integers(0, 10, 10, dtype=np.uint8))
    for name, arr in zip(names, arrays, strict=True):
        write_idx(tmp_path / name, arr)
    assert main(["train", "net1", "--dataset", str(tmp_path), "--steps", "3",
                 "--batch-size", "8", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["steps"] == 3 and 0.0 <= figures["test_accuracy"] <= 1.0
