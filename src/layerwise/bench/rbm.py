"""`layerwise bench rbm`: one CD-1 epoch of a 784 x 500 binary RBM, batch 100, on binarised
Fashion-MNIST (all 60,000 training images), side by side with its peers and against the floor.

- floor: the epoch's 10 N V H floating-point operations (CD-1 is five (B, V, H) products: data up,
  reconstruction down, reconstruction up, and the two outer products of the update) divided by
  this device's measured GEMM rate for the same dtype, measured in the same run;
- layerwise: `CDTrainer` (one fused GEMM for both outer products, the momentum step fused
  into it, samples drawn on the device, no host synchronisation inside the epoch), and the
  same with bfloat16 products (`--matmul bf16`) against the floor of the bf16 GEMM rate;
- plain PyTorch: the textbook loop with five separate products and torch.bernoulli;
- products alone: the epoch's products and nothing else, as layerwise arranges them (data up,
  reconstruction down, reconstruction up, one (V, 2B) @ (2B, H) GEMM accumulating into the
  velocity), on the epoch's batches: no implementation with these GEMMs beats it, so its x floor
  is the lowest x floor CD-1 can reach at batch 100 on this device;
- scikit-learn BernoulliRBM and learnergy's RBM, when installed (`pip install '.[bench]'`);
- then the report's problem (8,000 x 20,000, random binary data; 1,000 examples on a CPU, the
  report's 8,000 on a GPU): achieved FLOP rate per precision against the GEMM rate of that
  precision.

Every implementation is warmed up before it is timed; GPU timings synchronise first. On a shared
machine the speed of the same epoch drifts by a quarter within a minute, so the floor is paired
with each timing: a short GEMM window runs between every two timed epochs (or fits), each epoch
is divided by the floor of the window beside it, every row runs twice (in order, then in
reverse order) and the table gives the medians over both passes' epochs.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch

from layerwise.bench.harness import both_orders, gemm_rate, sync
from layerwise.data.datasets import load_dataset
from layerwise.device import native_bf16, tf32_products
from layerwise.rbm.loop import run_epochs
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.train import CDConfig, CDTrainer

V, H, B = 784, 500, 100
EPOCHS = 2  # timed epochs per implementation and pass; the median of both passes is reported
BF16_EMULATED = ("skipped: this device has no native bfloat16 products (no AVX-512 BF16 or AMX "
                 "on this CPU), so they would be emulated and far slower than float32")


Between = Callable[[], None]  # runs between two timed epochs: the paired GEMM window


def time_layerwise(x: torch.Tensor, seed: int, between: Between = lambda: None,
                   matmul: str = "full", cuda_graphs: bool = False) -> list[float]:
    """Seconds of each of EPOCHS epochs of `CDTrainer`, `between()` after every epoch. With
    `cuda_graphs` the first epoch (which captures the graph) is run and not counted."""
    skip = 1 if cuda_graphs else 0
    rbm = RBM(RBMConfig(V, H), torch.Generator().manual_seed(seed)).to(x.device)
    trainer = CDTrainer(rbm, CDConfig(epochs=EPOCHS + skip, batch_size=B, lr=0.05,
                                      momentum=0.5, matmul=matmul, seed=seed))
    for _ in range(10):  # warm-up
        trainer.step(x[:B])
    sync(x.device)

    def on_epoch(record):
        if record.epoch > skip:
            between()

    # fit reads each epoch's error, so the device is synchronised at every epoch's end, and
    # its clock starts after on_epoch returns
    records = run_epochs(trainer, x, on_epoch, cuda_graphs=cuda_graphs)
    return [r.seconds for r in records[skip:]]


def time_plain(x: torch.Tensor, seed: int, between: Between = lambda: None) -> list[float]:
    """The loop as it is usually written: five matmuls, torch.bernoulli, no fusion."""
    g = torch.Generator(x.device).manual_seed(seed)
    W = torch.randn(V, H, generator=g, device=x.device) * 0.01
    b_vis, b_hid = torch.zeros(V, device=x.device), torch.zeros(H, device=x.device)
    lr = 0.05

    def step(v):
        nonlocal W, b_vis, b_hid
        h_pos = torch.sigmoid(v @ W + b_hid)
        h = torch.bernoulli(h_pos, generator=g)
        v_neg = torch.sigmoid(h @ W.T + b_vis)
        h_neg = torch.sigmoid(v_neg @ W + b_hid)
        W = W + lr * (v.T @ h_pos - v_neg.T @ h_neg) / len(v)
        b_vis = b_vis + lr * (v - v_neg).mean(0)
        b_hid = b_hid + lr * (h_pos - h_neg).mean(0)

    def epoch():
        for idx in torch.randperm(len(x), generator=g, device=x.device).split(B):
            step(x[idx])

    for _ in range(10):
        step(x[:B])
    return time_fits(epoch, between, x.device)


def time_products(x: torch.Tensor, seed: int, between: Between = lambda: None) -> list[float]:
    """The epoch's 10 N V H flops of products alone, in preallocated buffers (see the module's
    docstring)."""
    g = torch.Generator(x.device).manual_seed(seed)
    W = torch.randn(V, H, generator=g, device=x.device) * 0.01
    vel = torch.zeros_like(W)
    h, v_neg = x.new_empty(B, H), x.new_empty(B, V)
    X = torch.rand(2 * B, V, generator=g, device=x.device, dtype=x.dtype)  # both phases'
    Hs = torch.rand(2 * B, H, generator=g, device=x.device, dtype=x.dtype)  # statistics

    def step(v):
        n = len(v)  # the last batch may be short
        torch.mm(v, W, out=h[:n])
        torch.mm(h[:n], W.T, out=v_neg[:n])
        torch.mm(v_neg[:n], W, out=h[:n])
        vel.addmm_(X[:2 * n].T, Hs[:2 * n], beta=0.5, alpha=0.05 / B)

    def epoch():
        for v in x.split(B):
            step(v)

    for _ in range(10):
        step(x[:B])
    return time_fits(epoch, between, x.device)


def time_fits(fit_once: Callable[[], object], between: Between,
              device: torch.device) -> list[float]:
    """The wall time of EPOCHS calls of fit_once() (one epoch each, `device` synchronised on
    both sides), `between()` after each."""
    seconds = []
    for _ in range(EPOCHS):
        sync(device)
        start = time.perf_counter()
        fit_once()
        sync(device)
        seconds.append(time.perf_counter() - start)
        between()
    return seconds


def time_sklearn(x: torch.Tensor, seed: int, between: Between = lambda: None,
                 dtype: str = "float32", ours: bool = False) -> list[float] | str:
    """scikit-learn's BernoulliRBM on data of `dtype` (it computes in the data's float type),
    or with `ours` the drop-in `layerwise.sklearn.BernoulliRBM` on x's device."""
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        return "not installed (pip install '.[bench]')"
    import numpy as np

    extra = {}
    if ours:
        from layerwise.sklearn import BernoulliRBM
        extra = {"device": str(x.device)}
    data = x.cpu().numpy().astype(np.dtype(dtype))

    def fit_once():
        return BernoulliRBM(n_components=H, batch_size=B, learning_rate=0.05, n_iter=1,
                            random_state=seed, **extra).fit(data)

    BernoulliRBM(n_components=H, batch_size=B, n_iter=1, random_state=seed,
                 **extra).fit(data[:1000])  # warm-up
    return time_fits(fit_once, between, x.device)


