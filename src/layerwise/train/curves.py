"""Learning curves, as CSV and PNG.

* Per-evaluation curves of one run: training loss and validation loss/accuracy against step.
* The course's slide "Learning curves": train and validation error against training-set size,
  each point a fresh model trained on the first m examples of the (shuffled) training set.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import torch

from layerwise.data.datasets import Dataset, Split
from layerwise.data.files import atomic_output
from layerwise.nn.models import ModelConfig, build_model
from layerwise.train.trainer import TrainConfig, evaluate, train


def write_csv(path: Path, rows: list[dict]) -> Path:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_output(path) as raw:
        text = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
        raw.write(("\n".join(text) + "\n").encode())
    return path


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def plot(path: Path, x: str, series: dict[str, list], xs: list, title: str, ylabel: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ys in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_output(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path


def write_run_curves(rows: list[dict], out_dir: str | Path, name: str = "curves") -> list[Path]:
    """CSV of every evaluation row and a PNG of the losses against step."""
    out = Path(out_dir)
    steps = [r["step"] for r in rows]
    series = {"train": [r["train_loss"] for r in rows]}
    if rows and "val_loss" in rows[0]:
        series["validation"] = [r["val_loss"] for r in rows]
    return [write_csv(out / f"{name}.csv", rows),
            plot(out / f"{name}.png", "step", series, steps, "loss per evaluation", "loss")]


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
    write_csv(Path(out_dir) / "learning_curve.csv", rows)
    plot(Path(out_dir) / "learning_curve.png", "training-set size",
         {"train": [r["train_error"] for r in rows],
          "validation": [r["val_error"] for r in rows]}, xs, "learning curve", "error")
    return rows
