"""The course's nine labs in today's terms. Each returns (lines to print, figures for --json).

Labs 1-3 are the graph-and-session warm-ups (constants, placeholders, variables) as eager
tensors; 4 fits W x + b by gradient descent; 5 adds a separate evaluation set; 6 is softmax
regression on digits; 7 the CNN "deepnn"; 8 device placement; 9 save/restore and transfer.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import torch

from layerwise.checkpoint import load_checkpoint, load_state_checked, save_checkpoint
from layerwise.data.datasets import Dataset, Split, load_dataset
from layerwise.device import describe, resolve_device
from layerwise.lab_options import LabOptions  # noqa: F401 - its home; re-exported here
from layerwise.nn.models import ModelConfig, build_model, freeze_layers
from layerwise.runtime import RunConfig, as_dataset
from layerwise.train.run import FitResult, fit
from layerwise.train.trainer import TrainConfig, evaluate, train


def lab1(opts: LabOptions):
    node1, node2 = torch.tensor(3.0), torch.tensor(4.0)
    node3 = node1 + node2
    return [f"{node1} {node2} {node3}", f"[{node1.item()}, {node2.item()}]",
            f"node3: {node3.item()}"], {"node3": node3.item()}


def lab2(opts: LabOptions):
    def adder(a, b):
        return torch.as_tensor(a) + torch.as_tensor(b)

    r1, r2, r3 = adder(3.0, 4.5), adder([1.0, 3.0], [2.0, 4.0]), adder(3.0, 4.5) * 3.0
    return [str(r1.item()), str(r2.tolist()), str(r3.item())], {
        "add": r1.item(), "add_vector": r2.tolist(), "add_and_triple": r3.item()}


def lab3(opts: LabOptions):
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = torch.tensor([0.0, -1.0, -2.0, -3.0])
    W, b = torch.tensor([0.3]), torch.tensor([-0.3])
    model = W * x + b
    loss = ((model - y) ** 2).sum()
    W.fill_(-1.0)
    b.fill_(1.0)
    fixed = ((W * x + b - y) ** 2).sum()
    return [str([round(v, 4) for v in model.tolist()]), f"{loss.item():.4g}",
            f"{fixed.item()}"], {"linear_model": model.tolist(), "loss": loss.item(),
                                 "loss_fixed": fixed.item()}


def lab4(opts: LabOptions):
    """Gradient descent, learning rate 0.01, on loss = sum (W x + b - y)^2, from W=.3, b=-.3."""
    data = load_dataset("lab4")
    model = build_model(ModelConfig("polynomial", (1,), 1, degree=1, init=(-0.3, 0.3)))
    a = model[0].a
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = opts.steps or 1000
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
    return lines, {"W": W, "b": b, "loss": final, "steps": steps, "table": table,
                   "dataset": "lab4"}


def lab5(opts: LabOptions):
    """A linear regressor trained on the Lab 4 points and evaluated on separate points."""
    cfg = TrainConfig(optimizer="sgd", lr=0.05, batch_size=4, steps=opts.steps or 1000,
                      eval_every=100, seed=opts.seed)
    run = RunConfig(device=opts.device, logdir=opts.logdir)
    figures = fit(ModelConfig("polynomial", degree=1), "lab4", cfg, run,
                  progress=opts.progress).to_dict()
    train_loss = figures["history"][-1]["train_loss"]
    lines = [f"train loss: {train_loss:.6g}", f"eval loss: {figures['test_loss']:.6g}"]
    return lines, {"train_loss": train_loss, "eval_loss": figures["test_loss"],
                   "steps": figures["steps"], "dataset": "lab4", "test_mse": figures["test_mse"],
                   "test_loss": figures["test_loss"], "train_seconds": figures["train_seconds"]}


def _supervised(opts: LabOptions, model: ModelConfig, cfg: TrainConfig, default_dataset: str):
    if opts.seeds > 1:
        return _over_seeds(opts, model, cfg, default_dataset)
    run = RunConfig(device=opts.device, logdir=opts.logdir)
    figures = fit(model, opts.dataset or default_dataset, cfg, run,
                  progress=opts.progress).to_dict()
    figures.pop("history")
    lines = [f"{figures['model']} on {figures['dataset']} ({figures['device']}): test accuracy "
             f"{figures['test_accuracy']:.4f} after {figures['steps']} steps, "
             f"{figures['train_seconds']:.1f} s"]
    return lines, figures


def over_seeds(model: ModelConfig, data, cfg: TrainConfig, seeds: range, run: RunConfig,
               progress: bool = True) -> list[FitResult]:
    """`fit` of the same recipe from each seed in `seeds` (initial weights, batch order,
    dropout) on one load of `data` (a name, split with the first seed, or a Dataset); only the
    first run logs to `run.logdir`."""
    device = resolve_device(run.device)
    data = as_dataset(data, run, seeds[0], device, progress)
    results = []
    for seed in seeds:
        this = run if seed == seeds[0] else dataclasses.replace(run, logdir=None)
        results.append(fit(model, data, dataclasses.replace(cfg, seed=seed), this,
                           progress=False))
        if progress:
            print(f"seed {seed}: test accuracy {results[-1].test_accuracy:.4f} "
                  f"({results[-1].train_seconds:.1f} s)", flush=True)
    return results


def accuracy_over_seeds(results: list[FitResult]) -> dict:
    """The test accuracies of runs of one recipe: each, their mean, sample standard deviation,
    min and max."""
    accuracy = torch.tensor([r.test_accuracy for r in results], dtype=torch.float64)
    return {"each": accuracy.tolist(), "mean": float(accuracy.mean()),
            "std": float(accuracy.std()), "min": float(accuracy.min()),
            "max": float(accuracy.max())}


def _over_seeds(opts: LabOptions, model: ModelConfig, cfg: TrainConfig, default_dataset: str):
    """The lab's figures over `opts.seeds` runs: `test_accuracy` is their mean, beside their
    standard deviation and each run's accuracy."""
    results = over_seeds(model, opts.dataset or default_dataset, cfg,
                         range(opts.seed, opts.seed + opts.seeds),
                         RunConfig(device=opts.device, logdir=opts.logdir), opts.progress)
    runs = [r.to_dict() for r in results]
    acc = accuracy_over_seeds(results)
    mean, std = acc["mean"], acc["std"]
    figures = {**{k: v for k, v in runs[0].items() if k != "history"},
               "test_accuracy": mean, "test_accuracy_std": std,
               "test_accuracy_seeds": acc["each"], "seeds": [opts.seed, opts.seed +
                                                             opts.seeds - 1],
               "test_loss": sum(r["test_loss"] for r in runs) / len(runs),
               "train_seconds": sum(r["train_seconds"] for r in runs) / len(runs)}
    lines = [f"{figures['model']} on {figures['dataset']} ({figures['device']}), seeds "
             f"{opts.seed}-{opts.seed + opts.seeds - 1}: test accuracy {mean:.4f} +- {std:.4f} "
             f"(min {acc['min']:.4f}, max {acc['max']:.4f}) after "
             f"{figures['steps']} steps, {figures['train_seconds']:.1f} s a run"]
    return lines, figures


