"""`layerwise bench lab7`: the course's Lab 7 recipe (deepnn, Adam 1e-4, batches of 50,
dropout 0.5) as a plain eager PyTorch loop, as that loop with each usual speed-up alone, and as
layerwise's trainer, in one run and against a compute floor.

- floor: the step's floating-point operations, counted by torch's FlopCounterMode on the
  course's net (both convolutions and both dense layers, forward and backward; the first
  convolution needs no input gradient), divided by the device's GEMM rate at the row's
  precision. A short 2048^3 GEMM window runs right after each row and that row's x floor uses
  it, so a machine that slows down for a while (shared cores) does not flatter or blame a row.
- plain eager PyTorch, the peer: what a user writes from the course's listing (conv, ReLU,
  max-pool twice, dense, dropout, dense), each batch drawn on the host and copied over,
  `torch.optim.Adam` with its defaults (the per-tensor loop on a CPU), accuracy read back every
  100 steps as the course's loop printed it.
- the same loop with one change each: channels-last (NHWC) model and batches, the fused Adam
  kernel, `torch.compile` (inductor; compilation happens in the warm-up, not the timed steps),
  and bfloat16 autocast where the device multiplies bfloat16 natively (skipped, saying why,
  where it would be emulated).
- layerwise: `train` as `layerwise train` runs it: the dataset on the device, `randperm`
  slices, channels-last on a CPU, the fused Adam, max-pooling before the ReLU (they commute),
  the one-channel first convolution as a product of image patches on an AVX2 CPU
  (`layerwise.nn.layers.Conv2d`; oneDNN is faster on AVX-512 ones), nothing read back inside
  the loop. On CUDA two more rows replay each step from a CUDA graph, with float32 and with
  TensorFloat-32 products.

- products alone: the step's matrix products and nothing else, on random tensors of the step's
  shapes, as layerwise runs them (the first convolution as products of patches built beforehand
  on an AVX2 CPU and in oneDNN on other CPUs, the second in oneDNN, channels-last on a CPU, both
  dense layers as GEMMs; on CUDA the first too is a patch product, where layerwise leaves it to
  cuDNN), `steps` times. No
  implementation that uses these kernels beats it, so plain / products-alone bounds the speed-up
  any of them can reach, and layerwise - products-alone is the time of everything else
  (pooling, activations, dropout, loss, Adam, copies) that an implementation may still save.

- TensorFlow, the course's own tool: the Lab 7 listing as a `tf.compat.v1` graph with
  `feed_dict` batches (`layerwise.bench.tf_lab7`), in a process of its own, on the same images,
  batch size, step count and warm-up; its weights are the listing's own initialisation, not the
  shared one. Skipped, saying so, where TensorFlow is not installed (the `bench-tf` extra).

Every row starts from the same initial weights, runs WARMUP untimed steps first and then the
same number of timed steps, and reports the test accuracy it reached.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from layerwise.bench.harness import both_orders, gemm_rate, sync
from layerwise.data.datasets import load_dataset
from layerwise.device import native_bf16, tf32_products
from layerwise.nn.layers import patches_beat_onednn
from layerwise.nn.models import ModelConfig, build_model
from layerwise.train.trainer import TrainConfig, evaluate, train

BATCH, WARMUP = 50, 3
PRODUCTS = "products alone"
TENSORFLOW = "TensorFlow (course listing)"
TF_TIMEOUT = 1800  # seconds the TensorFlow child may take before the row is given up
NO_BF16 = ("this device has no native bfloat16 products (no AVX-512 BF16 or AMX on "
           "this CPU), so autocast would run emulated products far slower than float32")


@dataclass(frozen=True)
class Variant:
    """One change to the plain loop."""

    channels_last: bool = False
    fused_adam: bool = False
    compile: bool = False
    bf16_autocast: bool = False


PLAIN = {"plain eager PyTorch": Variant(),
         "plain + channels-last": Variant(channels_last=True),
         "plain + fused Adam": Variant(fused_adam=True),
         "plain + torch.compile": Variant(compile=True),
         "plain + bf16 autocast": Variant(bf16_autocast=True)}


def course_deepnn(c: int, h: int, w: int, classes: int) -> nn.Sequential:
    """deepnn as the course lists it, ReLU before pooling; its parameter names match
    `build_model("deepnn")`, so both load the same state dict."""
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(c, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 1024), nn.ReLU(),
                      nn.Dropout(0.5)),
        nn.Linear(1024, classes))


def step_flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Floating-point operations of one training step's forward and backward passes."""
    probe = copy.deepcopy(model)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(probe(x), y).backward()
    return counter.get_total_flops()


