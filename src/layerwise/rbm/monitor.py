"""TensorBoard for RBM training: what tells a user whether CD is working.

Scalars per epoch: reconstruction error, pseudo-likelihood per unit (binary units), and the
free-energy gap mean F(held-out) - mean F(train sample): it grows when the RBM starts to
overfit (Hinton's practical guide, section 6). Histograms of W, b_vis, b_hid; a filter grid.
"""

from __future__ import annotations

from pathlib import Path

import torch

from layerwise.rbm.images import filter_grid
from layerwise.rbm.measures import pseudo_likelihood
from layerwise.rbm.model import RBM


def epoch_measures(rbm: RBM, train_sample: torch.Tensor, held_out: torch.Tensor | None,
                   generator: torch.Generator) -> dict:
    """Pseudo-likelihood and the free-energy gap on fixed samples of the data."""
    figures = {}
    if not rbm.gaussian:
        figures["pseudo_likelihood"] = pseudo_likelihood(rbm, train_sample, generator)
    if held_out is not None:
        gap = rbm.free_energy(held_out).mean() - rbm.free_energy(train_sample).mean()
        figures["free_energy_gap"] = gap.item()
    return figures


def write_epoch_curves(history: list[dict], out_dir: str | Path, title: str) -> list[Path]:
    """curves.csv (every epoch's row) and curves.png: reconstruction error per epoch, with the
    pseudo-likelihood (binary units) on a second axis; `title` names the model and data."""
    from layerwise.plots import write_curves

    out = Path(out_dir)
    epochs = [r["epoch"] for r in history]
    right = {"log pseudo-likelihood per unit (training sample)":
             [r["pseudo_likelihood"] for r in history]} \
        if history and "pseudo_likelihood" in history[0] else None
    return write_curves(out / "curves.csv", history, out / "curves.png", "epoch",
                        {"reconstruction error (training batches)":
                         [r["recon_error"] for r in history]},
                        epochs, title, "mean squared error per visible unit", right=right,
                        right_label="log pseudo-likelihood per unit (nats)", x_from_zero=True)


class RBMMonitor:
    def __init__(self, logdir: str | Path):
        from layerwise.monitor import EventLog

        self.events = EventLog(logdir, ("train",))
        self.writer = self.events.writers["train"]

    def epoch(self, epoch: int, rbm: RBM, figures: dict) -> None:
        if not self.events.failed:
            with self.events.writing():
                self._write(epoch, rbm, figures)

    def _write(self, epoch: int, rbm: RBM, figures: dict) -> None:
        for name, value in figures.items():
            if isinstance(value, float):
                self.writer.add_scalar(f"rbm/{name}", value, epoch)
        for name in ("W", "b_vis", "b_hid"):
            self.writer.add_histogram(name, getattr(rbm, name).float().cpu(), epoch)
        if rbm.cfg.learn_sigma:
            self.writer.add_histogram("sigma", rbm.sigma.float().cpu(), epoch)
        grid = filter_grid(rbm.W)
        if grid is not None:
            self.writer.add_image("filters", grid[None], epoch)
        self.writer.flush()

    def close(self) -> None:
        self.events.close()
