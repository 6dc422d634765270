"""`layerwise bench cifar`: the report's CIFAR-10 nets (its Keras example, net1, net2, net3)
trained by Keras 3 `model.fit`, the tool the report used, and by layerwise's trainer, on the
same images, in one run: seconds per epoch and x floor.

- data: CIFAR-10 where its files are found (offline; `layerwise data import cifar-10 FILE`),
  else CIFAR-shaped synthetic images (uniform pixels, random labels: the time per epoch is the
  same, the accuracy is chance), said in the report. The first `examples` training images.
- Keras (`layerwise.bench.keras_cifar`, a child process): the report's recipe, `"adam"`,
  categorical cross-entropy, `fit(batch_size=32)`, Keras' defaults otherwise.
- layerwise: `layerwise train NET --optimizer adam --lr 1e-3 --batch-size 32` as the command
  runs it (`layerwise.train.trainer.train`), the same nets built by `layerwise.nn.cifar`.
- floor: one step's floating-point operations at batch 32 (torch's FlopCounterMode, forward and
  backward) times the steps of an epoch, over the float32 GEMM rate of a window run right after
  each row (paired, as in `bench lab7`).

Each row runs one untimed warm-up (a few steps) and then `epochs` timed epochs; every row twice,
in order and then reversed (`harness.both_orders`), reported as the mean of the two.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from layerwise.bench.harness import both_orders, gemm_rate
from layerwise.bench.lab7 import step_flops
from layerwise.data.datasets import Dataset, Split, load_dataset
from layerwise.errors import DataError
from layerwise.nn import cifar
from layerwise.nn.models import ModelConfig, build_model
from layerwise.train.trainer import TrainConfig, evaluate, train

NETS = ("cifar-keras", "net1", "net2", "net3")
BATCH, WARMUP_STEPS = 32, 4  # Keras' default batch, the report's fit call
KERAS, OURS = "Keras 3 model.fit", "layerwise"
CHILD_TIMEOUT = 3600  # seconds the Keras child may take before its row is given up
# The report's test accuracies (Table 1), where it printed one for the net.
REPORT_ACCURACY = {"net1": 0.7181, "net2": 0.6707, "net3": 0.7543}


def cifar_images(examples: int, data_dir: str | None, seed: int) -> tuple[Dataset, str]:
    """The first `examples` CIFAR-10 training images and its test images, or CIFAR-shaped
    synthetic ones where the files are not found; and a sentence saying which."""
    try:
        data = load_dataset("cifar-10", data_dir=data_dir, offline=True, val_size=0,
                            seed=seed, progress=False)
        source = "CIFAR-10"
    except DataError:
        g = torch.Generator().manual_seed(seed)
        n_test = max(examples // 5, BATCH)
        x = torch.randint(0, 256, (examples + n_test, 3, 32, 32), generator=g,
                          dtype=torch.uint8).float().div(255)
        y = torch.randint(0, 10, (examples + n_test,), generator=g)
        data = Dataset("cifar-shaped synthetic", "classification", Split(x[:examples],
                       y[:examples]), None, Split(x[examples:], y[examples:]),
                       tuple(f"class {i}" for i in range(10)), "synthetic")
        source = ("synthetic CIFAR-shaped images with random labels (CIFAR-10 not found: "
                  "`layerwise data import cifar-10 FILE`): seconds are real, accuracy is chance")
    train_split = Split(data.train.x[:examples], data.train.y[:examples])
    return replace(data, train=train_split, val=None), source


def keras_missing() -> str | None:
    """Why the Keras rows cannot run here, or None."""
    if importlib.util.find_spec("keras") is None or \
            importlib.util.find_spec("tensorflow") is None:
        return ("Keras 3 with TensorFlow is not installed; pip install 'layerwise[bench-tf]' "
                "adds the report's own tool as a peer")
    return None


def keras_run(net: str, data: Dataset, epochs: int, seed: int, dropout: float) -> dict:
    """{"seconds_per_epoch", "test_accuracy", ...} of `net` in Keras, in a child process."""
    with tempfile.TemporaryDirectory(prefix="layerwise-keras-") as tmp:
        src, out, spec = Path(tmp) / "data.npz", Path(tmp) / "out.json", Path(tmp) / "spec.json"
        np.savez(src, train_x=data.train.x.cpu().numpy(), train_y=data.train.y.cpu().numpy(),
                 test_x=data.test.x.cpu().numpy(), test_y=data.test.y.cpu().numpy(),
                 classes=data.num_classes)
        spec.write_text(json.dumps({"layers": cifar.SPECS[net], "dropout": dropout,
                                    "epochs": epochs, "batch_size": BATCH, "seed": seed,
                                    "warmup_steps": WARMUP_STEPS}))
        cmd = [sys.executable, "-m", "layerwise.bench.keras_cifar", str(src), str(out),
               str(spec)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise RuntimeError(f"the Keras row of {net} failed: {last}")
        return json.loads(out.read_text())


def layerwise_run(net: torch.nn.Module, data: Dataset, epochs: int, seed: int) -> dict:
    """Seconds per epoch of `train` (after a warm-up on a copy) and the test accuracy."""
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=BATCH, epochs=epochs, seed=seed,
                      eval_every=10**9)
    warm = replace(cfg, epochs=None, steps=WARMUP_STEPS)
    train(copy.deepcopy(net), data, warm, progress=False)
    seconds = train(net, data, cfg, progress=False).train_seconds
    accuracy = evaluate(net, data.test, "classification")["accuracy"]
    return {"seconds_per_epoch": seconds / epochs, "test_accuracy": accuracy,
            "parameters": sum(p.numel() for p in net.parameters())}


def run(examples: int = 2048, epochs: int = 1, nets: tuple[str, ...] = NETS,
        data_dir: str | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Every net's Keras and layerwise rows, both orders, with paired floors (CPU)."""
    device = torch.device("cpu")
    data, source = cifar_images(examples, data_dir, seed)
    steps = math.ceil(len(data.train) / BATCH)
    report = {"suite": "cifar", "data": source, "examples": len(data.train),
              "epochs": epochs, "batch_size": BATCH, "nets": {}}
    missing = keras_missing()
    for name in nets:
        mcfg = ModelConfig(name).sized_for(data)
        torch.manual_seed(seed)
        init = build_model(mcfg)
        flops = step_flops(init, data.train.x[:BATCH], data.train.y[:BATCH]) * steps
        rows: dict[str, dict] = {KERAS: {"skipped": missing}} if missing else {}
        for row_name in both_orders([KERAS, OURS], rows, progress):
            if row_name == KERAS:
                figures = keras_run(name, data, epochs, seed, mcfg.dropout)
            else:
                figures = layerwise_run(copy.deepcopy(init), data, epochs, seed)
            rate = gemm_rate(device, torch.float32, repeats=3, windows=1)
            row = rows.setdefault(row_name, {"runs": []})
            row["runs"].append({"seconds_per_epoch": figures["seconds_per_epoch"],
                                "paired_gemm_flops": rate,
                                "x_floor": figures["seconds_per_epoch"] * rate / flops})
            row.update({k: v for k, v in figures.items() if k != "seconds_per_epoch"})
        for row in rows.values():
            if "runs" in row:
                row["seconds_per_epoch"] = statistics.fmean(r["seconds_per_epoch"]
                                                            for r in row["runs"])
                row["x_floor"] = statistics.fmean(r["x_floor"] for r in row["runs"])
        entry = {"epoch_flops": flops, "report_test_accuracy": REPORT_ACCURACY.get(name),
                 "rows": rows}
        if "seconds_per_epoch" in rows.get(KERAS, {}):
            entry["speedup_vs_keras"] = (rows[KERAS]["seconds_per_epoch"]
                                         / rows[OURS]["seconds_per_epoch"])
        report["nets"][name] = entry
    return report