def lab6(opts: LabOptions):
    cfg = TrainConfig(optimizer="sgd", lr=0.5, batch_size=100, steps=opts.steps or 1000,
                      eval_every=100, seed=opts.seed)
    return _supervised(opts, ModelConfig("softmax"), cfg, "mnist-10k")


def lab7(opts: LabOptions):
    cfg = TrainConfig(optimizer="adam", lr=1e-4, batch_size=50, steps=opts.steps or 20000,
                      eval_every=1000, seed=opts.seed)
    return _supervised(opts, ModelConfig("deepnn"), cfg, "mnist-10k")


def lab8(opts: LabOptions):
    """Place tensors on devices explicitly, as the course's tf.device blocks did."""
    gpus = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    first = gpus[0] if gpus else torch.device("cpu")
    last = gpus[-1] if gpus else torch.device("cpu")
    lines = [f"devices: cpu{''.join(', ' + str(g) for g in gpus)}"]
    a, b = torch.tensor(3.0, device=first), torch.tensor(4.0, device=first)
    c = a + b
    d, e = torch.tensor(5.0), torch.tensor(7.0)
    f = d * e
    h, g = torch.tensor(15.0, device=last), torch.tensor(97.0, device=last)
    k = h / g
    for name, t in (("a", a), ("b", b), ("c", c), ("d", d), ("e", e), ("f", f), ("h", h),
                    ("g", g), ("k", k)):
        lines.append(f"{name}: {t.device}")
    lines += [str([a.item(), b.item(), c.item()]), str([f.item()]), str([k.item()])]
    figures = {"c": c.item(), "f": f.item(), "k": k.item(), "placement": {
        "c": str(c.device), "f": str(f.device), "k": str(k.device)}, "gpus": len(gpus)}
    if gpus:
        torch.cuda.set_per_process_memory_fraction(0.4, first)
        lines.append(f"{describe(first)}: this process may use 40% of its memory")
    return lines, figures


def _subset(split: Split, keep: torch.Tensor) -> Split:
    mask = torch.isin(split.y, keep)
    return Split(split.x[mask], split.y[mask])


