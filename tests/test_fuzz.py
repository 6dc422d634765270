"""Random byte mutations of a valid IDX file, MNIST pickle and RBM checkpoint: the readers may
refuse them, but only ever with a layerwise error (one sentence), never another exception."""

import gzip
import pickle
import random

import numpy as np
import pytest

from layerwise.data.idx import decompress_idx, encode_idx, parse_idx
from layerwise.data.mnist_pickle import read_mnist_pickle
from layerwise.errors import LayerwiseError
from layerwise.rbm import RBM, RBMConfig
from layerwise.rbm import io as rbm_io
from layerwise.rbm.data import Preprocessing

CASES = 300  # mutations per format (a few seconds in all)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Up to eight random edits: overwrite a byte, delete a run, insert random bytes."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i, op = rng.randrange(len(b)) if b else 0, rng.random()
        if op < 0.6 and b:
            b[i] = rng.randrange(256)
        elif op < 0.8:
            del b[i:i + rng.randint(1, 64)]
        else:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(b)


def idx_file(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    return gzip.compress(encode_idx(images)), \
        lambda p: parse_idx(decompress_idx(p.read_bytes(), str(p)), str(p))


def pickle_file(tmp_path):
    parts = tuple(((np.random.default_rng(i).integers(0, 256, (n, 784)) / 256)
                   .astype(np.float32), np.arange(n) % 10) for i, n in enumerate((20, 5, 5)))
    return gzip.compress(pickle.dumps(parts, protocol=2)), read_mnist_pickle


def checkpoint_file(tmp_path):
    rbm_io.save(tmp_path / "valid.pt", RBM(RBMConfig(16, 4)), Preprocessing())
    return (tmp_path / "valid.pt").read_bytes(), \
        lambda p: rbm_io.rbm_from_payload(rbm_io.load_payload(p), p)


@pytest.mark.parametrize("make", [idx_file, pickle_file, checkpoint_file])
def test_mutated_files_give_only_layerwise_errors(make, tmp_path):
    valid, read = make(tmp_path)
    rng = random.Random(make.__name__)
    refused = 0
    for k in range(CASES):
        path = tmp_path / f"mutant-{k}"
        path.write_bytes(mutate(valid, rng))
        try:
            read(path)
        except LayerwiseError:
            refused += 1
        except Exception as exc:  # noqa: BLE001 - exactly what this test looks for
            pytest.fail(f"case {k}: {type(exc).__name__}: {exc}")
    assert refused > CASES // 2  # the mutations do break the files