def plain_loop(model: nn.Module, data, steps: int, device: torch.device, seed: int,
               variant: Variant) -> float:
    """The course's loop in plain PyTorch with `variant`'s one change; returns the seconds of
    `steps` steps after WARMUP untimed ones."""
    x_host, y_host = data.train.x.cpu(), data.train.y.cpu()
    layout = torch.channels_last if variant.channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=variant.fused_adam or None)
    net = torch.compile(model) if variant.compile else model
    autocast = torch.autocast(device.type, torch.bfloat16) if variant.bf16_autocast \
        else nullcontext()
    g = torch.Generator().manual_seed(seed)
    model.train()

    def step(i: int) -> None:
        idx = torch.randint(0, len(x_host), (BATCH,), generator=g)
        x = x_host[idx].to(device).contiguous(memory_format=layout)
        y = y_host[idx].to(device)
        with autocast:
            out = net(x)
            loss = F.cross_entropy(out, y)
        if i % 100 == 0:
            _ = float((out.argmax(1) == y).float().mean())  # the course printed this
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(WARMUP):
        step(i + 1)
    sync(device)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    sync(device)
    return time.perf_counter() - start


def step_products(shape: tuple[int, int, int], classes: int, device: torch.device):
    """A function that runs deepnn's products once at batch BATCH on (C, H, W) images, on
    random data: conv1 forward and weight gradient (patches @ weight, gradient^T @ patches; it
    needs no input gradient), conv2 forward and backward, and each dense layer's forward,
    input-gradient and weight-gradient GEMMs; the flops `step_flops` counts."""
    c, h, w = shape
    gen = torch.Generator(device).manual_seed(0)

    def r(*size: int, layout=torch.contiguous_format) -> torch.Tensor:
        return torch.randn(*size, generator=gen, device=device).contiguous(memory_format=layout)

    nhwc = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    patches, w1, g1 = r(BATCH * h * w, c * 25), r(c * 25, 32), r(BATCH * h * w, 32)
    x2, w2 = r(BATCH, 32, h // 2, w // 2, layout=nhwc), r(64, 32, 5, 5, layout=nhwc)
    g2 = r(BATCH, 64, h // 2, w // 2, layout=nhwc)
    dense = [(r(BATCH, n_in), r(n_out, n_in), r(BATCH, n_out))
             for n_in, n_out in ((64 * (h // 4) * (w // 4), 1024), (1024, classes))]

    # conv1 as layerwise runs it (nn.layers.patches_beat_onednn): patches on an AVX2 CPU,
    # oneDNN elsewhere (forward and weight gradient; no input gradient)
    as_patches = device.type != "cpu" or patches_beat_onednn()
    x1, w1c = r(BATCH, c, h, w, layout=nhwc), r(32, c, 5, 5, layout=nhwc)

    def conv1() -> None:
        if as_patches:
            patches @ w1, g1.t() @ patches
            return
        F.conv2d(x1, w1c, padding=2)
        torch.ops.aten.convolution_backward(g1.view(BATCH, h, w, 32).permute(0, 3, 1, 2), x1,
                                            w1c, [32], [1, 1], [2, 2], [1, 1], False, [0, 0],
                                            1, [False, True, True])

    def once() -> None:
        conv1()
        F.conv2d(x2, w2, padding=2)
        torch.ops.aten.convolution_backward(g2, x2, w2, [64], [1, 1], [2, 2], [1, 1], False,
                                            [0, 0], 1, [True, True, True])
        for x, weight, grad in dense:
            x @ weight.t(), grad @ weight, grad.t() @ x

    return once


def products_alone(shape: tuple[int, int, int], classes: int, steps: int,
                   device: torch.device) -> float:
    """Seconds of `steps` runs of `step_products`, after WARMUP untimed ones."""
    once = step_products(shape, classes, device)
    for _ in range(WARMUP):
        once()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        once()
    sync(device)
    return time.perf_counter() - start


def tensorflow_run(data, steps: int, seed: int) -> dict:
    """{"seconds", "test_accuracy", ...} of the listing in TensorFlow (see tf_lab7), run in a
    child process on this run's training and test images (CPU only)."""
    with tempfile.TemporaryDirectory(prefix="layerwise-tf-") as tmp:
        src, out = Path(tmp) / "data.npz", Path(tmp) / "out.json"
        np.savez(src, train_x=data.train.x.cpu().numpy(), train_y=data.train.y.cpu().numpy(),
                 test_x=data.test.x.cpu().numpy(), test_y=data.test.y.cpu().numpy(),
                 classes=data.num_classes)
        cmd = [sys.executable, "-m", "layerwise.bench.tf_lab7", str(src), str(out),
               str(steps), str(WARMUP), str(BATCH), str(seed)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TF_TIMEOUT)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise RuntimeError(f"the TensorFlow row failed: {last}")
        return json.loads(out.read_text())


def tensorflow_missing(device: torch.device) -> str | None:
    """Why the TensorFlow row cannot run here, or None."""
    if device.type != "cpu":
        return "the TensorFlow row runs on the CPU only (tensorflow-cpu)"
    if importlib.util.find_spec("tensorflow") is None:
        return ("TensorFlow is not installed; pip install 'layerwise[bench-tf]' adds the "
                "course's own tool as a peer")
    return None


def layerwise_run(model: nn.Module, data, steps: int, seed: int, cuda_graphs: bool,
                  tf32: bool, precision: str = "float32") -> float:
    """Seconds of `train` for `steps` steps, after a WARMUP-step run on a copy (oneDNN and
    cuBLAS set up their kernels on first use)."""
    cfg = TrainConfig(optimizer="adam", lr=1e-4, batch_size=BATCH, steps=steps,
                      eval_every=steps + 1, seed=seed, cuda_graphs=cuda_graphs,
                      precision=precision)
    with tf32_products(tf32):
        warm = replace(cfg, steps=WARMUP, eval_every=WARMUP + 1)
        train(copy.deepcopy(model), data, warm, progress=False)
        return train(model, data, cfg, progress=False).train_seconds


def run(dataset: str, steps: int, device: torch.device, seed: int = 0,
        progress: bool = True) -> dict:
    """Every row twice, in order and then in reverse order, so that a machine drifting faster
    or slower over the run shifts every row alike; each row reports the mean of its two
    timings and of their paired x floor."""
    data = load_dataset(dataset, seed=seed, device=device, val_size=0, progress=progress)
    mcfg = ModelConfig("deepnn").sized_for(data)  # with the course's dropout 0.5
    torch.manual_seed(seed)
    init = build_model(mcfg).state_dict()
    flops = step_flops(course_deepnn(*mcfg.input_shape, mcfg.num_outputs).to(device),
                       data.train.x[:BATCH], data.train.y[:BATCH])
    gemm = {"float32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}
    rows: dict[str, dict] = {}
    specs = _row_specs(mcfg, data, steps, device, seed)
    rows.update({name: {"skipped": NO_BF16} for name, v in PLAIN.items()
                 if v.bf16_autocast and not native_bf16(device)})
    if tensorflow_missing(device):
        rows[TENSORFLOW] = {"skipped": tensorflow_missing(device)}
    for name in both_orders(list(specs), rows, progress):
        products, build, seconds_of = specs[name]
        model = build()  # None for products alone
        if model is not None:
            model.load_state_dict(init)
            torch.manual_seed(seed)  # the dropout masks
        try:
            seconds, child = seconds_of(model), {}
            if isinstance(seconds, dict):  # a row run in another process reports its own
                child, seconds = seconds, seconds["seconds"]
        except Exception as e:  # noqa: BLE001 - torch.compile without a working compiler
            if name != "plain + torch.compile":
                raise
            first = (str(e).strip().splitlines() or [""])[0][:200]
            rows[name] = {"skipped": f"torch.compile failed here: {type(e).__name__}: "
                                     f"{first}"}
            continue
        with tf32_products(products == "tf32"):
            rate = gemm_rate(device, gemm[products], repeats=3, windows=1)
        row = rows.setdefault(name, {"products": products, "runs": []})
        row["runs"].append({"seconds": seconds, "paired_gemm_flops": rate,
                            "x_floor": seconds * rate / (flops * steps)})
        if model is not None:
            row["test_accuracy"] = evaluate(model, data.test, "classification")["accuracy"]
        row.update({k: v for k, v in child.items() if k != "seconds"})
    for row in rows.values():
        if "runs" in row:
            row["seconds"] = statistics.fmean(r["seconds"] for r in row["runs"])
            row["x_floor"] = statistics.fmean(r["x_floor"] for r in row["runs"])
            row["paired_gemm_flops"] = statistics.fmean(r["paired_gemm_flops"]
                                                        for r in row["runs"])
    plain = rows["plain eager PyTorch"]
    # the comparisons at float32 (and TF32) products: bf16 is reported beside, not mixed in
    fastest = min((r for n, r in rows.items() if n.startswith("layerwise")
                   and r.get("products") != "bf16"), key=lambda r: r["seconds"])
    bound = rows[PRODUCTS]
    return {"suite": "lab7", "dataset": dataset, "steps": steps, "batch_size": BATCH,
            "warmup_steps": WARMUP, "step_flops": flops,
            "floor_seconds": flops * steps / plain["paired_gemm_flops"], "rows": rows,
            "speedup_vs_plain": plain["seconds"] / fastest["seconds"],
            "floor_speedup_vs_plain": plain["x_floor"] / fastest["x_floor"],
            "products_bound_vs_plain": plain["seconds"] / bound["seconds"],
            "floor_products_bound_vs_plain": plain["x_floor"] / bound["x_floor"],
            "beyond_products_seconds": fastest["seconds"] - bound["seconds"],
            **_against_tensorflow(rows.get(TENSORFLOW, {}), fastest),
            **_bf16_against_float32(rows.get("layerwise, bf16 autocast", {}),
                                    rows["layerwise"])}


def _bf16_against_float32(bf16: dict, fp32: dict) -> dict:
    """bf16 autocast's speed-up over float32 and its test accuracy less float32's, over the
    same steps; nothing where the row was not run."""
    if "seconds" not in bf16 or "seconds" not in fp32:
        return {}
    return {"bf16_speedup_vs_float32": fp32["seconds"] / bf16["seconds"],
            "bf16_accuracy_minus_float32": bf16["test_accuracy"] - fp32["test_accuracy"]}


def _against_tensorflow(tf_row: dict, fastest: dict) -> dict:
    """TensorFlow's seconds over layerwise's, by time and by the paired floors (above 1:
    layerwise is ahead); nothing where the row was skipped."""
    if "seconds" not in tf_row:
        return {}
    return {"speedup_vs_tensorflow": tf_row["seconds"] / fastest["seconds"],
            "floor_speedup_vs_tensorflow": tf_row["x_floor"] / fastest["x_floor"]}


def _row_specs(mcfg: ModelConfig, data, steps: int, device: torch.device, seed: int) -> dict:
    """name -> (products, build the model, seconds of its timed steps), for every row."""
    specs = {}

    def course():
        return course_deepnn(*mcfg.input_shape, mcfg.num_outputs).to(device)

    for name, variant in PLAIN.items():
        specs[name] = ("bf16" if variant.bf16_autocast else "float32", course,
                       lambda m, v=variant: plain_loop(m, data, steps, device, seed, v))
    ours = [("layerwise", False, False, "float32")]
    if native_bf16(device):
        ours.append(("layerwise, bf16 autocast", False, False, "bf16"))
    if device.type == "cuda":
        ours += [("layerwise, CUDA graph", True, False, "float32"),
                 ("layerwise, CUDA graph, TF32", True, True, "float32")]
    for name, graphs, tf32, precision in ours:
        products = "tf32" if tf32 else "bf16" if precision == "bf16" else "float32"
        specs[name] = (products, lambda: build_model(mcfg).to(device),
                       lambda m, g=graphs, t=tf32, p=precision: layerwise_run(
                           m, data, steps, seed, g, t, p))
    if not tensorflow_missing(device):
        specs[TENSORFLOW] = ("float32", lambda: None,
                             lambda _: tensorflow_run(data, steps, seed))
    specs[PRODUCTS] = ("float32", lambda: None, lambda _: products_alone(
        mcfg.input_shape, mcfg.num_outputs, steps, device))
    return specs
