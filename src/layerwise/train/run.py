"""One supervised run end to end: load data, build or restore the model, train, evaluate.

This is what `layerwise train` and `layerwise eval` call; a Python user calls `run_training`
with the same `RunConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from layerwise.data.datasets import Dataset, load_dataset
from layerwise.device import resolve_device
from layerwise.distributed import DEFAULT_TIMEOUT, Dist, join
from layerwise.errors import ConfigError
from layerwise.nn.models import ModelConfig, build_model, freeze_layers
from layerwise.train.checkpoint import (
    load_checkpoint,
    load_state_checked,
    restore_rng,
    save_checkpoint,
)
from layerwise.train.optim import build_optimizer
from layerwise.train.trainer import TrainConfig, evaluate, train


@dataclass(frozen=True)
class RunConfig:
    """Where and how a run reads, computes and writes."""

    dataset: str = "mnist-10k"
    data_dir: str | None = None
    offline: bool = False
    device: str = "auto"
    threads: int | None = None
    gpu_memory_fraction: float | None = None
    logdir: str | None = None
    checkpoint: str | None = None  # written at every evaluation
    resume: str | None = None  # continue this run exactly
    init: str | None = None  # start from these weights (transfer learning)
    freeze: int = 0
    val_size: int | None = None
    curves: str | None = None  # directory for the per-evaluation curves (CSV and PNG)
    timeout: float = DEFAULT_TIMEOUT  # seconds a rank waits for the others (distributed runs)

    def __post_init__(self):
        if self.resume and self.init:
            raise ConfigError("--resume continues a run and --init starts a new one from "
                              "weights; give one of them.")
        if self.gpu_memory_fraction is not None and not 0 < self.gpu_memory_fraction <= 1:
            raise ConfigError("--gpu-memory-fraction must be in (0, 1].")
        if self.threads is not None and self.threads < 1:
            raise ConfigError("--threads must be at least 1.")


def setup_device(run: RunConfig) -> torch.device:
    """Resolve the device and apply the thread count and GPU memory cap."""
    device = resolve_device(run.device)
    if run.threads:
        torch.set_num_threads(run.threads)
    if run.gpu_memory_fraction is not None and device.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(run.gpu_memory_fraction, device)
    return device


def model_config_for(model_options: dict, data: Dataset) -> ModelConfig:
    """The ModelConfig for `{"name": ..., **options}` sized to `data` (the dict is not changed)."""
    options = {k: v for k, v in model_options.items() if k != "name"}
    outputs = data.num_classes if data.task == "classification" else data.train.y.shape[1]
    return ModelConfig(model_options["name"], data.input_shape, outputs, **options)


def _load(run: RunConfig, cfg: TrainConfig, device: torch.device, progress: bool) -> Dataset:
    return load_dataset(run.dataset, data_dir=run.data_dir, offline=run.offline,
                        val_size=run.val_size, seed=cfg.seed, device=device, progress=progress)


def run_training(model_options: dict, cfg: TrainConfig, run: RunConfig,
                 progress: bool = True) -> dict:
    """Train as configured and return the figures of the run (what `--json` prints).

    Under torchrun the run is data parallel over the ranks (see `train`); every rank returns
    the same figures and only rank 0 writes checkpoints, TensorBoard events and curves."""
    dist = join(setup_device(run), run.timeout)
    try:
        return _run_training(model_options, cfg, run, dist, progress and dist.is_main)
    finally:
        dist.close()


def _run_training(model_options: dict, cfg: TrainConfig, run: RunConfig, dist: Dist,
                  progress: bool) -> dict:
    device = dist.device
    if dist.active and cfg.optimizer != "gd" and cfg.batch_size < dist.world_size:
        raise ConfigError(f"--batch-size is the global batch and must be at least the number "
                          f"of ranks ({dist.world_size}).")
    torch.manual_seed(cfg.seed)
    with dist.main_first("loading the data"):
        data = _load(run, cfg, device, progress)
    start_step, batch_state, payload = 0, None, None
    source = run.resume or run.init
    if source:
        payload = load_checkpoint(source, kind="supervised")
        mcfg = ModelConfig.from_dict(payload["model"])
    else:
        mcfg = model_config_for(model_options, data)
    if mcfg.input_shape != data.input_shape:
        raise ConfigError(f"the model takes inputs of shape {mcfg.input_shape} but "
                          f"{run.dataset} has {data.input_shape}.")
    model = build_model(mcfg).to(device)
    if payload is not None:
        load_state_checked(model, payload, source)
    if run.freeze:
        freeze_layers(model, run.freeze)
    optimizer = build_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, device)
    if run.resume:
        optimizer.load_state_dict(payload["optimizer"])
        start_step = payload["step"]
        restore_rng(payload["rng"])
        batch_state = payload["rng"]["batches"]
    if dist.rank:  # each rank its own dropout masks, derived from rank 0's stream
        torch.manual_seed(int(torch.randint(2**62, (1,))) + dist.rank)

    def write_checkpoint(step, opt, state):
        save_checkpoint(run.checkpoint, kind="supervised", model_config=mcfg.to_dict(),
                        state=model.state_dict(), step=step, optimizer=opt.state_dict(),
                        train_config=cfg, extra={"dataset": run.dataset},
                        batch_state=state)

    monitor = None
    if run.logdir and dist.is_main:
        from layerwise.train.monitor import TensorBoardMonitor
        monitor = TensorBoardMonitor(run.logdir, data.test, data.task, data.train.x[:1])
    try:
        result = train(model, data, cfg, progress=progress, start_step=start_step,
                       optimizer=optimizer, batch_state=batch_state, monitor=monitor,
                       checkpoint=write_checkpoint if run.checkpoint and dist.is_main else None,
                       dist=dist)
    finally:
        if monitor is not None:
            monitor.close()
    if run.curves and result.history.rows and dist.is_main:
        from layerwise.train.curves import write_run_curves
        write_run_curves(result.history.rows, run.curves)
    figures = summarize(model, data, mcfg, result, device, run.dataset, dist)
    figures["ranks"] = dist.world_size
    return figures


def run_size_curve(model_options: dict, cfg: TrainConfig, run: RunConfig, sizes: list[int],
                   out_dir: str, progress: bool = True) -> dict:
    """The course's learning curve: train/validation error against training-set size."""
    from layerwise.train.curves import size_curve

    device = setup_device(run)
    data = _load(run, cfg, device, progress)
    if max(sizes) > len(data.train) or min(sizes) < 1:
        raise ConfigError(f"--sizes must lie between 1 and {len(data.train)}, the training "
                          f"examples of {run.dataset}.")
    mcfg = model_config_for(model_options, data)
    rows = size_curve(mcfg, data, cfg, sizes, out_dir, progress)
    return {"model": mcfg.name, "dataset": run.dataset, "device": str(device), "curve": rows,
            "csv": str(Path(out_dir) / "learning_curve.csv"),
            "png": str(Path(out_dir) / "learning_curve.png")}


