"""A look at a dataset before training on it: a grid of training examples, one row per class,
labelled with the class names (as the course looks at MNIST digits and the report at CIFAR-10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layerwise.data.datasets import Dataset
from layerwise.data.files import atomic_output
from layerwise.errors import ConfigError

MAX_PER_CLASS = 100  # images in a class's row (each a matplotlib subplot)

def class_examples(data: Dataset, per_class: int) -> list[np.ndarray]:
    """For each class, its first `per_class` training images as (n, H, W) grey or (n, H, W, 3)
    colour arrays in [0, 1] (fewer where a class has fewer)."""
    if data.task != "classification":
        raise ConfigError(f"data show draws labelled images; {data.name} is {data.task} data.")
    if data.train.x.dim() != 4 or data.train.x.shape[1] not in (1, 3):
        raise ConfigError(f"{data.name} holds inputs of shape {tuple(data.train.x.shape[1:])}, "
                          "not grey or colour images.")
    x, y = data.train.x.cpu(), data.train.y.cpu()
    rows = []
    for c in range(data.num_classes):
        picked = x[y == c][:per_class].permute(0, 2, 3, 1).numpy()  # (n, H, W, C)
        rows.append(picked[..., 0] if picked.shape[-1] == 1 else picked)
    return rows


def save_examples(data: Dataset, path: str | Path, per_class: int = 8) -> Path:
    """Write a PNG of `per_class` training examples of every class of `data`, one row each."""
    if per_class < 1:
        raise ConfigError(f"--per-class must be at least 1, got {per_class}.")
    if per_class > MAX_PER_CLASS:
        raise ConfigError(f"--per-class must be at most {MAX_PER_CLASS} (one row of images per "
                          f"class), got {per_class:,}.")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = class_examples(data, per_class)
    fig, axes = plt.subplots(len(rows), per_class, squeeze=False,
                             figsize=(0.9 * per_class + 1.6, 0.9 * len(rows) + 0.6))
    for r, (images, name) in enumerate(zip(rows, data.classes, strict=True)):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(images[c], cmap="gray" if images[c].ndim == 2 else None,
                          vmin=0.0, vmax=1.0)
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{data.name}: {len(data.train):,} training images, {data.num_classes} classes "
                 f"(first {per_class} of each)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path
