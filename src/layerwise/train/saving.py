"""Inference checkpoints of trained supervised models: `save_model` and `load_model`."""

from __future__ import annotations

from pathlib import Path

import torch

from layerwise.checkpoint import (
    build_stored,
    load_checkpoint,
    load_state_checked,
    save_checkpoint,
    stored_config,
)
from layerwise.errors import DataError


def save_model(result, path: str | Path) -> Path:
    """Write a trained model (a `FitResult` from `fit`) as an inference checkpoint that
    `load_model` and `layerwise eval` open."""
    if result.model_config is None:
        raise DataError("save_model keeps models it can rebuild (a course model's name or a "
                        "ModelConfig); save a custom module's state_dict with torch.save.")
    return save_checkpoint(path, kind="supervised", model_config=result.model_config.to_dict(),
                           state=result.model.state_dict(), step=result.steps,
                           extra={"dataset": result.dataset, "classes": list(result.classes)})


def load_model(path: str | Path) -> torch.nn.Module:
    """The model saved at `path` by `save_model` or a training checkpoint, in eval mode, on the
    CPU (move it with `.to(device)`)."""
    from layerwise.nn.models import ModelConfig, build_model

    payload = load_checkpoint(path, kind="supervised")
    if payload["model"].get("name") == "custom":
        raise DataError(f"{path} holds a model built outside layerwise; load its state into "
                        "that module with load_state_dict.")
    model = build_stored(build_model, stored_config(ModelConfig, payload["model"], path,
                                                    "model"), path)
    load_state_checked(model, payload, path)
    return model.eval()
