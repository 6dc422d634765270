"""A resumed run continues its checkpoint's recipe. The recipe asked for is compared with the
stored one field by field: fields a run may change midway (its length, learning rate, penalty,
how often it evaluates) are applied and said in one line each; any other difference (the model,
its architecture, the optimiser, batch size, seed, visible units) is an error naming them all."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from layerwise.errors import ConfigError
from layerwise.settings import flag_of

# Supervised runs: TrainConfig fields that may differ from the checkpoint's.
TRAIN_MAY_CHANGE = ("steps", "epochs", "lr", "l2", "eval_every", "patience", "eval_batch_size",
                    "cuda_graphs", "precision")
# RBM runs: CDConfig fields that may differ (the products' precision is how steps run).
CD_MAY_CHANGE = ("epochs", "lr", "momentum", "weight_decay", "matmul")


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)


def reconcile(path: str, pairs: Iterable[tuple[Any, Any]], may_change: Iterable[str] = ()
              ) -> list[str]:
    """Compare each (stored, wanted) pair of config dataclasses of the run saved at `path`.
    Fields of `wanted` that are None leave the stored value. Raises ConfigError naming every
    field that differs and may not change; returns one line per applied change."""
    allowed, fixed, changes = set(may_change), [], []
    for stored, wanted in pairs:
        for f in dataclasses.fields(stored):
            new, old = getattr(wanted, f.name), getattr(stored, f.name)
            if new is None or _same(new, old):
                continue
            name = flag_of(type(stored), f.name)  # the flag a user gives to ask for it
            if f.name in allowed:
                changes.append(f"{name} {_show(old)} -> {_show(new)}")
            else:
                fixed.append(f"{name} {_show(old)} (asked: {_show(new)})")
    if fixed:
        raise ConfigError(f"{path} was trained with {'; '.join(fixed)}, and a resumed run "
                          "cannot change that: drop those flags (the checkpoint's recipe is "
                          "used) or start a new run.")
    return [f"resuming {path} with {c}" for c in changes]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return list(a) == list(b)
    return a == b


def with_changes(config, changes: dict):
    """`config` (a frozen dataclass) with `changes`, ignoring keys it does not have."""
    names = {f.name for f in dataclasses.fields(config)}
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if k in names})


@dataclass(frozen=True)
class Recipe:
    """What a saved run was trained with, with the asked changes applied. Pass `model` and
    `train` (and `parallel`) back with `RunConfig(resume=path)` to continue it:
    `fit(r.model, data, r.train, run)` or `fit_rbm(r.model, data, r.train, run,
    parallel=r.parallel)`."""

    kind: str  # "supervised" or "rbm"
    model: Any  # ModelConfig (supervised) or RBMConfig
    train: Any  # TrainConfig (supervised) or CDConfig
    parallel: Any = None  # the ParallelConfig of a parallel RBM run (a shard directory)


def resume_recipe(path: str, model: dict | None = None, train: dict | None = None,
                  parallel: dict | None = None) -> Recipe:
    """The recipe of the run saved at `path` (a supervised or RBM checkpoint, or a parallel RBM
    run's shard directory), with `model`, `train` and `parallel` (dicts of config fields)
    changed: e.g. `resume_recipe("run.pt", train={"lr": 0.01, "steps": 2000})`. A resumed run
    applies the changes a run may make midway and refuses the others (see `reconcile`)."""
    from pathlib import Path

    from layerwise.checkpoint import load_checkpoint
    from layerwise.runtime import check_path

    if Path(check_path(path, "path")).is_dir() or load_checkpoint(path).get("kind") == "rbm":
        from layerwise.rbm.run import rbm_recipe

        return Recipe("rbm", *rbm_recipe(path, model, train, parallel))
    if parallel:
        raise ConfigError(f"{path} holds a supervised run, which has no parallel split.")
    from layerwise.train.resuming import supervised_recipe

    return Recipe("supervised", *supervised_recipe(path, model, train))
