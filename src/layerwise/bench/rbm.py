"""`layerwise bench rbm`: one CD-1 epoch of a 784 x 500 binary RBM, batch 100, on binarised
Fashion-MNIST (all 60,000 training images), side by side with its peers and against the floor.

- floor: the epoch's 10 N V H floating-point operations (CD-1 is five (B, V, H) products: data up,
  reconstruction down, reconstruction up, and the two outer products of the update) divided by
  this device's measured GEMM rate for the same dtype, measured in the same run;
- layerwise: `CDTrainer` (one fused GEMM for both outer products, the momentum step fused
  into it, samples drawn on the device, no host synchronisation inside the epoch);
- plain PyTorch: the textbook loop with five separate products and torch.bernoulli;
- scikit-learn BernoulliRBM and learnergy's RBM, when installed (`pip install '.[bench]'`);
- then the report's problem (8,000 x 20,000, random binary data; 1,000 examples on a CPU, the
  report's 8,000 on a GPU): achieved FLOP rate per precision against the GEMM rate of that
  precision.

Every implementation is warmed up before it is timed; GPU timings synchronise first.
"""

from __future__ import annotations

import time

import torch

from layerwise.data.datasets import load_dataset
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.train import CDConfig, CDTrainer, fit

V, H, B = 784, 500, 100


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_rate(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 10
              ) -> float:
    """Measured FLOP/s of an n x n x n matrix product (the device's practical peak)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(2):
        torch.mm(a, b, out=c)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b, out=c)
    _sync(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - start)


def time_layerwise(x: torch.Tensor, seed: int) -> float:
    rbm = RBM(RBMConfig(V, H), torch.Generator().manual_seed(seed)).to(x.device)
    trainer = CDTrainer(rbm, CDConfig(epochs=1, batch_size=B, lr=0.05, momentum=0.5,
                                      seed=seed))
    for _ in range(10):  # warm-up
        trainer.step(x[:B])
    _sync(x.device)
    return fit(trainer, x)[0].seconds  # fit reads the epoch's error: the device is synchronised


def time_plain(x: torch.Tensor, seed: int) -> float:
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

    for _ in range(10):
        step(x[:B])
    _sync(x.device)
    start = time.perf_counter()
    for idx in torch.randperm(len(x), generator=g, device=x.device).split(B):
        step(x[idx])
    _sync(x.device)
    return time.perf_counter() - start


def time_sklearn(x: torch.Tensor, seed: int) -> float | str:
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        return "not installed (pip install '.[bench]')"
    import numpy as np

    data = x.cpu().numpy().astype(np.float64)  # its own default dtype; float32 is slower there
    BernoulliRBM(n_components=H, batch_size=B, n_iter=1, random_state=seed).fit(data[:1000])
    start = time.perf_counter()
    BernoulliRBM(n_components=H, batch_size=B, learning_rate=0.05, n_iter=1,
                 random_state=seed).fit(data)
    return time.perf_counter() - start


def time_learnergy(x: torch.Tensor, seed: int) -> float | str:
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
    start = time.perf_counter()
    model.fit(dataset, batch_size=B, epochs=1)
    return time.perf_counter() - start


def large_problem(device: torch.device, examples: int, seed: int = 0) -> list[dict]:
    """The report's problem, 8,000 visible x 20,000 hidden on random binary vectors, batch 100:
    achieved FLOP rate of one CD-1 epoch per precision against that precision's GEMM rate.
    TF32 (float32 storage, TensorFloat-32 products) is measured on CUDA devices only."""
    V_big, H_big = 8000, 20000
    g = torch.Generator(device).manual_seed(seed)
    x = (torch.rand(examples, V_big, generator=g, device=device) < 0.5).float()
    precisions = [("float64", torch.float64, False), ("float32", torch.float32, False)]
    if device.type == "cuda":
        precisions.append(("tf32", torch.float32, True))
    rows = []
    for name, dtype, tf32 in precisions:
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        try:
            rate = gemm_rate(device, dtype, n=2048 if device.type == "cpu" else 8192)
            rbm = RBM(RBMConfig(V_big, H_big, dtype=name if name != "tf32" else "float32"),
                      torch.Generator().manual_seed(seed)).to(device)
            trainer = CDTrainer(rbm, CDConfig(epochs=1, batch_size=B, seed=seed))
            xs = x.to(dtype)
            trainer.step(xs[:B])  # warm-up
            _sync(device)
            seconds = fit(trainer, xs)[0].seconds
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
        achieved = 10 * examples * V_big * H_big / seconds
        rows.append({"precision": name, "examples": examples, "epoch_seconds": seconds,
                     "achieved_flops": achieved, "gemm_flops": rate,
                     "fraction_of_gemm": achieved / rate})
    return rows


def run(dataset: str, device: torch.device, seed: int = 0, progress: bool = True) -> dict:
    data = load_dataset(dataset, val_size=0, seed=seed, device=device, progress=progress)
    x = (data.train.x.reshape(len(data.train), -1) > 0.5).float()
    if x.shape[1] != V:
        raise ValueError(f"the rbm bench needs 784-pixel images; {dataset} has {x.shape[1]}.")
    N = len(x)
    rate = gemm_rate(device, torch.float32)
    floor = 10 * N * V * H / rate
    rows: dict[str, float | str] = {}
    for name, fn in (("layerwise", time_layerwise), ("plain PyTorch", time_plain),
                     ("scikit-learn BernoulliRBM", time_sklearn),
                     ("learnergy RBM", time_learnergy)):
        if progress:
            print(f"timing {name} ...", flush=True)
        rows[name] = fn(x, seed)
    if progress:
        print("timing the report's 8000 x 20000 problem ...", flush=True)
    large = large_problem(device, 8000 if device.type == "cuda" else 1000, seed)
    return {"suite": "rbm", "dataset": dataset, "examples": N, "visible": V, "hidden": H,
            "large_problem": large,
            "batch_size": B, "gemm_flops": rate, "floor_seconds": floor,
            "rows": {n: ({"seconds": s, "x_floor": s / floor} if isinstance(s, float)
                         else {"skipped": s}) for n, s in rows.items()}}
