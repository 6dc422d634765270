"""How long a lab's full recipe takes on this machine, said before it starts.

A short slice of the real training (the lab's model, batch and optimizer on its data) is timed
after a few warm-up steps (the first steps set up oneDNN's kernels and the allocator and run
far slower) and projected to the recipe's steps: two steps probe the speed, then as many more
as fit in about `BUDGET` seconds (at most `MOST`), so the estimate costs a couple of seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from layerwise.data.datasets import Dataset
from layerwise.labs.course import wrap
from layerwise.nn.models import ModelConfig, build_model
from layerwise.progress import duration, stream
from layerwise.train.trainer import TrainConfig, train

WARMUP, PROBE, MOST, BUDGET = 3, 2, 20, 2.0


@dataclass(frozen=True)
class Timing:
    """Seconds per training step, measured over `timed` steps after `warmup` untimed ones."""

    seconds_per_step: float
    timed: int
    warmup: int = WARMUP

    def seconds(self, steps: int) -> float:
        return self.seconds_per_step * steps


def time_steps(model: ModelConfig, data: Dataset, cfg: TrainConfig) -> Timing:
    """Time the recipe `cfg` of `model` on `data`'s training split: WARMUP untimed steps,
    PROBE timed ones, then as many more as fit in BUDGET seconds (MOST in all). The random
    state is restored, so the run that follows is the one it would have been."""
    device = data.train.x.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        net = build_model(model.sized_for(data)).to(device)
        train_only = dataclasses.replace(data, val=None)  # no evaluation inside the slice
        train(net, train_only, _steps(cfg, WARMUP), progress=False)
        probe = train(net, train_only, _steps(cfg, PROBE), progress=False).train_seconds
        more = max(1, min(MOST - PROBE, int(BUDGET / max(probe / PROBE, 1e-9))))
        rest = train(net, train_only, _steps(cfg, more), progress=False).train_seconds
    return Timing((probe + rest) / (PROBE + more), PROBE + more)


def _steps(cfg: TrainConfig, n: int) -> TrainConfig:
    return dataclasses.replace(cfg, steps=n, epochs=None, eval_every=n, patience=0)


def projection(timing: Timing, full: int, this: int, runs: int = 1, what: str = "",
               short: int | None = None) -> list[str]:
    """Two lines: the full recipe's time (`runs` trainings of `full` steps), and this run's
    (`this` steps each) or, when this run is the full recipe, how to run a short version
    (`--steps short`)."""
    times = f"{runs} trainings of " if runs > 1 else ""
    lines = [f"Full recipe: {times}{full:,} steps, about {duration(runs * timing.seconds(full))}"
             f"{what} here ({timing.seconds_per_step:.3g} s a step, timed over {timing.timed} "
             f"steps after {timing.warmup} warm-up steps)."]
    if this != full:
        lines.append(f"This run: {times}{this:,} steps, about "
                     f"{duration(runs * timing.seconds(this))}.")
    elif short:
        lines.append(f"A short version: --steps {short} (about "
                     f"{duration(runs * timing.seconds(short))}).")
    return lines


def announce(model: ModelConfig, data: Dataset, cfg: TrainConfig, full: int, runs: int = 1,
             what: str = "") -> Timing:
    """Time the recipe (`time_steps`) and say, where progress goes, how long its `full` steps
    and this run's `cfg.steps` take (`runs` trainings each), and a short version (a tenth)."""
    timing = time_steps(model, data, cfg)
    for line in projection(timing, full, cfg.steps, runs, what, short=full // 10):
        print("\n".join(wrap(line)), file=stream(), flush=True)
    return timing
