"""Pictures of an RBM: filter grids and Gibbs samples, as tensors (for TensorBoard) and PNGs."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from layerwise.data.files import atomic_output
from layerwise.errors import ConfigError
from layerwise.memory import check_fits


def image_side(n_visible: int) -> int | None:
    """The side of a square grey image of n_visible pixels, or None."""
    side = math.isqrt(n_visible)
    return side if side * side == n_visible else None


def tile(images: torch.Tensor, columns: int | None = None, scale_each: bool = True
         ) -> torch.Tensor | None:
    """(n, V) square grey images -> one (rows * s + 1, columns * s + 1) grid in [0, 1]."""
    n, V = images.shape
    side = image_side(V)
    if side is None or n == 0:
        return None
    x = images.detach().float().cpu().reshape(n, side, side)
    if scale_each:  # each filter on its own scale: its sign pattern is what matters
        lo = x.amin((1, 2), keepdim=True)
        hi = x.amax((1, 2), keepdim=True)
        x = (x - lo) / (hi - lo).clamp_min(1e-12)
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = torch.ones(rows * (side + 1) + 1, columns * (side + 1) + 1)
    for k in range(n):
        r, c = divmod(k, columns)
        grid[1 + r * (side + 1):1 + r * (side + 1) + side,
             1 + c * (side + 1):1 + c * (side + 1) + side] = x[k]
    return grid


MAX_FILTERS = 400  # filters drawn at most (the first ones), so a grid stays readable
MAX_SAMPLES = 10_000  # Gibbs samples drawn at most: a grid of 100 x 100 images in one PNG
MAX_GIBBS_STEPS = 1_000_000  # 20 minutes for 64 chains of 784 x 500 on one CPU core


def filter_grid(W: torch.Tensor, n: int = MAX_FILTERS) -> torch.Tensor | None:
    """The first n hidden units' incoming weights W[:, j] as images (all of them up to n)."""
    return tile(W[:, :n].T)


def filters_title(W: torch.Tensor, what: str = "RBM") -> str:
    V, H = W.shape
    shown = "every" if H <= MAX_FILTERS else f"the first {MAX_FILTERS} of {H}"
    return f"{what} {V}x{H}: {shown} hidden unit's weights, each on its own grey scale"


def save_png(grid: torch.Tensor, path: str | Path, title: str | None = None,
             scale: int = 3) -> Path:
    """Write a grey [0, 1] grid as a PNG, atomically: pixels drawn `scale` times larger (a
    28-pixel image becomes 84) under `title`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = 100
    h, w = grid.shape
    fig = plt.figure(figsize=(w * scale / dpi, (h * scale + (40 if title else 0)) / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, h * scale / (h * scale + (40 if title else 0))))
    ax.imshow(grid.numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 12 / (h * scale + 40))
    path = Path(path)
    with atomic_output(path) as f:
        fig.savefig(f, format="png", dpi=dpi)
    plt.close(fig)
    return path


def mixing_note(samples: torch.Tensor, steps: int) -> str | None:
    """A sentence when the samples (n, V) came out nearly alike: the chains have not mixed."""
    spread = float(samples.float().std(0).mean()) if len(samples) > 1 else 1.0
    if spread >= 0.05:
        return None
    return (f"the {len(samples)} samples are nearly alike (mean per-pixel spread {spread:.3f}): "
            f"in {steps} Gibbs steps the chains have not left one mode of the RBM; try "
            "--from-data, more --steps, or a model trained longer or by PCD (--pcd).")


def gibbs_samples(rbm, n: int, steps: int, generator: torch.Generator,
                  start: torch.Tensor | None = None) -> torch.Tensor:
    """n samples (n, V) after `steps` Gibbs steps from `start` (N, V) or from uniform noise."""
    if n < 1 or steps < 1:
        raise ConfigError("-n and --steps must be at least 1.")
    if n > MAX_SAMPLES:
        raise ConfigError(f"-n {n:,} is more samples than one picture shows; give at most "
                          f"{MAX_SAMPLES:,}.")
    if steps > MAX_GIBBS_STEPS:
        raise ConfigError(f"--steps {steps:,} is more Gibbs steps than layerwise runs without "
                          f"a line of output; give at most {MAX_GIBBS_STEPS:,} (a chain that "
                          "has not mixed by then needs a better model, not more steps).")
    V, H = rbm.cfg.n_visible, rbm.cfg.n_hidden
    # each chain holds v, h and their probabilities at once
    check_fits(2 * n * (V + H) * rbm.W.element_size(), f"{n:,} Gibbs chains of {V:,} + "
               f"{H:,} units")
    if start is None:
        start = torch.rand(n, rbm.cfg.n_visible, generator=generator, dtype=rbm.W.dtype,
                           device=rbm.W.device)
        if rbm.gaussian:
            start = (start - 0.5) * 3.46  # unit variance
    return rbm.gibbs(start[:n], steps, generator)


def gibbs_chains(rbm, start: torch.Tensor, at: list[int], generator: torch.Generator
                 ) -> torch.Tensor:
    """Frames (C, T, V) of C Gibbs chains v -> h -> v run from `start` (C, V): for each step
    count t in `at` (increasing), E[v | h_t], what the chain shows after t steps (t = 0: the
    start itself). Between frames the chains go on with sampled v, as `RBM.gibbs` does."""
    assert list(at) == sorted(at) and at[0] >= 0, "step counts must increase from 0"
    v, frames, t = start, [], 0
    for stop in at:
        while t < stop:
            _, h = rbm.sample_hidden(v, generator)
            mean = rbm.mean_visible(h)
            v = rbm.sample_visible(h, generator)
            t += 1
        frames.append(start if stop == 0 else mean)
    return torch.stack(frames, 1)  # (C, T, V)


def chain_grid(frames: torch.Tensor, prep) -> torch.Tensor:
    """Frames (C, T, V) as one grid: a row per chain, a column per step count."""
    C, T, V = frames.shape
    return sample_grid(frames.reshape(C * T, V), prep, columns=T)


def sample_grid(samples: torch.Tensor, prep, columns: int | None = None) -> torch.Tensor:
    """Samples shown as one image grid: Gaussian ones mapped back to pixel values first."""
    if prep.visible == "gaussian":
        samples = (samples * prep.std.to(samples) + prep.mean.to(samples)).clamp(0, 1)
    grid = tile(samples, columns, scale_each=False)
    if grid is None:
        raise ConfigError(f"{samples.shape[1]} visible units are not a square image, so the "
                          "samples cannot be drawn as one.")
    return grid