def _digits(data: Dataset, digits: list[int]) -> Dataset:
    keep = torch.tensor(digits, device=data.train.y.device)
    return dataclasses.replace(data, train=_subset(data.train, keep), val=None,
                               test=_subset(data.test, keep))


def lab9(opts: LabOptions):
    """Save, restore (same predictions), then transfer: digits 0-4 -> 5-9 with frozen convs."""
    device = resolve_device(opts.device)
    data = load_dataset(opts.dataset or "mnist-10k", val_size=0, seed=opts.seed, device=device)
    first, second = _digits(data, [0, 1, 2, 3, 4]), _digits(data, [5, 6, 7, 8, 9])
    steps = opts.steps or 300
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=50, steps=steps, seed=opts.seed)
    mcfg = ModelConfig("deepnn", data.input_shape, 10)  # dropout 0.5, the model's own
    torch.manual_seed(opts.seed)
    base = build_model(mcfg).to(device)
    train(base, first, cfg, progress=opts.progress)
    acc_first = evaluate(base, first.test, "classification")["accuracy"]
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(Path(tmp) / "digits0-4.pt", kind="supervised",
                               model_config=mcfg.to_dict(), state=base.state_dict(), step=steps)
        restored = build_model(mcfg).to(device)
        load_state_checked(restored, load_checkpoint(path, kind="supervised"), path)
    acc_restored = evaluate(restored, first.test, "classification")["accuracy"]
    freeze_layers(restored, 2)
    transfer = train(restored, second, cfg, progress=opts.progress)
    acc_transfer = evaluate(restored, second.test, "classification")["accuracy"]
    torch.manual_seed(opts.seed + 1)
    scratch = build_model(mcfg).to(device)
    train(scratch, second, cfg, progress=opts.progress)
    acc_scratch = evaluate(scratch, second.test, "classification")["accuracy"]
    lines = [f"digits 0-4, {steps} steps: test accuracy {acc_first:.4f}",
             f"restored from checkpoint: test accuracy {acc_restored:.4f}",
             f"digits 5-9, conv layers frozen, {steps} steps: {acc_transfer:.4f}",
             f"digits 5-9 from scratch, {steps} steps: {acc_scratch:.4f}"]
    return lines, {"test_accuracy": acc_transfer, "first_accuracy": acc_first,
                   "restored_accuracy": acc_restored, "scratch_accuracy": acc_scratch,
                   "steps": steps, "dataset": data.name, "device": str(device),
                   "train_seconds": transfer.train_seconds}


LABS = {1: lab1, 2: lab2, 3: lab3, 4: lab4, 5: lab5, 6: lab6, 7: lab7, 8: lab8, 9: lab9}

# What each lab runs, in one line, and what the course printed for it (lab: [(figure, value)]).
RECIPES = {
    1: "constants and an addition (the course's graph and session, as eager tensors)",
    2: "an adder applied to numbers and vectors (the course's placeholders)",
    3: "a linear model W x + b and its squared loss, before and after fixing W, b by hand",
    4: "W x + b fitted by gradient descent, lr 0.01, 1,000 steps on x = 1..4, y = 0..-3",
    5: "the same linear regression as an estimator, train and separate evaluation points",
    6: "softmax regression (Lab 6): GD lr 0.5, 1,000 steps of 100",
    7: "deepnn (Lab 7): conv 5x5x32, pool, conv 5x5x64, pool, fc 1024, dropout 0.5; Adam 1e-4, "
       "20,000 steps of 50",
    8: "tensors placed on devices explicitly, and a GPU memory cap",
    9: "save and restore deepnn, then transfer: digits 0-4 -> 5-9 with the convolutions frozen",
}
COURSE = {
    1: [("node3", 7.0)],
    2: [("add", 7.5), ("add_vector", [3.0, 7.0]), ("add_and_triple", 22.5)],
    3: [("linear_model", [0.0, 0.30000001, 0.60000002, 0.90000004]), ("loss", 23.66),
        ("loss_fixed", 0.0)],
    4: [("W", -0.9999969), ("b", 0.99999082), ("loss", 5.69997e-11)],
    6: [("test_accuracy", 0.92)],  # "92 %", on full MNIST
    7: [("test_accuracy", 0.992)],  # "99.2 %" on full MNIST (the course's hardware table)
}


def beside_the_course(number: int, figures: dict) -> list[dict]:
    """Rows of (figure, the course's value, ours, difference) for what the course printed."""
    rows = []
    for name, printed in COURSE.get(number, []):
        ours = figures[name]
        if isinstance(printed, list):
            diff = max(abs(a - b) for a, b in zip(ours, printed, strict=True))
        else:
            diff = ours - printed
        rows.append({"figure": name, "course": printed, "here": ours, "difference": diff})
    return rows
