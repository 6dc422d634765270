"""One of the report's CIFAR-10 nets in Keras 3 (TensorFlow backend), as the report trained
them: `Sequential` of `Conv2D(..., activation="relu")` ('valid', Glorot-uniform, zero biases:
Keras' defaults), `MaxPooling2D`, `Flatten`, `Dense`, a softmax output, compiled with Keras'
`"adam"` and categorical cross-entropy and trained by `model.fit(batch_size=32)`, the report's
call. Keras' own defaults otherwise (shuffling, `jit_compile="auto"`, its thread pools).

Run in its own process (`python -m layerwise.bench.keras_cifar IN.npz OUT.json SPEC.json`) so
that TensorFlow's thread pools do not share a process with PyTorch's. It fits one untimed warm-up
epoch on a few batches (tracing and compiling the train function), then times `epochs` epochs and
writes {"seconds_per_epoch", "test_accuracy", "keras", "tensorflow", "backend"}. Keras is an
optional peer (`pip install 'layerwise[bench-tf]'`), never imported by the library itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def build(keras, spec: list, input_shape: tuple, classes: int, dropout: float):
    """The Keras stack of `spec` (as layerwise.nn.cifar lists it) ending in a softmax."""
    layers = [keras.Input(shape=input_shape)]
    flat = False
    for kind, size in spec:
        if kind.startswith("c"):
            k = int(kind[1:])
            layers.append(keras.layers.Conv2D(size, (k, k), activation="relu"))
        elif kind == "p":
            layers.append(keras.layers.MaxPooling2D(pool_size=(2, 2)))
            if dropout:
                layers.append(keras.layers.Dropout(dropout / 2))
        else:
            if not flat:
                layers.append(keras.layers.Flatten())
                flat = True
            layers.append(keras.layers.Dense(size, activation="relu"))
            if dropout:
                layers.append(keras.layers.Dropout(dropout))
    if not flat:
        layers.append(keras.layers.Flatten())
    layers.append(keras.layers.Dense(classes, activation="softmax"))
    return keras.Sequential(layers)


def run(arrays: dict, spec: dict) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(spec["seed"])
    classes, batch = int(arrays["classes"]), spec["batch_size"]
    x = arrays["train_x"].transpose(0, 2, 3, 1)  # (N, H, W, C) in [0, 1]
    y = keras.utils.to_categorical(arrays["train_y"], classes)
    x_test = arrays["test_x"].transpose(0, 2, 3, 1)
    y_test = keras.utils.to_categorical(arrays["test_y"], classes)
    model = build(keras, spec["layers"], x.shape[1:], classes, spec["dropout"])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    warm = batch * spec["warmup_steps"]
    model.fit(x[:warm], y[:warm], batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=spec["epochs"], verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    return {"seconds_per_epoch": seconds / spec["epochs"], "test_accuracy": float(accuracy),
            "keras": keras.__version__, "tensorflow": tf.__version__,
            "backend": keras.backend.backend(), "parameters": int(model.count_params())}


def main(argv: list[str]) -> int:
    with np.load(argv[0]) as f:
        arrays = dict(f)
    spec = json.loads(Path(argv[2]).read_text())
    with open(argv[1], "w") as f:
        json.dump(run(arrays, spec), f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