def time_learnergy(x: torch.Tensor, seed: int, between: Between = lambda: None
                   ) -> list[float] | str:
    try:
        from learnergy.models.bernoulli import RBM as LearnergyRBM
    except ImportError:
        return "not installed (pip install '.[bench]')"
    import logging

    logging.getLogger("learnergy").setLevel(logging.WARNING)
    torch.manual_seed(seed)
    dataset = torch.utils.data.TensorDataset(x.cpu(), torch.zeros(len(x)))
    use_gpu = x.device.type == "cuda"
    model = LearnergyRBM(n_visible=V, n_hidden=H, steps=1, learning_rate=0.05, momentum=0,
                         decay=0, temperature=1, use_gpu=use_gpu)
    model.fit(torch.utils.data.Subset(dataset, range(1000)), batch_size=B, epochs=1)
    return time_fits(lambda: model.fit(dataset, batch_size=B, epochs=1), between, x.device)


def large_problem(device: torch.device, examples: int, seed: int = 0) -> list[dict]:
    """The report's problem, 8,000 visible x 20,000 hidden on random binary vectors, batch 100:
    achieved FLOP rate of one CD-1 epoch per precision against that precision's GEMM rate.

    float64 and float32 are the storage dtype; bf16 and TF32 train float32 weights with those
    products (`--matmul`), against a bf16 x bf16 GEMM and a TF32 GEMM. TF32 is CUDA only."""
    V_big, H_big = 8000, 20000
    g = torch.Generator(device).manual_seed(seed)
    x = (torch.rand(examples, V_big, generator=g, device=device) < 0.5).float()
    n = 2048 if device.type == "cpu" else 8192
    # (name, storage dtype, --matmul, the GEMM whose rate bounds it)
    precisions = [("float64", "float64", "full", torch.float64),
                  ("float32", "float32", "full", torch.float32),
                  ("bf16", "float32", "bf16", torch.bfloat16)]
    if device.type == "cuda":
        precisions.insert(2, ("tf32", "float32", "tf32", torch.float32))
    rows = []
    for name, dtype, matmul, gemm_dtype in precisions:
        if matmul == "bf16" and not native_bf16(device):
            rows.append({"precision": name, "skipped": BF16_EMULATED})
            continue
        with tf32_products(matmul == "tf32"):
            rate = gemm_rate(device, gemm_dtype, n=n)
        rbm = RBM(RBMConfig(V_big, H_big, dtype=dtype),
                  torch.Generator().manual_seed(seed)).to(device)
        trainer = CDTrainer(rbm, CDConfig(epochs=1, batch_size=B, matmul=matmul, seed=seed))
        xs = x.to(rbm.W.dtype)
        trainer.step(xs[:B])  # warm-up
        sync(device)
        seconds = run_epochs(trainer, xs)[0].seconds
        del rbm, trainer, xs  # the next precision needs the memory
        achieved = 10 * examples * V_big * H_big / seconds
        rows.append({"precision": name, "examples": examples, "epoch_seconds": seconds,
                     "achieved_flops": achieved, "gemm_flops": rate,
                     "fraction_of_gemm": achieved / rate})
    return rows


