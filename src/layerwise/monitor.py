"""TensorBoard logging as in the course's Lab 6: separate `train/` and `test/` writers under one
run directory, so `tensorboard --logdir RUN` overlays the two curves.

Written at every evaluation: scalars (loss, accuracy or MSE) on both writers; histograms of every
weight and bias; weight images (a softmax's W as one 28x28 image per class, a CNN's first-layer
filters); once, the model graph.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from layerwise.data.files import write_reason
from layerwise.errors import DataError


def summary_writer(directory: str | Path):
    """torch's SummaryWriter writing event files to `directory`, through tensorboard's own
    file layer: where TensorFlow is installed, tensorboard would import it for its file I/O
    (seconds, and TensorFlow's C++ log lines on the terminal) though local event files need
    nothing of it; "tensorboard.compat.notf" is tensorboard's switch for that."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    _quiet_writer_threads()
    from torch.utils.tensorboard import SummaryWriter  # imported only when logging

    return SummaryWriter(str(directory))


def _quiet_writer_threads() -> None:
    """tensorboard's writer thread re-raises a failed write (a full disk) after storing it,
    and the main thread raises that same error at its next write, where `EventLog` says it
    in one sentence: the thread's own traceback would only repeat it."""
    previous = threading.excepthook
    if getattr(previous, "layerwise", False):
        return

    def hook(args):
        if type(args.thread).__name__ == "_AsyncWriterThread" and isinstance(
                args.exc_value, OSError):
            return
        previous(args)

    hook.layerwise = True
    threading.excepthook = hook


class EventLog:
    """The SummaryWriters of one run directory, whose failed writes (a full or read-only file
    system) are one sentence: the event files this run started are removed, as a partial
    checkpoint is, and later writes and `close` do nothing."""

    def __init__(self, logdir: str | Path, names: tuple[str, ...]):
        self.logdir = Path(logdir)
        self.writers: dict[str, object] = {}
        self.failed = False
        with self.writing():
            for name in names:
                self.writers[name] = summary_writer(self.logdir / name)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            self.failed = True
            self._discard()
            raise DataError(f"cannot write the TensorBoard events in {self.logdir}: "
                            f"{write_reason(exc)}; the event files of this run were removed "
                            "(choose another --logdir or free some space).") from None

    def _discard(self) -> None:
        for w in self.writers.values():
            files = [getattr(getattr(fw, "event_writer", None), "_file_name", None)
                     for fw in (getattr(w, "all_writers", None) or {}).values()]
            with contextlib.suppress(Exception):
                w.close()
            for name in filter(None, files):
                with contextlib.suppress(OSError):
                    Path(name).unlink()

    def close(self) -> None:
        if self.failed:
            return
        with self.writing():
            for w in self.writers.values():
                w.close()


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
        self.logdir = Path(logdir)
        self.events = EventLog(self.logdir, ("train", "test"))
        self.train_writer = self.events.writers["train"]
        self.test_writer = self.events.writers["test"]
        self.test_figures = test_figures
        self.example, self.max_images = example, max_images
        self._graph_written = False

    def end_eval(self, step: int, model: nn.Module, row: dict) -> None:
        figures = self.test_figures(model) if self.test_figures is not None else {}
        if not self.events.failed:
            with self.events.writing():
                self._write(step, model, row, figures)

    def _write(self, step: int, model: nn.Module, row: dict, figures: dict) -> None:
        tw = self.train_writer
        tw.add_scalar("loss", row["train_loss"], step)
        if self.test_figures is not None:
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
        self.events.close()
