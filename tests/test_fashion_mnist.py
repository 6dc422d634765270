"""The real Fashion-MNIST, as Debian installs it (CI installs the package so this runs there)."""

from pathlib import Path

import numpy as np
import pytest

from layerwise.data.datasets import load_dataset
from layerwise.data.resolve import locate, read_location

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed "
    "(apt-get install dataset-fashion-mnist)")


def test_real_fashion_mnist_reads_and_verifies():
    loc = locate("fashion-mnist", offline=True)
    assert loc.directory == DEBIAN and loc.source == "system"
    arrays, methods = read_location(loc)
    assert set(methods.values()) == {"content-sha256"}
    assert arrays["train_x"].shape == (60000, 28, 28) and arrays["train_x"].dtype == np.uint8
    assert arrays["test_x"].shape == (10000, 28, 28)
    for part in ("train_y", "test_y"):
        assert sorted(np.unique(arrays[part]).tolist()) == list(range(10))
    assert np.bincount(arrays["train_y"]).tolist() == [6000] * 10


def test_course_split_on_real_data():
    d = load_dataset("fashion-mnist", offline=True, seed=0)
    assert (len(d.train), len(d.val), len(d.test)) == (55000, 5000, 10000)