def summarize(model, data: Dataset, mcfg: ModelConfig, result, device, dataset: str,
              dist: Dist | None = None) -> dict:
    figures = {"model": mcfg.name, "dataset": dataset, "device": str(device),
               "steps": result.steps, "train_seconds": result.train_seconds,
               **test_figures(model, data, dist)}
    if result.history.rows:
        figures["last_eval"] = result.history.rows[-1]
    figures["history"] = result.history.rows
    return figures


def evaluate_checkpoint(path: str | Path, run: RunConfig) -> dict:
    """Load a supervised checkpoint and evaluate it on `run.dataset`'s test set."""
    device = setup_device(run)
    payload = load_checkpoint(path, kind="supervised")
    mcfg = ModelConfig.from_dict(payload["model"])
    data = load_dataset(run.dataset, data_dir=run.data_dir, offline=run.offline, val_size=0,
                        device=device)
    if mcfg.input_shape != data.input_shape:
        raise ConfigError(f"{path} holds a model for inputs of shape {mcfg.input_shape}; "
                          f"{run.dataset} has {data.input_shape}.")
    model = build_model(mcfg).to(device)
    load_state_checked(model, payload, path)
    return {"model": mcfg.name, "dataset": run.dataset, "device": str(device),
            "steps": payload["step"], **test_figures(model, data)}


def test_figures(model, data: Dataset, dist: Dist | None = None) -> dict:
    """`test_loss` and `test_accuracy` (classification) or `test_mse` (regression)."""
    test = evaluate(model, data.test, data.task, dist=dist)
    metric = "accuracy" if data.task == "classification" else "mse"
    return {"test_loss": test["loss"], f"test_{metric}": test[metric]}


def train_config_from(payload: dict, **overrides) -> TrainConfig:
    """The TrainConfig stored in a checkpoint, with `overrides` (e.g. a new total)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    stored = {k: v for k, v in payload.get("train", {}).items() if k in fields}
    return TrainConfig(**{**stored, **overrides})
