"""`layerwise bench lab7`: the course's Lab 7 recipe (deepnn, Adam 1e-4, batches of 50,
dropout 0.5), timed with layerwise's trainer and with a plain eager PyTorch loop in the same run.

The peer is what a user would write from the course's listing: model on the device, each batch
drawn on the host and copied over, `torch.optim.Adam` with default (unfused) kernels, accuracy
read back every 100 steps as the course's loop printed it. layerwise keeps the dataset on the
device, draws batches as `randperm` slices there, uses the fused Adam on CUDA and reads nothing
back inside the loop. On CUDA two more rows replay each step from a CUDA graph
(`--cuda-graphs`), with float32 and with TensorFloat-32 matrix products (convolutions keep
PyTorch's default in every row). All see the same initial weights and the same number of steps.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from layerwise.data.datasets import load_dataset
from layerwise.device import tf32_products
from layerwise.nn.models import ModelConfig, build_model
from layerwise.train.trainer import TrainConfig, evaluate, train


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_eager(model, data, steps: int, batch: int, device: torch.device, seed: int) -> float:
    """The course's loop in plain PyTorch; returns seconds."""
    x_host, y_host = data.train.x.cpu(), data.train.y.cpu()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, foreach=False)
    g = torch.Generator().manual_seed(seed)
    model.train()
    _sync(device)
    start = time.perf_counter()
    for i in range(steps):
        idx = torch.randint(0, len(x_host), (batch,), generator=g)
        x, y = x_host[idx].to(device), y_host[idx].to(device)
        out = model(x)
        if i % 100 == 0:
            _ = float((out.argmax(1) == y).float().mean())  # the course printed this
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _sync(device)
    return time.perf_counter() - start


def run(dataset: str, steps: int, device: torch.device, seed: int = 0,
        progress: bool = True) -> dict:
    data = load_dataset(dataset, seed=seed, device=device, val_size=0, progress=progress)
    mcfg = ModelConfig("deepnn").sized_for(data)  # with the course's dropout 0.5
    torch.manual_seed(seed)
    init = build_model(mcfg).state_dict()
    rows = {}
    peer = build_model(mcfg).to(device)
    peer.load_state_dict(init)
    seconds = plain_eager(peer, data, steps, 50, device, seed)
    rows["plain eager PyTorch"] = {"seconds": seconds, "test_accuracy":
                                   evaluate(peer, data.test, "classification")["accuracy"]}
    variants = [("layerwise", False, False)]
    if device.type == "cuda":
        variants += [("layerwise, CUDA graph", True, False),
                     ("layerwise, CUDA graph, TF32", True, True)]
    for name, graphs, tf32 in variants:
        ours = build_model(mcfg).to(device)
        ours.load_state_dict(init)
        cfg = TrainConfig(optimizer="adam", lr=1e-4, batch_size=50, steps=steps,
                          eval_every=steps + 1, seed=seed, cuda_graphs=graphs)
        with tf32_products(tf32):
            result = train(ours, data, cfg, progress=progress)
        rows[name] = {"seconds": result.train_seconds, "test_accuracy":
                      evaluate(ours, data.test, "classification")["accuracy"]}
    fastest = min(rows[name]["seconds"] for name, _, _ in variants)
    speedup = rows["plain eager PyTorch"]["seconds"] / fastest
    return {"suite": "lab7", "dataset": dataset, "steps": steps, "batch_size": 50,
            "rows": rows, "speedup_vs_plain": speedup}
