#!/usr/bin/env python3
"""The course's Lab 6 written the way its TensorFlow program ran, to check what "92 %" means:

    python scripts/lab6_reference.py --seeds 20

TensorFlow's `read_data_sets` kept MNIST's first 5,000 training images for validation and its
`next_batch(100)` walked a shuffled permutation of the other 55,000, reshuffling at each epoch's
end and filling the batch that crosses it from the new one; W and b started at zero, and
`GradientDescentOptimizer(0.5)` minimised the batch's mean softmax cross-entropy for 1,000
steps. This script does exactly that with NumPy's RandomState for the shuffles and plain
torch tensors for the arithmetic (no layerwise trainer), and prints the test accuracy of each
seed and their mean, to set beside `layerwise lab 6 --dataset mnist --seeds 20`.
"""

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.data.datasets import load_dataset
from layerwise.record import started, write_record


def next_batches(n: int, batch: int, steps: int, rng: np.random.RandomState):
    """Index batches as TensorFlow's DataSet.next_batch drew them (shuffle=True)."""
    perm, pos = rng.permutation(n), 0
    for _ in range(steps):
        if pos + batch > n:  # the rest of this epoch, then the start of a new permutation
            rest = perm[pos:]
            perm, pos = rng.permutation(n), batch - len(rest)
            yield np.concatenate([rest, perm[:pos]])
        else:
            yield perm[pos:pos + batch]
            pos += batch


def lab6(x, y, x_test, y_test, seed: int, steps: int = 1000, lr: float = 0.5) -> float:
    W = torch.zeros(x.shape[1], 10, requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    for idx in next_batches(len(x), 100, steps, np.random.RandomState(seed)):
        idx = torch.from_numpy(idx)
        loss = F.cross_entropy(x[idx] @ W + b, y[idx])
        gW, gb = torch.autograd.grad(loss, [W, b])
        with torch.no_grad():
            W -= lr * gW
            b -= lr * gb
    with torch.no_grad():
        return float(((x_test @ W + b).argmax(1) == y_test).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--dataset", default="mnist", help="default: full MNIST (imported)")
    parser.add_argument("--record", metavar="FILE",
                        help="also write the run's record (layerwise.record) to FILE")
    args = parser.parse_args()
    start = started()
    data = load_dataset(args.dataset)  # mnist: the first 5,000 training images are validation
    x, y = data.train.x.flatten(1), data.train.y
    x_test, y_test = data.test.x.flatten(1), data.test.y
    print(f"{args.dataset}: {len(x)} training images, {len(x_test)} test images")
    accuracy, seconds = [], []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        accuracy.append(lab6(x, y, x_test, y_test, seed))
        seconds.append(time.perf_counter() - t0)
    accuracy = np.array(accuracy)
    for seed, a in enumerate(accuracy):
        print(f"seed {seed}: test accuracy {a:.4f}")
    print(f"mean {accuracy.mean():.4f} +- {accuracy.std(ddof=1):.4f} over {args.seeds} seeds "
          f"(min {accuracy.min():.4f}, max {accuracy.max():.4f}); the course printed 92 %")
    if args.record:
        figures = {"model": "softmax as TensorFlow ran it", "dataset": args.dataset,
                   "device": "cpu", "steps": 1000, "train_seconds": float(np.mean(seconds)),
                   "test_accuracy": float(accuracy.mean()),
                   "test_accuracy_std": float(accuracy.std(ddof=1)),
                   "test_accuracy_seeds": accuracy.tolist(), "seeds": [0, args.seeds - 1]}
        write_record(args.record, sys.argv[1:], figures, start,
                     program="python scripts/lab6_reference.py")


if __name__ == "__main__":
    main()
