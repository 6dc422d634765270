"""One supervised run end to end: load data, build or restore the model, train, evaluate.

`fit` is what `layerwise train` calls and what a Python user calls:

    data = load_dataset("mnist-10k")
    result = fit("deepnn", data, TrainConfig(steps=500), RunConfig(device="cpu"))
    result.test_accuracy, result.history, result.model
    result.predict(images)  # class indices; images (N, 28, 28), (N, 784) or (N, 1, 28, 28)

or with data of one's own: `fit("mlp", (X, y))`, `fit(MyNet(), DataLoader(...))`.

Under torchrun the run is data parallel over the ranks (see `layerwise.train.trainer.train`);
every rank returns the same figures and only rank 0 writes checkpoints, TensorBoard events and
curves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from layerwise.checkpoint import (
    checked_rng,
    claim,
    load_checkpoint,
    load_optimizer_checked,
    restore_rng,
    save_checkpoint,
    stored_config,
)
from layerwise.data.datasets import Dataset
from layerwise.distributed import Dist, join
from layerwise.errors import ConfigError, ConfigTypeError, DataValueError
from layerwise.nn.models import ModelConfig, freeze_layers
from layerwise.progress import stream
from layerwise.runtime import (
    DataLike,
    RunConfig,
    as_dataset,
    check_outputs,
    check_path,
    setup_device,
)
from layerwise.settings import check_argument, conforms
from layerwise.train.evaluation import figures_on_test
from layerwise.train.optim import build_optimizer
from layerwise.train.predict import Predictor
from layerwise.train.preparation import ModelLike, check_init, check_shift, model_for, probe
from layerwise.train.resuming import reconciled_config, resume_recipe  # noqa: F401 - old home
from layerwise.train.saving import CUSTOM, custom_record
from layerwise.train.trainer import TrainConfig, TrainResult, test_figures, train


@dataclass
class FitResult(Predictor):
    """A trained model and the figures of its run; `predict(X)` and `predict_proba(X)` use it
    (see `layerwise.train.predict`)."""

    model: nn.Module
    model_config: ModelConfig | None  # None for a model built outside layerwise
    dataset: str
    device: str
    steps: int
    train_seconds: float
    history: list[dict]  # one row per evaluation: step, train_loss, val_loss, val_accuracy...
    test: dict  # test "loss" and "accuracy" (classification) or "mse" (regression)
    ranks: int = 1
    best_step: int | None = None  # early stopping: the step whose weights were kept
    classes: tuple[str, ...] = ()  # the dataset's class names (classification)
    notes: tuple[str, ...] = ()  # what a resumed run changed from its checkpoint's recipe
    input_shape: tuple[int, ...] = ()  # one example's shape as the model takes it
    task: str = "classification"  # or "regression"

    @property
    def test_accuracy(self) -> float | None:
        return self.test.get("accuracy")

    @property
    def test_loss(self) -> float | None:
        """None when the data had no test split (arrays, a DataLoader)."""
        return self.test.get("loss")

    def to_dict(self) -> dict:
        """The figures as `layerwise train --json` prints them."""
        name = self.model_config.name if self.model_config else type(self.model).__name__
        figures = {"model": name, "dataset": self.dataset, "device": self.device,
                   "steps": self.steps, "train_seconds": self.train_seconds,
                   **{f"test_{k}": v for k, v in self.test.items()}}
        if self.history:
            figures["last_eval"] = self.history[-1]
        if self.notes:
            figures["resume_changes"] = list(self.notes)
        figures["history"] = self.history
        figures["ranks"] = self.ranks
        return figures


def fit(model: ModelLike, data: DataLike, config: TrainConfig | None = None,
        run: RunConfig | None = None, *, validation_data=None, stream: bool | None = None,
        lr_scheduler=None, checkpoint: str | None = None, init: str | None = None,
        freeze: int = 0, curves: str | None = None, progress: bool = True) -> FitResult:
    """Train `model` (a course model's name, a ModelConfig, or any nn.Module) on `data` and
    evaluate it on the test split where the data has one.

    `data` is a dataset name (loaded as `run` says), a Dataset, (X, y) as NumPy arrays or
    tensors, a torch Dataset (TensorDataset included) or a DataLoader of (x, y) batches;
    `validation_data` takes the same forms (without it `run.val_size` examples, by default
    the dataset's hold-out or a tenth of X, are held out). The input shape and the task come
    from the data: integer labels classify into max + 1 classes, float targets regress (a
    course classifier takes whole-number floats as labels). A DataLoader is read into tensors
    on the device when it takes at most half the memory left there, else streamed batch by
    batch; `stream` True or False decides instead (`layerwise.data.adapt` has the rules and
    conversions). Data that cannot be used is one sentence, a DataError that is also a
    ValueError or TypeError.

    `lr_scheduler(optimizer)` builds a torch.optim.lr_scheduler, stepped after every
    optimizer step; its state is checkpointed and a resumed run needs the same factory.

    `checkpoint` is written at every evaluation; `run.resume` continues a checkpoint's run
    exactly: with `config` None its recipe as stored, otherwise `config` (see
    `layerwise.resume_recipe`), whose changes of length, learning rate, penalty or evaluation
    are applied and said, and any other change refused, as is a `model` other than the stored
    one; `init` starts
    from a checkpoint's weights and `freeze` freezes the first N layers (transfer learning);
    `curves` gets the per-evaluation curves as CSV and PNG."""
    check_argument(model, "model", (str, ModelConfig, nn.Module),
                   "a course model's name, a ModelConfig or a torch.nn.Module")
    check_argument(config, "config", (TrainConfig, type(None)))
    check_argument(run, "run", (RunConfig, type(None)))
    if not conforms(freeze, int):
        check_argument(freeze, "freeze", (), "a whole number of layers")
    for name, path in (("init", init), ("resume", run and run.resume)):
        if path:
            check_path(path, name)
    run = run or RunConfig()
    if config is None and not run.resume:
        config = TrainConfig()
    check_outputs(checkpoint, logdir=run.logdir, plots=curves)
    if run.resume and init:
        raise ConfigError("--resume continues a run and --init starts a new one from weights; "
                          "give one of them.")
    if lr_scheduler is not None and not callable(lr_scheduler):
        raise ConfigTypeError(f"lr_scheduler must be a function of the optimizer, e.g. lambda "
                              f"opt: StepLR(opt, 100); got a {type(lr_scheduler).__name__}.")
    dist = join(setup_device(run), run.timeout)
    inputs = _Inputs(validation_data, stream, lr_scheduler)
    try:
        with claim(checkpoint if dist.is_main else None):
            return _fit(model, data, config, run, dist, checkpoint, init, freeze, curves,
                        progress and dist.is_main, inputs)
    finally:
        dist.close()


@dataclass(frozen=True)
class _Inputs:
    """fit's keyword arguments that are objects rather than settings."""

    validation_data: object = None
    stream: bool | None = None
    lr_scheduler: object = None


def _task_of(model: ModelLike) -> str | None:
    """The task a course model is for (polynomial regresses, the rest classify); None for a
    module, whose data's dtype decides."""
    if isinstance(model, nn.Module):
        return None
    name = model if isinstance(model, str) else model.name
    return "regression" if name == "polynomial" else "classification"


def _fit(model, data, cfg: TrainConfig, run: RunConfig, dist: Dist, checkpoint, init, freeze,
         curves, progress, inputs: _Inputs = _Inputs()) -> FitResult:
    payload = load_checkpoint(run.resume or init, kind="supervised") if run.resume or init \
        else None
    notes: list[str] = []
    if run.resume:
        if payload["model"].get("name") != CUSTOM["name"]:  # a damaged key named first
            stored_config(ModelConfig, payload["model"], run.resume, "model")
        if isinstance(model, str) and model != payload["model"].get("name"):
            raise ConfigError(f"{run.resume} holds a {payload['model'].get('name')} model, "
                              f"not {model}; a resumed run continues its own model.")
        wanted = model if isinstance(model, ModelConfig) else None
        cfg, notes = reconciled_config(payload, cfg, run.resume, wanted)
        if progress:
            for line in notes:
                print(line, file=stream(), flush=True)
    if dist.active and cfg.optimizer != "gd" and cfg.batch_size < dist.world_size:
        raise ConfigError(f"--batch-size is the global batch and must be at least the number "
                          f"of ranks ({dist.world_size}).")
    torch.manual_seed(cfg.seed)
    with dist.main_first("loading the data"):
        data = as_dataset(data, run, cfg.seed, dist.device, progress, task=_task_of(model),
                          validation_data=inputs.validation_data, stream=inputs.stream,
                          batch_size=cfg.batch_size)
    if data.task == "unsupervised":
        raise DataValueError(f"fit trains on labelled examples and {data.name} has no labels; "
                             "give (X, y), a Dataset of (x, y) pairs or a labelled dataset.")
    check_shift(cfg, data)
    trained_on = (payload or {}).get("extra", {}).get("dataset")
    if run.resume and trained_on and trained_on != data.name:
        notes.append(f"resuming {run.resume} on {data.name}; it was trained on {trained_on}")
        if progress:
            print(notes[-1], file=stream(), flush=True)
    if init:
        check_init(model, data, payload, init)
    net, mcfg = model_for(model, data, payload, run.resume or init)
    net = net.to(dist.device)
    data = probe(net, data, cfg, mcfg.name if mcfg else type(net).__name__)
    if freeze:
        freeze_layers(net, freeze)
    optimizer = build_optimizer(cfg.optimizer, net.parameters(), cfg.lr, cfg.momentum)
    start_step, batch_state = 0, None
    if run.resume:
        load_optimizer_checked(optimizer, payload, run.resume)
        for group in optimizer.param_groups:  # the stored rate unless the run changes it
            group["lr"] = cfg.lr
        start_step = payload["step"]
        restore_rng(checked_rng(payload, run.resume, ("torch", "batches")))
        batch_state = payload["rng"]["batches"]
    scheduler = _scheduler(inputs.lr_scheduler, optimizer, payload if run.resume else None,
                           run.resume, notes, progress)
    if dist.rank:  # each rank its own dropout masks, derived from rank 0's stream
        torch.manual_seed(int(torch.randint(2**62, (1,))) + dist.rank)

    def write_checkpoint(step, opt, state):
        save_checkpoint(checkpoint, kind="supervised",
                        model_config=mcfg.to_dict() if mcfg else custom_record(net),
                        state=net.state_dict(), step=step, optimizer=opt.state_dict(),
                        train_config=cfg, extra={"dataset": data.name,
                                                 "classes": list(data.classes),
                                                 **_scheduler_state(scheduler)},
                        batch_state=state)

    monitor = None
    if run.logdir and dist.is_main:
        from layerwise.monitor import TensorBoardMonitor
        monitor = TensorBoardMonitor(run.logdir, test_figures(data), data.train.x[:1])
    try:
        result = train(net, data, cfg, progress=progress, start_step=start_step,
                       optimizer=optimizer, batch_state=batch_state, monitor=monitor,
                       checkpoint=write_checkpoint if checkpoint and dist.is_main else None,
                       dist=dist, scheduler=scheduler)
    finally:
        if monitor is not None:
            monitor.close()
    if curves and result.history.rows and dist.is_main:
        from layerwise.train.curves import recipe_text, write_run_curves
        name = mcfg.name if mcfg else type(net).__name__
        write_run_curves(result.history.rows, curves,
                         f"{name} on {data.name}: {recipe_text(cfg)}")
    return dataclasses.replace(_result(net, mcfg, data, result, dist), notes=tuple(notes))


def _scheduler(factory, optimizer: torch.optim.Optimizer, payload: dict | None,
               source: str | None, notes: list[str], progress: bool):
    """`factory(optimizer)`, its state restored from a resumed checkpoint (the learning rates
    then follow the stored schedule)."""
    stored = (payload or {}).get("extra", {}).get("scheduler")
    if factory is None:
        if stored is not None:
            raise ConfigError(f"{source} was trained with a learning-rate schedule; pass the "
                              "same lr_scheduler= to fit to continue it.")
        return None
    scheduler = factory(optimizer)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if plateau or not (hasattr(scheduler, "step") and hasattr(scheduler, "state_dict")):
        raise ConfigTypeError(f"lr_scheduler must return a torch.optim.lr_scheduler stepped "
                              f"once per step without arguments; it returned a "
                              f"{type(scheduler).__name__}.")
    if stored is not None:
        scheduler.load_state_dict(stored)
        for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr(), strict=True):
            group["lr"] = lr
    elif payload is not None:
        notes.append(f"{source} was trained without a learning-rate schedule; the schedule "
                     f"starts at step {payload['step']}")
        if progress:
            print(notes[-1], file=stream(), flush=True)
    return scheduler


def _scheduler_state(scheduler) -> dict:
    return {"scheduler": scheduler.state_dict()} if scheduler is not None else {}


def _result(net: nn.Module, mcfg: ModelConfig | None, data: Dataset, result: TrainResult,
            dist: Dist) -> FitResult:
    return FitResult(net, mcfg, data.name, str(dist.device), result.steps,
                     result.train_seconds, result.history.rows, figures_on_test(net, data, dist),
                     dist.world_size, result.best_step, tuple(data.classes),
                     input_shape=data.input_shape, task=data.task)
