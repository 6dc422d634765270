"""Labs 4 and 5: the line W x + b fitted to the course's four points, by hand-written gradient
descent (Lab 4) and as an estimator with separate evaluation points (Lab 5)."""

from __future__ import annotations

from pathlib import Path

import torch

from layerwise.data.datasets import load_dataset
from layerwise.lab_options import LabOptions
from layerwise.labs import plots
from layerwise.labs.course import wrap
from layerwise.nn.models import ModelConfig, build_model
from layerwise.runtime import RunConfig, check_outputs
from layerwise.train.run import fit
from layerwise.train.trainer import TrainConfig

LAB5_EVERY = 100  # steps between Lab 5's rows (the course's estimator logged every 100)


def lab4(opts: LabOptions):
    """Gradient descent, learning rate 0.01, on loss = sum (W x + b - y)^2, from W=.3, b=-.3."""
    check_outputs(plots=opts.plots)
    data = load_dataset("lab4")
    model = build_model(ModelConfig("polynomial", (1,), 1, degree=1, init=(-0.3, 0.3)))
    a = model[0].a  # (b, W): y = a_0 + a_1 x
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = opts.steps_for(4)
    lines, table = [f"{'step':>5} {'W':>12} {'b':>12} {'loss':>12}"], []
    for i in range(steps):
        loss = ((model(data.train.x) - data.train.y) ** 2).sum()
        if i % 100 == 0:
            table.append([i, a[1].item(), a[0].item(), loss.item()])
            lines.append(f"{i:>5} {a[1].item():>12.8f} {a[0].item():>12.8f} {loss.item():>12.6g}")
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = ((model(data.train.x) - data.train.y) ** 2).sum().item()
    W, b = a[1].item(), a[0].item()
    lines.append(f"W: {W:.8f} b: {b:.8f} loss: {final:.6g}")
    figures = {"W": W, "b": b, "loss": final, "steps": steps, "table": table,
               "dataset": "lab4"}
    if opts.plots:
        figures["wrote"] = [str(plots.convergence(
            table, Path(opts.plots) / "lab4-convergence.png", (steps, W, b, final)))]
    return lines, figures


def lab5(opts: LabOptions):
    """A linear regressor trained on the Lab 4 points and evaluated on separate points."""
    cfg = TrainConfig(optimizer="sgd", lr=0.05, batch_size=4, steps=opts.steps_for(5),
                      eval_every=LAB5_EVERY, seed=opts.seed)
    run = RunConfig(device=opts.device, logdir=opts.logdir)
    # Its own table below rather than the trainer's progress lines: those print four decimals,
    # and this loss falls to 1e-12.
    result = fit(ModelConfig("polynomial", degree=1), "lab4", cfg, run, progress=False)
    figures = result.to_dict()
    history = figures["history"]
    a = result.model[0].a.detach()
    W, b = a[1].item(), a[0].item()
    train_loss = history[-1]["train_loss"]
    lines = [f"{'step':>5}  train loss"]
    lines += [f"{r['step']:>5}  {r['train_loss']:.3g}" for r in history]
    lines += wrap(f"note: train loss is the mean squared error over the steps since the row "
                  f"above (up to {LAB5_EVERY}), each on a batch of the 4 points.")
    lines += [f"W: {W:.8f} b: {b:.8f}",
              f"train loss: {train_loss:.6g}",
              f"eval loss: {figures['test_loss']:.6g} (W = -1, b = 1 exactly gives 0.002525: "
              "(0.01^2 + 0.1^2) / 4)"]
    return lines, {"train_loss": train_loss, "eval_loss": figures["test_loss"],
                   "steps": figures["steps"], "dataset": "lab4", "test_mse": figures["test_mse"],
                   "test_loss": figures["test_loss"], "train_seconds": figures["train_seconds"],
                   "W": W, "b": b, "history": history}
