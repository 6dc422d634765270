"""RBM checkpoints through the project's checkpoint machinery (kind "rbm").

A checkpoint holds the RBMConfig, the parameters (W, b_vis, b_hid, log_sigma), the CD trainer's
state (velocities, persistent chains, generators, epochs done), the CDConfig and the data
preprocessing (`prep`: the mean and std that standardised the data for Gaussian units), so that
`--resume` continues exactly and `transform` sees data prepared as in training.
"""

from __future__ import annotations

from pathlib import Path

import torch

from layerwise.checkpoint import (
    load_checkpoint,
    load_state_checked,
    save_checkpoint,
    stored_config,
)
from layerwise.errors import ConfigError, DataError
from layerwise.rbm.data import Preprocessing
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.train import CDConfig, CDTrainer

KIND = "rbm"


def save(path: str | Path, rbm: RBM, prep: Preprocessing, trainer: CDTrainer | None = None,
         dataset: str = "", epochs: int = 0, train_config: CDConfig | None = None) -> Path:
    """Write `rbm` (and, given `trainer`, everything needed to resume) atomically to `path`.

    Without a trainer the checkpoint is the model alone, recording `epochs` and `train_config`
    (what a parallel run writes with --save)."""
    return save_checkpoint(
        path, kind=KIND, model_config=rbm.cfg.to_dict(), state=rbm.state_dict(),
        step=trainer.epoch if trainer else epochs,
        optimizer=trainer.state_dict() if trainer else None,
        train_config=trainer.cd if trainer else train_config,
        extra={"dataset": dataset, "prep": prep.to_dict()})


def load_payload(path: str | Path) -> dict:
    return load_checkpoint(path, kind=KIND)


def rbm_from_payload(payload: dict, path: str | Path) -> RBM:
    cfg = stored_config(RBMConfig, payload["model"], path, "model",
                        required=("n_visible", "n_hidden", "visible"))
    try:
        rbm = RBM(cfg)
    except (TypeError, KeyError, ConfigError) as exc:
        raise DataError(f"{path} does not describe an RBM that can be built ({exc}).") from None
    load_state_checked(rbm, payload, path)
    if not all(bool(torch.isfinite(t).all()) for t in rbm.state_dict().values()):
        raise DataError(f"{path} holds NaN or infinite weights; it is damaged or from a run "
                        "that diverged.")
    return rbm


def load(path: str | Path) -> RBM:
    """The RBM saved at `path` (on the CPU; move it with `.to(device)`)."""
    return rbm_from_payload(load_payload(path), path)


def load_preprocessing(payload: dict) -> Preprocessing:
    return Preprocessing.from_dict(payload.get("extra", {}).get("prep", {}))


def stored_recipe(payload: dict, path: str | Path = "this checkpoint") -> dict:
    """The CDConfig fields of a checkpoint that can be resumed, or a ConfigError saying why not."""
    if "optimizer" not in payload or "train" not in payload:
        raise ConfigError(f"{path} holds a model without its training state (a parallel run's "
                          "--save); resume that run from its --shards directory instead.")
    stored_config(CDConfig, payload["train"], path, "recipe")  # refuses a damaged one
    return dict(payload["train"])


def resume_trainer(payload: dict, rbm: RBM, epochs: int | None = None,
                   cd: CDConfig | None = None) -> CDTrainer:
    """A CDTrainer continuing the saved run (to `epochs` in total if given; with the recipe
    `cd` instead of the stored one if given)."""
    stored = cd.to_dict() if cd is not None else stored_recipe(payload)
    if epochs is not None:
        stored["epochs"] = epochs
    trainer = CDTrainer(rbm, stored_config(CDConfig, stored, "the checkpoint", "recipe"))
    trainer.load_state_dict(payload["optimizer"])
    return trainer


def describe(path: str | Path) -> dict:
    """What an RBM checkpoint holds: its architecture, epochs, recipe and dataset."""
    payload = load_payload(path)
    return {"model": payload["model"], "epochs": payload.get("step", 0),
            "train": payload.get("train") or {},
            "dataset": payload.get("extra", {}).get("dataset", "")}
