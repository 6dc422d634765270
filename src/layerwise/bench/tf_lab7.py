"""The course's Lab 7 listing in TensorFlow, as its learners run it today: TensorFlow 2's
`tf.compat.v1` graph mode executing the 2017 TF 1.x code unchanged in substance.

The graph is the listing's `deepnn`: `conv2d` SAME 5x5x32 + bias + ReLU, `max_pool` 2x2,
5x5x64 likewise, fc 1024 + ReLU, `dropout` with keep_prob 0.5, fc 10, weights from
`truncated_normal(stddev=0.1)`, biases 0.1, softmax cross-entropy and `AdamOptimizer(1e-4)`; the
loop feeds `next_batch(50)` through `feed_dict` (a reshuffle at each epoch, as the course's
`input_data` did) and evaluates the batch's accuracy every 100 steps, as the listing printed.

It runs in its own process (`python -m layerwise.bench.tf_lab7 IN.npz OUT.json`), so that
TensorFlow's thread pools and oneDNN set-up do not share a process with PyTorch's: the caller
saves the arrays, the child times WARMUP untimed and then `steps` timed steps, and writes
{"seconds", "test_accuracy", "tensorflow", "threads"}. TensorFlow is an optional peer
(`pip install 'layerwise[bench-tf]'`), never imported by the library itself.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def _graph(tf, h: int, w: int, c: int, classes: int, seed: int):
    """The listing's deepnn and its training step; returns the placeholders and ops."""
    tf.compat.v1.set_random_seed(seed)
    v1 = tf.compat.v1
    x = v1.placeholder(tf.float32, [None, h * w * c])
    y_ = v1.placeholder(tf.float32, [None, classes])
    keep_prob = v1.placeholder(tf.float32)

    def weight(shape):
        return tf.Variable(v1.truncated_normal(shape, stddev=0.1))

    def bias(shape):
        return tf.Variable(tf.constant(0.1, shape=shape))

    def conv_pool(inputs, shape):
        conv = tf.nn.conv2d(inputs, weight(shape), strides=[1, 1, 1, 1], padding="SAME")
        relu = tf.nn.relu(conv + bias([shape[-1]]))
        return tf.nn.max_pool2d(relu, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

    h_pool1 = conv_pool(tf.reshape(x, [-1, h, w, c]), [5, 5, c, 32])
    h_pool2 = conv_pool(h_pool1, [5, 5, 32, 64])
    flat = 64 * (h // 4) * (w // 4)
    h_fc1 = tf.nn.relu(tf.matmul(tf.reshape(h_pool2, [-1, flat]), weight([flat, 1024]))
                       + bias([1024]))
    h_drop = v1.nn.dropout(h_fc1, keep_prob=keep_prob)
    y_conv = tf.matmul(h_drop, weight([1024, classes])) + bias([classes])
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
    train_step = v1.train.AdamOptimizer(1e-4).minimize(loss)
    correct = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    return x, y_, keep_prob, train_step, accuracy


class NextBatch:
    """`mnist.train.next_batch(n)` of the course's input_data: consecutive slices of a
    permutation, reshuffled when an epoch is used up."""

    def __init__(self, x: np.ndarray, y: np.ndarray, seed: int):
        self.x, self.y, self.rng = x, y, np.random.default_rng(seed)
        self.order, self.pos = self.rng.permutation(len(x)), 0

    def __call__(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self.pos + n > len(self.order):
            self.order, self.pos = self.rng.permutation(len(self.x)), 0
        idx = self.order[self.pos:self.pos + n]
        self.pos += n
        return self.x[idx], self.y[idx]


def run(arrays: dict, steps: int, warmup: int, batch: int, seed: int) -> dict:
    """Seconds of `steps` listing steps after `warmup` untimed ones, and the test accuracy."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    n, c, h, w = arrays["train_x"].shape
    classes = int(arrays["classes"])
    one_hot = np.eye(classes, dtype=np.float32)
    # the listing's layout: flat (N, H*W*C) images in NHWC order, one-hot labels
    flat = arrays["train_x"].transpose(0, 2, 3, 1).reshape(n, -1)
    test_x = arrays["test_x"].transpose(0, 2, 3, 1).reshape(len(arrays["test_x"]), -1)
    next_batch = NextBatch(flat, one_hot[arrays["train_y"]], seed)
    x, y_, keep_prob, train_step, accuracy = _graph(tf, h, w, c, classes, seed)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())

        def step(i: int) -> None:
            bx, by = next_batch(batch)
            if i % 100 == 0:
                sess.run(accuracy, {x: bx, y_: by, keep_prob: 1.0})
            sess.run(train_step, {x: bx, y_: by, keep_prob: 0.5})

        for i in range(warmup):
            step(i + 1)
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        seconds = time.perf_counter() - start
        hits = 0
        for lo in range(0, len(test_x), 2000):
            ty = one_hot[arrays["test_y"][lo:lo + 2000]]
            hits += sess.run(accuracy, {x: test_x[lo:lo + 2000], y_: ty,
                                        keep_prob: 1.0}) * len(ty)
    return {"seconds": seconds, "test_accuracy": float(hits / len(test_x)),
            "tensorflow": tf.__version__,
            "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                        "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}}


def main(argv: list[str]) -> int:
    src, out, steps, warmup, batch, seed = argv[0], argv[1], *map(int, argv[2:6])
    with np.load(src) as f:
        arrays = dict(f)
    figures = run(arrays, steps, warmup, batch, seed)
    with open(out, "w") as f:
        json.dump(figures, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