def time_paired(fn, x: torch.Tensor, seed: int, gemm_dtype: torch.dtype) -> dict | str:
    """Time fn's epochs with a GEMM window of gemm_dtype after each; x_floors are each
    (epoch seconds) / (10 N V H / the window's rate), x_floor their median."""
    paired: list[float] = []
    seconds = fn(x, seed, lambda: paired.append(
        gemm_rate(x.device, gemm_dtype, repeats=3, windows=1)))
    if isinstance(seconds, str):
        return seconds
    flops = 10 * len(x) * V * H
    x_floors = [s * r / flops for s, r in zip(seconds, paired, strict=True)]
    return {"seconds": statistics.median(seconds), "epoch_seconds": seconds,
            "paired_gemm_flops": paired, "x_floors": x_floors,
            "x_floor": statistics.median(x_floors)}


def time_rows(specs: list[tuple[str, str, Callable]], x: torch.Tensor, seed: int,
              progress: bool = True) -> dict[str, dict]:
    """Every (name, products, fn) row in two passes, in order and then in reverse order, so
    that a machine drifting faster or slower over the run shifts every row alike; a row's
    seconds and x floor are the medians over both passes' epochs. bf16 rows on a device without
    native bf16, and rows whose fn returns a reason instead of timings, are marked skipped."""
    rows: dict[str, dict] = {}
    for name, products, _ in specs:
        if products == "bf16" and not native_bf16(x.device):
            rows[name] = {"skipped": BF16_EMULATED}
    by_name = {name: (products, fn) for name, products, fn in specs}
    for name in both_orders(list(by_name), rows, progress):
        products, fn = by_name[name]
        floor_of = torch.bfloat16 if products == "bf16" else torch.float32  # float64 too
        timed = time_paired(fn, x, seed, floor_of)
        if isinstance(timed, str):
            rows[name] = {"skipped": timed}
            continue
        row = rows.setdefault(name, {"products": products, "epoch_seconds": [],
                                     "paired_gemm_flops": [], "x_floors": []})
        for key in ("epoch_seconds", "paired_gemm_flops", "x_floors"):
            row[key] += timed[key]
    for row in rows.values():
        if "epoch_seconds" in row:
            row["seconds"] = statistics.median(row["epoch_seconds"])
            row["x_floor"] = statistics.median(row["x_floors"])
    return rows


