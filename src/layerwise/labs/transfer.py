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
from layerwise.train.trainer import TrainConfig, TrainResult, evaluate, train

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
    """Save, restore (the same weights), then transfer: digits 0-4 -> 5-9 with frozen convs."""
    check_outputs(plots=opts.plots)
    device, steps = resolve_device(opts.device), opts.steps_for(9)
    data = load_dataset(opts.dataset or "mnist-10k", val_size=0, seed=opts.seed, device=device)
    first, second = _digits(data, [0, 1, 2, 3, 4]), _digits(data, [5, 6, 7, 8, 9])
    # A few evaluations of the training loss a run (no validation digits here).
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=50, steps=steps, seed=opts.seed,
                      eval_every=max(1, steps // 6))
    mcfg = ModelConfig("deepnn", data.input_shape, 10)  # dropout 0.5, the model's own
    if opts.progress:  # timed on the first training; the transfer, convolutions frozen, is
        # quicker: so "at most"
        estimate.announce(mcfg, first, cfg, DEFAULT_STEPS[9], len(RUNS), " at most")
    torch.manual_seed(opts.seed)
    base = build_model(mcfg).to(device)
    runs = {RUNS[0]: _train(base, first, cfg, RUNS[0], opts.progress)}
    restored = _save_and_restore(base, mcfg, steps)
    acc = {"first": _accuracy(base, first), "restored": _accuracy(restored, first)}
    same = _same_weights(base, restored)
    freeze_layers(restored, FROZEN)
    runs[RUNS[1]] = _train(restored, second, cfg, RUNS[1], opts.progress)
    torch.manual_seed(opts.seed + 1)
    scratch = build_model(mcfg).to(device)
    runs[RUNS[2]] = _train(scratch, second, cfg, RUNS[2], opts.progress)
    acc |= {"transfer": _accuracy(restored, second), "scratch": _accuracy(scratch, second)}
    lines = (wrap(TRAIN_LOSS) if opts.progress else []) + _results(acc, same, steps,
                                                                    len(second.test))
    figures = {"test_accuracy": acc["transfer"], "first_accuracy": acc["first"],
               "restored_accuracy": acc["restored"], "scratch_accuracy": acc["scratch"],
               "restored_same_weights": same, "steps": steps, "dataset": data.name,
               "device": str(device), "train_seconds": runs[RUNS[1]].train_seconds,
               "histories": {name: r.history.rows for name, r in runs.items()}}
    if opts.plots:
        figures["wrote"] = [str(plots.transfer(
            figures["histories"],
            {"digits 0-4": (acc["first"], RUNS[0]), "restored (0-4)": (acc["restored"], RUNS[0]),
             "transfer (5-9)": (acc["transfer"], RUNS[1]),
             "from scratch (5-9)": (acc["scratch"], RUNS[2])},
            Path(opts.plots) / "lab9-transfer.png",
            f"Lab 9: deepnn, Adam 1e-3, {steps:,} steps a training on {data.name}; transfer "
            f"= digits 0-4's net, convolutions frozen"))]
    return lines, figures


def _train(model: torch.nn.Module, data: Dataset, cfg: TrainConfig, name: str,
           progress: bool) -> TrainResult:
    with labelled(name):  # its progress lines say which of the three trainings they are
        return train(model, data, cfg, progress=progress)


def _accuracy(model: torch.nn.Module, data: Dataset) -> float:
    return evaluate(model, data.test, "classification")["accuracy"]


def _save_and_restore(model: torch.nn.Module, mcfg: ModelConfig, step: int) -> torch.nn.Module:
    """`model` saved to a checkpoint and built again from it, on the same device."""
    device = next(model.parameters()).device
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(Path(tmp) / "digits0-4.pt", kind="supervised",
                               model_config=mcfg.to_dict(), state=model.state_dict(), step=step)
        restored = build_model(mcfg).to(device)
        load_state_checked(restored, load_checkpoint(path, kind="supervised"), path)
    return restored


def _results(acc: dict, same: bool, steps: int, tested: int) -> list[str]:
    """The four accuracies, labelled, and why transfer trails from scratch where it does."""
    lines = [f"digits 0-4, {steps} steps: test accuracy {acc['first']:.4f}",
             f"restored from checkpoint: test accuracy {acc['restored']:.4f}"
             + (" (its weights equal those saved, bit for bit)" if same
                else " (its weights differ from those saved)"),
             f"digits 5-9, conv layers frozen (transfer), {steps} steps: {acc['transfer']:.4f}",
             f"digits 5-9 from scratch, {steps} steps: {acc['scratch']:.4f}"]
    gap = acc["scratch"] - acc["transfer"]
    if gap > 0:
        lines += wrap(
            f"Transfer trails from scratch by {gap:.4f} ({round(gap * tested):,} of "
            f"{tested:,} test digits): its frozen convolutions were learned on digits 0-4 in "
            f"{steps} steps, so only its fully connected layers adapt to 5-9, while the net "
            "from scratch tunes its convolutions to 5-9 as well.")
    return lines


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether every parameter and buffer of `a` and `b` is equal, bit for bit (their memory
    layouts may differ: training puts a convolutional net in channels-last on the CPU)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
