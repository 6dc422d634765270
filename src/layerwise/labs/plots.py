"""The figures the course shows for its labs, drawn with matplotlib (Agg) as PNGs.

Lab 4: W and b approaching -1 and 1 and the loss on a log axis, every 100 steps as the course
logged them to TensorBoard; Lab 6: W as ten 28x28 images, one per digit (the course's
`tf.summary.image('W', ...)`) and the learning curve; Lab 7: the learning curves; Lab 9: the
three trainings side by side. Every line has markers (a run of one evaluation shows its point),
step axes run from 0, a loss that spans decades is on a log axis.
"""

from __future__ import annotations

from pathlib import Path

import torch

from layerwise.data.files import atomic_output
from layerwise.plots import plot, spans_decades


def convergence(table: list, path: Path, final: tuple | None = None) -> Path:
    """Lab 4: W, b and the loss (log axis: it falls to 1e-11) against step; `final` (step, W,
    b, loss) adds the last step where the table, logged every 100 steps, stops short of it."""
    if final is not None and (not table or table[-1][0] < final[0]):
        table = [*table, list(final)]
    steps = [r[0] for r in table]
    return plot(path, "gradient-descent step",
                {"W": [r[1] for r in table], "b": [r[2] for r in table]}, steps,
                "Lab 4: gradient descent on the course's four points, to W = -1, b = 1; "
                f"final loss {table[-1][3]:.2g}", "parameter value",
                right={"loss": [max(r[3], 1e-12) for r in table]},
                right_label="loss, sum of squares", x_from_zero=True)


def weights(W: torch.Tensor, path: Path, title: str) -> Path:
    """Lab 6: the softmax weights W (10, 28, 28), one image per digit, on one diverging colour
    scale centred at 0 (red: the pixel votes for the digit, blue: against)."""
    assert W.shape[0] == 10 and W.shape[1:] == (28, 28), f"W of shape {tuple(W.shape)}"
    plt = _pyplot()
    fig, axes = plt.subplots(2, 5, figsize=(9, 4.4), layout="constrained")
    m = float(W.abs().max()) or 1.0
    for digit, ax in enumerate(axes.flat):
        image = ax.imshow(W[digit].cpu().numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
        ax.set_title(f"digit {digit}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def learning_curves(history: list[dict], path: Path, title: str) -> Path:
    """Labs 6 and 7: the training and validation loss (left) and the validation accuracy
    (right) at each evaluation."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.3), layout="constrained")
    steps = [r["step"] for r in history]
    losses = {"training loss (mean since the last evaluation)":
              [r["train_loss"] for r in history]}
    if history and "val_loss" in history[0]:
        losses["validation loss"] = [r["val_loss"] for r in history]
    for (label, ys), marker in zip(losses.items(), "os", strict=False):
        left.plot(steps, ys, marker=marker, label=label)
    _loss_axis(left, [v for ys in losses.values() for v in ys], "cross-entropy loss")
    if history and "val_accuracy" in history[0]:
        right.plot(steps, [r["val_accuracy"] for r in history], marker="o",
                   color="tab:green", label="validation accuracy")
    right.set_ylabel("validation accuracy")
    for ax in (left, right):
        _step_axis(ax, steps)
    handles = [h for ax in (left, right) for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def transfer(histories: dict[str, list[dict]], accuracies: dict[str, tuple[float, str]],
             path: Path, title: str) -> Path:
    """Lab 9: each training's loss against step (left) and each net's test accuracy (right:
    label -> (accuracy, the training it comes from), its bar in that training's colour and
    the value written on it)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.3), layout="constrained",
                                      width_ratios=(3, 2))
    colour, every = {}, []
    for (label, history), marker in zip(histories.items(), "os^", strict=False):
        steps = [r["step"] for r in history]
        line, = left.plot(steps, [r["train_loss"] for r in history], marker=marker, label=label)
        colour[label] = line.get_color()
        every += steps
    _loss_axis(left, [r["train_loss"] for h in histories.values() for r in h],
               "training loss (mean since the last point)")
    _step_axis(left, every)
    left.legend(fontsize=8, loc="upper right")
    values = [v for v, _ in accuracies.values()]
    bars = right.barh(range(len(values)), values,
                      color=[colour.get(run, "#888") for _, run in accuracies.values()])
    right.bar_label(bars, [f"{v:.4f}" for v in values], padding=3, fontsize=8)
    right.set_yticks(range(len(values)), list(accuracies), fontsize=8)
    right.invert_yaxis()
    right.set_xlim(0, 1.15)
    right.set_xlabel("test accuracy")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _loss_axis(ax, values: list, label: str) -> None:
    if spans_decades(values):
        ax.set_yscale("log")
        label += " (log scale)"
    ax.set_ylabel(label)


def _step_axis(ax, steps: list) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(0, max(steps, default=1) * 1.05)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_output(path) as f:
        fig.savefig(f, format="png", dpi=100)
    _pyplot().close(fig)
    return path
