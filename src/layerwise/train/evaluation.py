"""A trained model's figures: on a dataset's test split (`figures_on_test`), a stored
checkpoint's (`evaluate_checkpoint`), and the course's learning curve against training-set
size (`learning_curve`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from layerwise.checkpoint import load_checkpoint, load_state_checked, stored_config
from layerwise.data.datasets import Dataset
from layerwise.distributed import Dist
from layerwise.errors import ConfigError
from layerwise.nn.models import ModelConfig, build_model
from layerwise.runtime import DataLike, RunConfig, as_dataset, setup_device
from layerwise.settings import check_argument
from layerwise.train.config import TrainConfig
from layerwise.train.saving import CUSTOM
from layerwise.train.trainer import evaluate


def figures_on_test(model: nn.Module, data: Dataset, dist: Dist | None = None) -> dict:
    """Test "loss" and "accuracy" (classification) or "mse" (regression); empty when the data
    has no test split."""
    if not len(data.test):
        return {}
    test = evaluate(model, data.test, data.task, dist=dist)
    metric = "accuracy" if data.task == "classification" else "mse"
    return {"loss": test["loss"], metric: test[metric]}


@dataclass
class Evaluation:
    """A checkpoint's figures on a dataset's test split."""

    model: str
    dataset: str
    device: str
    steps: int  # the optimizer steps the checkpoint had taken
    test: dict  # "loss" and "accuracy" (classification) or "mse" (regression)
    note: str | None = None  # a warning, e.g. the classes differ from the training data's

    @property
    def test_accuracy(self) -> float | None:
        return self.test.get("accuracy")

    def to_dict(self) -> dict:
        """The figures as `layerwise eval --json` prints them."""
        figures = {"model": self.model, "dataset": self.dataset, "device": self.device,
                   "steps": self.steps, **{f"test_{k}": v for k, v in self.test.items()}}
        return {**figures, "note": self.note} if self.note is not None else figures


@dataclass
class LearningCurve:
    """Train and validation error against training-set size, and the files written."""

    model: str
    dataset: str
    device: str
    curve: list[dict]  # one row per size: train_size, train_error, val_error
    csv: str
    png: str

    def to_dict(self) -> dict:
        """The figures as `layerwise curve --json` prints them."""
        return dataclasses.asdict(self)


def evaluate_checkpoint(path: str | Path, data: DataLike, run: RunConfig | None = None
                        ) -> Evaluation:
    """Load a supervised checkpoint and evaluate it on `data`'s test set."""
    run = run or RunConfig()
    device = setup_device(run)
    payload = load_checkpoint(path, kind="supervised")
    if payload["model"].get("name") == CUSTOM["name"]:
        raise ConfigError(f"{path} holds a model built outside layerwise; load its state into "
                          "that module in Python to evaluate it.")
    mcfg = stored_config(ModelConfig, payload["model"], path, "model")
    data = as_dataset(data, dataclasses.replace(run, val_size=0), 0, device, progress=False)
    if mcfg.input_shape != data.input_shape:
        raise ConfigError(f"{path} holds a model for inputs of shape {mcfg.input_shape}; "
                          f"{data.name} has {data.input_shape}.")
    if data.task == "classification" and int(data.test.y.max()) >= mcfg.num_outputs:
        raise ConfigError(f"{data.name}'s test labels go up to {int(data.test.y.max())} but "
                          f"{path} has {mcfg.num_outputs} outputs; it cannot classify them.")
    model = build_model(mcfg).to(device)
    load_state_checked(model, payload, path)
    result = Evaluation(mcfg.name, data.name, str(device), payload["step"],
                        figures_on_test(model, data))
    trained = payload.get("extra", {})
    if trained.get("classes") and list(trained["classes"]) != list(data.classes):
        result.note = (f"{path} was trained on {trained.get('dataset') or 'other data'}, "
                       f"whose classes ({', '.join(trained['classes'][:4])}, ...) are not "
                       f"{data.name}'s ({', '.join(data.classes[:4])}, ...): the accuracy "
                       "compares different labels.")
    return result


def learning_curve(model: str | ModelConfig, data: DataLike, config: TrainConfig, sizes: list[int],
                   out_dir: str, run: RunConfig | None = None, progress: bool = True
                   ) -> LearningCurve:
    """The course's learning curve: train/validation error against training-set size."""
    from layerwise.train.curves import size_curve

    check_argument(model, "model", (str, ModelConfig), "a course model's name or a ModelConfig")
    check_argument(config, "config", TrainConfig)
    check_argument(run, "run", (RunConfig, type(None)))
    run = run or RunConfig()
    device = setup_device(run)
    data = as_dataset(data, run, config.seed, device, progress)
    if max(sizes) > len(data.train) or min(sizes) < 1:
        raise ConfigError(f"--sizes must lie between 1 and {len(data.train)}, the training "
                          f"examples of {data.name}.")
    mcfg = (ModelConfig(model) if isinstance(model, str) else model).sized_for(data)
    rows = size_curve(mcfg, data, config, sizes, out_dir, progress)
    return LearningCurve(mcfg.name, data.name, str(device), rows,
                         str(Path(out_dir) / "learning_curve.csv"),
                         str(Path(out_dir) / "learning_curve.png"))
