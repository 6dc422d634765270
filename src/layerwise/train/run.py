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
import math
from dataclasses import dataclass

import torch
from torch import nn

from layerwise.checkpoint import (
    build_stored,
    checked_rng,
    claim,
    load_checkpoint,
    load_optimizer_checked,
    load_state_checked,
    restore_rng,
    save_checkpoint,
    stored_config,
)
from layerwise.data.datasets import Dataset
from layerwise.distributed import Dist, join
from layerwise.errors import ConfigError, ConfigTypeError, DataValueError
from layerwise.memory import check_fits
from layerwise.nn import cifar
from layerwise.nn.models import ModelConfig, build_model, freeze_layers
from layerwise.progress import stream
from layerwise.runtime import (
    DataLike,
    RunConfig,
    as_dataset,
    check_outputs,
    check_path,
    setup_device,
)
from layerwise.settings import check_argument, conforms, invalid
from layerwise.train.evaluation import figures_on_test
from layerwise.train.optim import build_optimizer
from layerwise.train.predict import Predictor
from layerwise.train.resuming import reconciled_config, resume_recipe  # noqa: F401 - old home
from layerwise.train.saving import CUSTOM, custom_record
from layerwise.train.trainer import TrainConfig, TrainResult, test_figures, train

ModelLike = str | ModelConfig | nn.Module
CONVOLUTIONAL = ("deepnn", *cifar.SPECS)  # course models that take images (C, H, W)


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
    _check_shift(cfg, data)
    trained_on = (payload or {}).get("extra", {}).get("dataset")
    if run.resume and trained_on and trained_on != data.name:
        notes.append(f"resuming {run.resume} on {data.name}; it was trained on {trained_on}")
        if progress:
            print(notes[-1], file=stream(), flush=True)
    if init:
        _check_init(model, data, payload, init)
    net, mcfg = _model(model, data, payload, run.resume or init)
    net = net.to(dist.device)
    data = _probe(net, data, cfg, mcfg.name if mcfg else type(net).__name__)
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


def _check_training_fits(net: nn.Module, data: Dataset, cfg: TrainConfig, name: str,
                         per_example: list[float]) -> None:
    """Refuse a run whose memory the budget cannot hold, before training: the parameters with
    their gradients and two optimiser moments (4 copies), every tensor one training batch
    keeps for the backward pass and its gradient (2 each), and an evaluation batch of 2,000
    (the largest of them, in and out, at a time); `per_example` is the bytes of each kept
    tensor per example, measured on the probe."""
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    batch = cfg.batch_for(len(data.train))
    train_bytes = 2 * batch * sum(per_example)
    eval_bytes = 2 * min(2000, max(len(data.train), len(data.test))) * max(per_example,
                                                                           default=0)
    check_fits(int(4 * params + max(train_bytes, eval_bytes)),
               f"training {name} on {data.name} with batches of {batch:,}")


def _check_shift(cfg: TrainConfig, data: Dataset) -> None:
    """A translation by the image's side or more leaves nothing of it (and its padded copy
    of every batch grows with the square of the shift): refused naming both."""
    shape = data.input_shape
    if cfg.shift and len(shape) == 3 and cfg.shift >= min(shape[1:]):
        raise invalid(cfg, "shift", f"must be smaller than the images' side ({data.name}'s "
                                    f"are {shape[1]} x {shape[2]}), got {cfg.shift}.")


def _check_init(model: ModelLike, data: Dataset, payload: dict, init: str) -> None:
    """`init`'s weights must be of the architecture asked for (dropout aside, which holds no
    weights): a checkpoint of another model would otherwise replace it silently."""
    if isinstance(model, nn.Module) or payload["model"].get("name") == CUSTOM["name"]:
        return
    stored = stored_config(ModelConfig, payload["model"], init, "model").to_dict()
    wanted = (ModelConfig(model) if isinstance(model, str) else model).sized_for(data).to_dict()
    differ = [k for k in wanted if k != "dropout" and wanted[k] != stored.get(k)]
    if differ:
        show = "; ".join(f"{k} {stored.get(k)} there, {wanted[k]} here" for k in differ)
        raise ConfigError(f"--init {init} holds weights of a {stored['name']} model of another "
                          f"architecture than the {wanted['name']} asked for ({show}); give "
                          "the model and flags it was trained with, or drop --init.")


