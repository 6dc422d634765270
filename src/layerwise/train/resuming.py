"""Continuing a supervised run from its checkpoint: the stored recipe against the one asked
for (what may change, what may not), and the recipe a resumed run is given."""

from __future__ import annotations

import dataclasses

from layerwise.checkpoint import load_checkpoint, stored_config
from layerwise.errors import ConfigError, DataError
from layerwise.nn.models import ModelConfig
from layerwise.resume import TRAIN_MAY_CHANGE, reconcile, with_changes
from layerwise.train.config import TrainConfig
from layerwise.train.saving import CUSTOM


def reconciled_config(payload: dict, config: TrainConfig | None, path: str = "checkpoint",
                   model: ModelConfig | None = None) -> tuple[TrainConfig, list[str]]:
    """The recipe stored in a checkpoint, compared with `config` (None: the stored recipe as
    it is): the fields of `resume.TRAIN_MAY_CHANGE` are taken from `config` and returned as one
    line each; any other difference, or a `model` other than the stored one, is a ConfigError.
    A `config` without steps or epochs keeps the stored length."""
    if "train" not in payload or "optimizer" not in payload:
        raise DataError(f"{path} holds a model without its training state (its recipe or its "
                        "optimizer's state is missing), so its run cannot be resumed; start "
                        "a new run from its weights with --init instead.")
    stored = stored_config(TrainConfig, payload["train"], path, "recipe")
    if config is None and model is None:
        return stored, []
    config = config or stored
    if config.steps is None and config.epochs is None:
        config = dataclasses.replace(config, steps=stored.steps, epochs=stored.epochs)
    pairs = [(stored, config)]
    if model is not None and payload["model"].get("name") != CUSTOM["name"]:
        pairs.append((stored_config(ModelConfig, payload["model"], path, "model"), model))
    notes = reconcile(path, pairs, TRAIN_MAY_CHANGE)
    return dataclasses.replace(stored, **{k: getattr(config, k) for k in TRAIN_MAY_CHANGE}), \
        notes


def supervised_recipe(path: str, model: dict | None = None, train: dict | None = None
                      ) -> tuple[ModelConfig, TrainConfig]:
    """The model and recipe of the run saved at `path` with `model` and `train` (ModelConfig
    and TrainConfig fields) changed: what `fit(model, data, config, RunConfig(resume=path))`
    is given to continue that run with, say, a new learning rate or a longer length."""
    payload = load_checkpoint(path, kind="supervised")
    stored, _ = reconciled_config(payload, None, path)
    if payload["model"].get("name") == CUSTOM["name"]:
        raise ConfigError(f"{path} holds a model built outside layerwise; pass that module "
                          "to fit() to resume it.")
    mcfg = with_changes(stored_config(ModelConfig, payload["model"], path, "model"),
                        model or {})
    length = {"steps": None, "epochs": None} if {"steps", "epochs"} & set(train or {}) else {}
    return mcfg, with_changes(stored, {**length, **(train or {})})


def resume_recipe(path: str, model: dict | None = None, train: dict | None = None
                  ) -> tuple[ModelConfig, TrainConfig]:
    """Deprecated: `layerwise.resume_recipe(path, model=, train=)`, one name for both
    workloads, returning a typed `Recipe`. Kept for one release."""
    import warnings

    warnings.warn("layerwise.train.run.resume_recipe is now layerwise.resume_recipe, which "
                  "returns a Recipe; this name will be removed in the next release.",
                  DeprecationWarning, stacklevel=2)
    return supervised_recipe(path, model, train)
