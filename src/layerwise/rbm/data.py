"""Preparing image data for RBM visible units.

Binary units take values in [0, 1] (grey levels act as probabilities, as in Hinton's practical
guide) or, with `binarize`, pixels thresholded at 0.5. Gaussian units take each pixel standardised
to zero mean and unit variance over the training set, with the std floored at `MIN_STD` (5 % of
the [0, 1] pixel range): an edge pixel that is almost never on would otherwise turn one stray
stroke in new data into a value in the hundreds and dominate its free energy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from layerwise.data.datasets import Dataset, Split
from layerwise.errors import ConfigError

MIN_STD = 0.05


@dataclass(frozen=True)
class Preprocessing:
    visible: str = "binary"
    binarize: bool = False
    mean: torch.Tensor | None = None  # (V,) for Gaussian units
    std: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Images (N, ...) -> visible vectors (N, V) of `dtype`."""
        v = x.reshape(len(x), -1).to(dtype)
        if self.visible == "gaussian":
            return (v - self.mean.to(v)) / self.std.to(v)
        if self.binarize:
            return (v > 0.5).to(dtype)
        if not bool(torch.isfinite(v).all()):
            raise ConfigError("the data holds NaN or infinite values; binary visible units "
                              "need values in [0, 1].")
        lo, hi = v.min().item(), v.max().item()
        if lo < 0 or hi > 1:
            raise ConfigError(f"binary visible units need data in [0, 1], but these values "
                              f"range over [{lo:.3g}, {hi:.3g}]; rescale them, pass "
                              "--binarize to threshold at 0.5, or use --visible gaussian.")
        return v

    def to_dict(self) -> dict:
        d = {"visible": self.visible, "binarize": self.binarize}
        if self.mean is not None:
            d.update(mean=self.mean.cpu(), std=self.std.cpu())
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        return cls(d.get("visible", "binary"), bool(d.get("binarize", False)), d.get("mean"),
                   d.get("std"))


def fit_preprocessing(x_train: torch.Tensor, visible: str, binarize: bool) -> Preprocessing:
    """The preprocessing for `visible` units, fitted on the training images."""
    if visible != "gaussian":
        return Preprocessing(visible, binarize)
    if binarize:
        raise ConfigError("--binarize is for binary visible units, not Gaussian ones.")
    v = x_train.reshape(len(x_train), -1).double()
    std = v.std(0).clamp_min(MIN_STD)
    return Preprocessing(visible, False, v.mean(0).float(), std.float())


def chunked(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, size: int = 5000
            ) -> torch.Tensor:
    """f applied to x in chunks of `size` rows (bounded memory for the intermediate tensors)."""
    return torch.cat([f(chunk) for chunk in x.split(size)])


def map_inputs(data: Dataset, f: Callable[[torch.Tensor], torch.Tensor]) -> Dataset:
    """`data` with every split's inputs replaced by f(inputs); labels kept."""
    def split(s: Split | None) -> Split | None:
        return None if s is None else Split(chunked(f, s.x), s.y)
    return Dataset(data.name, data.task, split(data.train), split(data.val), split(data.test),
                   data.classes, data.source)
