"""TensorBoard logging as in the course's Lab 6: separate `train/` and `test/` writers under one
run directory, so `tensorboard --logdir RUN` overlays the two curves.

Written at every evaluation: scalars (loss, accuracy or MSE) on both writers; histograms of every
weight and bias; weight images (a softmax's W as one 28x28 image per class, a CNN's first-layer
filters); once, the model graph.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def _first_weight(model: nn.Module) -> torch.Tensor | None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            return m.weight
    return None


def weight_images(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor | None:
    """First-layer weights as images (N, 1, H, W) scaled to [0, 1], or None if not image-like.

    Linear on flattened images: one image per output unit (a softmax's W: one per class).
    Conv2d: one image per filter (first input channel).
    """
    w = _first_weight(model)
    if w is None or len(input_shape) != 3:
        return None
    w = w.detach().float().cpu()
    c, h, width = input_shape
    if w.dim() == 4:  # (out, in, kh, kw)
        imgs = w[:, :1]
    elif w.shape[1] == c * h * width:
        imgs = w.reshape(-1, c, h, width)[:, :1]
    else:
        return None
    lo = imgs.amin(dim=(1, 2, 3), keepdim=True)
    hi = imgs.amax(dim=(1, 2, 3), keepdim=True)
    return (imgs - lo) / (hi - lo).clamp_min(1e-12)


class TensorBoardMonitor:
    """Writes `RUN/train` and `RUN/test` event files during training."""

    def __init__(self, logdir: str | Path, test_figures: Callable[[nn.Module], dict] | None,
                 example: torch.Tensor | None = None, max_images: int = 32):
        """`test_figures(model)` gives the test set's figures (loss, accuracy...) written on
        the `test/` writer at each evaluation; `example` (1, ...) an input for the graph."""
        from torch.utils.tensorboard import SummaryWriter  # imported only when logging

        self.logdir = Path(logdir)
        self.train_writer = SummaryWriter(str(self.logdir / "train"))
        self.test_writer = SummaryWriter(str(self.logdir / "test"))
        self.test_figures = test_figures
        self.example, self.max_images = example, max_images
        self._graph_written = False

    def end_eval(self, step: int, model: nn.Module, row: dict) -> None:
        tw = self.train_writer
        tw.add_scalar("loss", row["train_loss"], step)
        if self.test_figures is not None:
            figures = self.test_figures(model)
            for key, value in figures.items():
                self.test_writer.add_scalar(key, value, step)
        for key in ("val_loss", "val_accuracy", "val_mse"):
            if key in row:
                tw.add_scalar(key.replace("val_", "validation/"), row[key], step)
        for name, p in model.named_parameters():
            tw.add_histogram(name, p.detach().float().cpu(), step)
        if self.example is not None:
            imgs = weight_images(model, tuple(self.example.shape[1:]))
            if imgs is not None:
                tw.add_images("weights", imgs[: self.max_images], step)
            if not self._graph_written:
                self._write_graph(model)
        tw.flush()
        self.test_writer.flush()

    def _write_graph(self, model: nn.Module) -> None:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            self.train_writer.add_graph(model, self.example[:1])
        model.train(was_training)
        self._graph_written = True

    def close(self) -> None:
        self.train_writer.close()
        self.test_writer.close()
