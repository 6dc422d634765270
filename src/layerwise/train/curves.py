"""Learning curves, as CSV and PNG.

* Per-evaluation curves of one run: training loss and validation loss/accuracy against step.
* The course's slide "Learning curves": train and validation error against training-set size,
  each point a fresh model trained on the first m examples of the (shuffled) training set.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from layerwise.data.datasets import Dataset, Split
from layerwise.nn.models import ModelConfig, build_model
from layerwise.plots import write_curves
from layerwise.train.trainer import TrainConfig, evaluate, train
from layerwise.wording import plural


def write_run_curves(rows: list[dict], out_dir: str | Path, title: str = "",
                     name: str = "curves") -> list[Path]:
    """CSV of every evaluation row and a PNG of train and validation loss against step, with
    validation accuracy on a second axis (classification); `title` names model, data, recipe."""
    out = Path(out_dir)
    steps = [r["step"] for r in rows]
    series = {"train loss": [r["train_loss"] for r in rows]}
    if rows and "val_loss" in rows[0]:
        series["validation loss"] = [r["val_loss"] for r in rows]
    right = {"validation accuracy": [r["val_accuracy"] for r in rows]} \
        if rows and "val_accuracy" in rows[0] else None
    return write_curves(out / f"{name}.csv", rows, out / f"{name}.png", "training step",
                        series, steps, title or "learning curves", "loss", right=right,
                        right_label="validation accuracy", x_from_zero=True)


def recipe_text(cfg: TrainConfig) -> str:
    """The recipe in a few words: `adam lr 0.001, 2,000 steps of 50`."""
    return f"{cfg.optimizer} lr {cfg.lr:g}, {recipe_length(cfg)} of {cfg.batch_size}"


def recipe_length(cfg: TrainConfig) -> str:
    """How long the recipe trains: `2,000 steps`, `1 epoch` (one epoch when neither is set)."""
    if cfg.steps is not None:
        return plural(cfg.steps, "step")
    return plural(cfg.epochs if cfg.epochs is not None else 1, "epoch")


def error(figures: dict) -> float:
    """Classification error (1 - accuracy) or MSE."""
    return 1.0 - figures["accuracy"] if "accuracy" in figures else figures["mse"]


def size_curve(mcfg: ModelConfig, data: Dataset, cfg: TrainConfig, sizes: list[int],
               out_dir: str | Path, progress: bool = False) -> list[dict]:
    """Train a fresh model on the first m training examples for each m; write CSV and PNG."""
    assert data.val is not None and len(data.val), "a size curve needs a validation set"
    rows = []
    for m in sizes:
        sub = dataclasses.replace(data, train=Split(data.train.x[:m], data.train.y[:m]))
        torch.manual_seed(cfg.seed)
        model = build_model(mcfg).to(data.train.x.device)
        train(model, sub, cfg, progress=progress)
        rows.append({"train_size": m,
                     "train_error": error(evaluate(model, sub.train, data.task)),
                     "val_error": error(evaluate(model, data.val, data.task))})
    xs = [r["train_size"] for r in rows]
    out = Path(out_dir)
    write_curves(out / "learning_curve.csv", rows, out / "learning_curve.png",
                 "training-set size (log scale)",
                 {"train": [r["train_error"] for r in rows],
                  "validation": [r["val_error"] for r in rows]}, xs,
                 f"learning curve: {mcfg.name} on {data.name}, {recipe_text(cfg)} per size",
                 "error" if data.task == "classification" else "MSE", log_x=True)
    return rows