def run(dataset: str, device: torch.device, seed: int = 0, progress: bool = True) -> dict:
    data = load_dataset(dataset, val_size=0, seed=seed, device=device, progress=progress)
    x = (data.train.x.reshape(len(data.train), -1) > 0.5).float()
    if x.shape[1] != V:
        raise ValueError(f"the rbm bench needs 784-pixel images; {dataset} has {x.shape[1]}.")
    flops = 10 * len(x) * V * H
    graphed = [("layerwise, CUDA graph", "float32",
                lambda x, seed, between: time_layerwise(x, seed, between, cuda_graphs=True)),
               ("layerwise, CUDA graph, bf16 products", "bf16",
                lambda x, seed, between: time_layerwise(x, seed, between, "bf16", True))]
    specs = [*(graphed if device.type == "cuda" else []),
             ("layerwise", "float32", time_layerwise),
             ("products alone", "float32", time_products),
             ("plain PyTorch", "float32", time_plain),
             ("scikit-learn BernoulliRBM, float32", "float32", time_sklearn),
             ("scikit-learn BernoulliRBM, float64", "float64",
              lambda x, seed, between: time_sklearn(x, seed, between, "float64")),
             ("layerwise.sklearn BernoulliRBM", "float32",
              lambda x, seed, between: time_sklearn(x, seed, between, ours=True)),
             ("learnergy RBM", "float32", time_learnergy),
             ("layerwise, bf16 products", "bf16",
              lambda x, seed, between: time_layerwise(x, seed, between, matmul="bf16"))]
    rows = time_rows(specs, x, seed, progress)
    rates: dict[str, list[float]] = {"float32": [], "bf16": []}
    for row in rows.values():
        if "paired_gemm_flops" in row:
            rates["bf16" if row["products"] == "bf16" else "float32"] += row["paired_gemm_flops"]
    if progress:
        print("timing the report's 8000 x 20000 problem ...", flush=True)
    large = large_problem(device, 8000 if device.type == "cuda" else 1000, seed)
    rate = {p: statistics.median(r) if r else math.nan for p, r in rates.items()}
    return {"suite": "rbm", "dataset": dataset, "examples": len(x), "visible": V, "hidden": H,
            "versus_sklearn": versus_sklearn(rows), "large_problem": large, "batch_size": B,
            "timed_epochs": 2 * EPOCHS,
            "gemm_flops": rate["float32"], "floor_seconds": flops / rate["float32"],
            "gemm_flops_range": [min(rates["float32"]), max(rates["float32"])],
            "bf16_gemm_flops": rate["bf16"], "bf16_floor_seconds": flops / rate["bf16"],
            "rows": rows}


def versus_sklearn(rows: dict) -> dict | None:
    """layerwise's CD-1 epoch against scikit-learn's BernoulliRBM at its best (the faster of
    its float32 and float64 rows): the ratio of their times and of their x floor, which
    corrects for the machine's speed drifting between the two."""
    peers = [(name, r) for name, r in rows.items()
             if name.startswith("scikit-learn") and "seconds" in r]
    if not peers or "seconds" not in rows.get("layerwise", {}):
        return None
    name, best = min(peers, key=lambda p: p[1]["seconds"])
    ours = rows["layerwise"]
    return {"peer": name, "speedup": best["seconds"] / ours["seconds"],
            "floor_speedup": best["x_floor"] / ours["x_floor"]}