def _model(model: ModelLike, data: Dataset, payload: dict | None, source: str | None
           ) -> tuple[nn.Module, ModelConfig | None]:
    """The network to train and its config: built from a name or config sized to `data`, or
    the module given; with a checkpoint, its architecture and weights."""
    if payload is not None and payload["model"].get("name") != CUSTOM["name"]:
        mcfg = stored_config(ModelConfig, payload["model"], source, "model")
        net = build_stored(build_model, mcfg, source)
    elif isinstance(model, nn.Module):
        mcfg, net = None, model
        held = (payload or {}).get("model", {}).get("class")
        if held and held != custom_record(net)["class"]:
            raise ConfigError(f"{source} holds a {held} module, not a "
                              f"{custom_record(net)['class']}; pass an instance of the module "
                              "it was trained with.")
    elif payload is not None:
        raise ConfigError(f"{source} holds a model built outside layerwise; pass that module "
                          "to fit() to continue it.")
    else:
        mcfg = (ModelConfig(model) if isinstance(model, str) else model).sized_for(data)
        _check_course_input(mcfg, data)
        net = build_model(mcfg)
    if mcfg is not None and mcfg.input_shape != data.input_shape:
        raise ConfigError(f"the model takes inputs of shape {mcfg.input_shape} but "
                          f"{data.name} has {data.input_shape}.")
    if payload is not None:
        load_state_checked(net, payload, source)
    return net, mcfg


def _check_course_input(mcfg: ModelConfig, data: Dataset) -> None:
    """A convolutional course model needs images, a classifier needs classes and polynomial
    real-valued targets of one input: said in one sentence, naming both, before the model is
    built."""
    shape = data.input_shape
    if mcfg.name == "polynomial" and (data.task != "regression" or shape != (1,)):
        held = "class labels" if data.task == "classification" else \
            f"examples of shape {shape}"
        raise DataValueError(f"polynomial fits a real-valued target of one real input (N, 1), "
                             f"but {data.name} holds {held}; give it such data (e.g. the "
                             "regression dataset) or train a classifier on this one.")
    if mcfg.name != "polynomial" and data.task == "regression":
        raise DataValueError(f"{mcfg.name} is a classifier, but {data.name} holds real-valued "
                             "targets (regression); train polynomial on it, or a module of "
                             "your own with fit(module, data).")
    if mcfg.name in CONVOLUTIONAL and len(shape) != 3:
        side = math.isqrt(math.prod(shape))
        example = f", e.g. X.reshape(-1, 1, {side}, {side})" if side * side == math.prod(
            shape) else ""
        raise DataValueError(f"{mcfg.name} takes images (N, C, H, W) or (N, H, W), but the "
                             f"data's examples have shape {shape}: reshape X{example}.")
    if data.task == "classification" and not mcfg.num_outputs:
        raise DataValueError(f"the number of classes of {data.name} is not known without "
                             "reading it whole; give ModelConfig(num_outputs=K) or targets "
                             "the dataset keeps apart (a `targets` attribute).")


@torch.no_grad()
def _probe(net: nn.Module, data: Dataset, cfg: TrainConfig, name: str) -> Dataset:
    """One forward pass of two examples in eval mode (no randomness drawn, no state changed):
    a model that cannot take the data's inputs, or whose outputs do not fit its targets, or
    whose training would not fit in memory, is one sentence before training. A streamed
    dataset whose classes are unknown takes them from the module's outputs."""
    x, y = data.train.x[:2], data.train.y[:2]
    was_training = net.training
    net.eval()
    # Bytes of every tensor the forward pass keeps for the backward pass, but the weights
    # and buffers (not per example): what one training batch holds, per example of len(x).
    fixed = {t.data_ptr() for t in (*net.parameters(), *net.buffers())}
    sizes: list[int] = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in fixed:
            sizes.append(t.numel() * t.element_size())
        return t

    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
            out = net(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else repr(exc)
        raise DataValueError(f"the model cannot take the data's examples of shape "
                             f"{data.input_shape} ({first}); give inputs of the shape it "
                             "expects.") from None
    finally:
        net.train(was_training)
    out = out.detach()
    _check_training_fits(net, data, cfg, name, [b / len(x) for b in sizes])
    if data.task == "classification":
        if out.dim() != 2:
            raise DataValueError(f"a classifier must give logits (N, classes); the model gives "
                                 f"outputs of shape {tuple(out.shape)}.")
        if not data.classes:
            data = dataclasses.replace(data, classes=tuple(map(str, range(out.shape[1]))))
        if out.shape[1] < data.num_classes:
            raise DataValueError(f"the model gives {out.shape[1]} outputs but y has labels up "
                                 f"to {data.num_classes - 1}; it needs one output per class.")
    elif data.task == "regression" and tuple(out.shape[1:]) != tuple(y.shape[1:]):
        raise DataValueError(f"the model gives outputs of shape {tuple(out.shape[1:])} per "
                             f"example but the targets y have {tuple(y.shape[1:])}.")
    return data


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
