import gzip

import numpy as np
import pytest

from layerwise.data.idx import encode_idx, parse_idx, read_idx, write_idx
from layerwise.errors import DataError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, dtype, shape, suffix):
    rng = np.random.default_rng(1)
    arr = (rng.standard_normal(shape) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a{suffix}", arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, arr)
    assert path.read_bytes().startswith(b"\x1f\x8b") == (suffix == ".gz")


def test_header_is_big_endian_as_published():
    data = encode_idx(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert data[:4] == bytes([0, 0, 0x0C, 2])
    assert data[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert data[12:16] == (0).to_bytes(4, "big") and data[16:20] == (1).to_bytes(4, "big")


def test_gzip_detected_by_content_not_name(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    (tmp_path / "plain.gz").write_bytes(encode_idx(arr))  # raw bytes under a .gz name
    (tmp_path / "packed").write_bytes(gzip.compress(encode_idx(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed"), arr)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"\x01\x00" + d[2:], "not an IDX file"),
    (lambda d: d[:2] + b"\x07" + d[3:], "unknown IDX dtype code 0x07"),
    (lambda d: d[:3] + b"\x00" + d[4:], "zero dimensions"),
    (lambda d: d[:-5], "truncated"),
    (lambda d: d + b"\x00", "longer than its header says"),
    (lambda d: d[:6], "truncated inside its header"),
    (lambda d: d[:2], "too short"),
])
def test_malformed_files_are_rejected_with_a_reason(mutate, message):
    good = encode_idx(np.zeros((4, 3, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=message):
        parse_idx(mutate(good), "x")


def test_truncated_gzip_is_a_clear_error(tmp_path):
    packed = gzip.compress(encode_idx(np.arange(1000, dtype=np.int32)))
    (tmp_path / "t.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="damaged gzip file"):
        read_idx(tmp_path / "t.gz")


def test_write_is_atomic_and_rejects_unsupported_dtypes(tmp_path):
    with pytest.raises(DataError, match="cannot hold dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.complex64))
    assert list(tmp_path.iterdir()) == []
