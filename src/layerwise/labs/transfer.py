"""Lab 9: save and restore deepnn, then transfer learning: a net trained on digits 0-4 is
restored, its convolutions frozen, and its other layers trained on digits 5-9, beside a net
trained on 5-9 from scratch for as many steps."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import torch

from layerwise.checkpoint import load_checkpoint, load_state_checked, save_checkpoint
from layerwise.data.datasets import Dataset, Split, load_dataset
from layerwise.device import resolve_device
from layerwise.lab_options import DEFAULT_STEPS, LabOptions
from layerwise.labs import estimate, plots
from layerwise.labs.course import wrap
from layerwise.nn.models import ModelConfig, build_model, freeze_layers
from layerwise.progress import labelled
from layerwise.runtime import check_outputs
from layerwise.train.trainer import TrainConfig, evaluate, train

FROZEN = 2  # the two convolutions: the layers "closer to inputs"
RUNS = ("digits 0-4", "transfer", "from scratch")  # how the progress lines name each training
TRAIN_LOSS = ("note: train loss is the mean over the steps since the previous line, with "
              "dropout on (the test accuracies below are measured without it).")


def _subset(split: Split, keep: torch.Tensor) -> Split:
    mask = torch.isin(split.y, keep)
    return Split(split.x[mask], split.y[mask])


def _digits(data: Dataset, digits: list[int]) -> Dataset:
    keep = torch.tensor(digits, device=data.train.y.device)
    return dataclasses.replace(data, train=_subset(data.train, keep), val=None,
                               test=_subset(data.test, keep))


def lab9(opts: LabOptions):
    """Save, restore (same predictions), then transfer: digits 0-4 -> 5-9 with frozen convs."""
    check_outputs(plots=opts.plots)
    device = resolve_device(opts.device)
    data = load_dataset(opts.dataset or "mnist-10k", val_size=0, seed=opts.seed, device=device)
    first, second = _digits(data, [0, 1, 2, 3, 4]), _digits(data, [5, 6, 7, 8, 9])
    steps = opts.steps_for(9)
    # A few evaluations of the training loss a run (no validation digits here).
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=50, steps=steps, seed=opts.seed,
                      eval_every=max(1, steps // 6))
    mcfg = ModelConfig("deepnn", data.input_shape, 10)  # dropout 0.5, the model's own
    if opts.progress:  # timed on the first training; the transfer, convolutions frozen, is
        # quicker: so "at most"
        estimate.announce(mcfg, first, cfg, DEFAULT_STEPS[9], len(RUNS), " at most")
    torch.manual_seed(opts.seed)
    base = build_model(mcfg).to(device)
    with labelled(RUNS[0]):
        first_run = train(base, first, cfg, progress=opts.progress)
    acc_first = evaluate(base, first.test, "classification")["accuracy"]
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(Path(tmp) / "digits0-4.pt", kind="supervised",
                               model_config=mcfg.to_dict(), state=base.state_dict(), step=steps)
        restored = build_model(mcfg).to(device)
        load_state_checked(restored, load_checkpoint(path, kind="supervised"), path)
    acc_restored = evaluate(restored, first.test, "classification")["accuracy"]
    same = _same_outputs(base, restored, first.test.x)
    freeze_layers(restored, FROZEN)
    with labelled(RUNS[1]):
        transfer = train(restored, second, cfg, progress=opts.progress)
    acc_transfer = evaluate(restored, second.test, "classification")["accuracy"]
    torch.manual_seed(opts.seed + 1)
    scratch = build_model(mcfg).to(device)
    with labelled(RUNS[2]):
        scratch_run = train(scratch, second, cfg, progress=opts.progress)
    acc_scratch = evaluate(scratch, second.test, "classification")["accuracy"]
    lines = wrap(TRAIN_LOSS) if opts.progress else []
    lines += [f"digits 0-4, {steps} steps: test accuracy {acc_first:.4f}",
              f"restored from checkpoint: test accuracy {acc_restored:.4f}"
              + (" (the same outputs, bit for bit)" if same else " (outputs differ)"),
              f"digits 5-9, conv layers frozen (transfer), {steps} steps: {acc_transfer:.4f}",
              f"digits 5-9 from scratch, {steps} steps: {acc_scratch:.4f}"]
    if acc_transfer < acc_scratch:
        lines += wrap(
            f"Transfer trails from scratch by {acc_scratch - acc_transfer:.4f}: its frozen "
            f"convolutions were learned on digits 0-4 in {steps} steps, so only its fully "
            "connected layers adapt to 5-9, while the net from scratch tunes its "
            "convolutions to 5-9 as well.")
    figures = {"test_accuracy": acc_transfer, "first_accuracy": acc_first,
               "restored_accuracy": acc_restored, "scratch_accuracy": acc_scratch,
               "restored_same_outputs": same, "steps": steps, "dataset": data.name,
               "device": str(device), "train_seconds": transfer.train_seconds,
               "histories": {name: r.history.rows for name, r in
                             zip(RUNS, (first_run, transfer, scratch_run), strict=True)}}
    if opts.plots:
        figures["wrote"] = [str(plots.transfer(
            figures["histories"],
            {"digits 0-4": acc_first, "restored (0-4)": acc_restored,
             "transfer (5-9)": acc_transfer, "from scratch (5-9)": acc_scratch},
            Path(opts.plots) / "lab9-transfer.png",
            f"Lab 9: deepnn, Adam 1e-3, {steps:,} steps a training on {data.name}; transfer "
            f"= digits 0-4's net, convolutions frozen"))]
    return lines, figures


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> bool:
    a.eval()
    b.eval()
    with torch.no_grad():
        return torch.equal(a(x[:500]), b(x[:500]))
