import pickle

import numpy as np
import pytest

from layerwise.data.cifar import (
    read_cifar_binary,
    read_cifar_python,
    write_cifar_binary,
    write_cifar_python,
)
from layerwise.errors import DataError


def _batch(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n)


def test_binary_round_trip(tmp_path):
    x, y = _batch()
    write_cifar_binary(tmp_path / "data_batch_1.bin", x, y)
    assert (tmp_path / "data_batch_1.bin").stat().st_size == 7 * 3073
    bx, by = read_cifar_binary(tmp_path / "data_batch_1.bin")
    np.testing.assert_array_equal(bx, x)
    np.testing.assert_array_equal(by, y)


def test_binary_record_layout_is_label_then_rgb_planes(tmp_path):
    x, y = _batch(1)
    write_cifar_binary(tmp_path / "b.bin", x, y)
    raw = (tmp_path / "b.bin").read_bytes()
    assert raw[0] == y[0] and raw[1:1025] == x[0, 0].tobytes() and raw[2049:] == x[0, 2].tobytes()


def test_python_round_trip(tmp_path):
    x, y = _batch()
    write_cifar_python(tmp_path / "data_batch_1", x, y)
    bx, by = read_cifar_python(tmp_path / "data_batch_1")
    np.testing.assert_array_equal(bx, x)
    np.testing.assert_array_equal(by, y)


def test_python2_style_batch_with_byte_keys(tmp_path):
    x, y = _batch(3)
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in y],
             b"data": x.reshape(3, -1), b"filenames": [b"a.png", b"b.png", b"c.png"]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    bx, by = read_cifar_python(tmp_path / "test_batch")
    np.testing.assert_array_equal(bx, x)


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.target}",))


def test_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": _Exploit(marker)}
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match="refused.*not allowed"):
        read_cifar_python(tmp_path / "data_batch_1")
    assert not marker.exists()


def test_truncated_binary_and_bad_labels(tmp_path):
    x, y = _batch(2)
    write_cifar_binary(tmp_path / "b.bin", x, y)
    (tmp_path / "cut.bin").write_bytes((tmp_path / "b.bin").read_bytes()[:-10])
    with pytest.raises(DataError, match="not a whole number"):
        read_cifar_binary(tmp_path / "cut.bin")
    write_cifar_binary(tmp_path / "l.bin", x, np.array([3, 200]))
    with pytest.raises(DataError, match="labels outside 0-9"):
        read_cifar_binary(tmp_path / "l.bin")


def test_python_batch_with_wrong_counts(tmp_path):
    x, _ = _batch(3)
    (tmp_path / "b").write_bytes(pickle.dumps({"data": x.reshape(3, -1), "labels": [1, 2]}))
    with pytest.raises(DataError, match="2 labels for 3 images"):
        read_cifar_python(tmp_path / "b")
