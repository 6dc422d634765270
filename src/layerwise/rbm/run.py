"""One RBM run end to end: load and prepare data, build or resume, train, measure, save.

`layerwise rbm train` calls `run_rbm`; a Python user calls it with the same config objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from layerwise.data.datasets import load_dataset
from layerwise.errors import ConfigError
from layerwise.rbm import io
from layerwise.rbm.data import fit_preprocessing
from layerwise.rbm.features import compare
from layerwise.rbm.images import filter_grid, save_png, tile
from layerwise.rbm.measures import reconstruction_error
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.monitor import RBMMonitor, epoch_measures
from layerwise.rbm.train import CDConfig, CDTrainer, EpochRecord, fit
from layerwise.train.run import RunConfig, setup_device

MEASURE_SAMPLE = 1000  # examples used for the per-epoch pseudo-likelihood and free-energy gap


@dataclass(frozen=True)
class RBMRun:
    """Data and outputs of an RBM run (the device and data flags are the supervised ones)."""

    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    binarize: bool = False
    save: str | None = None  # checkpoint written after every epoch
    images: str | None = None  # directory for filters.png
    eval_features: bool = False
    cuda_graphs: bool = False  # replay each epoch from a CUDA graph (layerwise.rbm.graphs)


def run_rbm(model: RBMConfig | None, cfg: CDConfig, opts: RBMRun, progress: bool = True) -> dict:
    """Train (or resume) an RBM as configured; return the run's figures."""
    run = opts.run
    device = setup_device(run)
    data = load_dataset(run.dataset, data_dir=run.data_dir, offline=run.offline,
                        val_size=run.val_size, seed=cfg.seed, device=device, progress=progress)
    if run.resume:
        payload = io.load_payload(run.resume)
        rbm = io.rbm_from_payload(payload, run.resume).to(device)
        prep = io.load_preprocessing(payload)
        trainer = io.resume_trainer(payload, rbm, epochs=cfg.epochs)
    else:
        prep = fit_preprocessing(data.train.x, model.visible, opts.binarize)
        n_visible = data.train.x[0].numel()
        model = dataclasses.replace(model, n_visible=n_visible)
        rbm = RBM(model, torch.Generator().manual_seed(cfg.seed)).to(device)
        trainer = CDTrainer(rbm, cfg)
    dtype = rbm.W.dtype
    x = prep(data.train.x, dtype)
    held = prep(data.val.x[:MEASURE_SAMPLE], dtype) if data.val is not None else None
    measure_gen = torch.Generator(device).manual_seed(cfg.seed + 2)
    # A fixed random sample: the gap's level carries sampling noise, its trend is the signal.
    sample = x[torch.randperm(len(x), generator=measure_gen, device=device)[:MEASURE_SAMPLE]]
    monitor = RBMMonitor(run.logdir) if run.logdir else None
    history: list[dict] = []

    def on_epoch(record: EpochRecord) -> None:
        row = {"epoch": record.epoch, "recon_error": record.recon_error,
               "seconds": record.seconds, **epoch_measures(rbm, sample, held, measure_gen)}
        history.append(row)
        if monitor:
            monitor.epoch(record.epoch, rbm, row)
        if opts.save:
            io.save(opts.save, rbm, prep, trainer, dataset=run.dataset)
        if progress:
            extra = "".join(f"  {k} {row[k]:.4f}" for k in ("pseudo_likelihood",
                                                           "free_energy_gap") if k in row)
            print(f"epoch {record.epoch:3}  recon error {record.recon_error:.5f}{extra}  "
                  f"{record.seconds:.2f} s", flush=True)

    try:
        records = fit(trainer, x, on_epoch, cuda_graphs=opts.cuda_graphs)
    finally:
        if monitor:
            monitor.close()
    figures = {
        "model": f"rbm {rbm.cfg.n_visible}x{rbm.cfg.n_hidden} {rbm.cfg.visible}",
        "dataset": run.dataset, "device": str(device), "epochs": trainer.epoch,
        "dtype": rbm.cfg.dtype, "matmul": trainer.cfg.matmul, "cuda_graphs": opts.cuda_graphs,
        "epoch_seconds": (sum(r.seconds for r in records) / len(records)) if records else None,
        "recon_error": reconstruction_error(rbm, prep(data.test.x, dtype)),
        "history": history,
    }
    if opts.images:
        grid = filter_grid(rbm.W)
        if grid is not None:
            figures["filters_png"] = str(save_png(grid, Path(opts.images) / "filters.png"))
    if opts.eval_features:
        if data.task != "classification":
            raise ConfigError(f"--eval-features needs labelled data; {run.dataset} has none.")
        figures.update(compare(rbm, prep, data))
    return figures


def gibbs_samples(rbm: RBM, n: int, steps: int, generator: torch.Generator,
                  start: torch.Tensor | None = None) -> torch.Tensor:
    """n samples after `steps` Gibbs steps from `start` (N, V) or from uniform noise."""
    if start is None:
        start = torch.rand(n, rbm.cfg.n_visible, generator=generator, dtype=rbm.W.dtype,
                           device=rbm.W.device)
        if rbm.gaussian:
            start = (start - 0.5) * 3.46  # unit variance
    return rbm.gibbs(start[:n], steps, generator)


def sample_grid(samples: torch.Tensor, prep) -> torch.Tensor | None:
    """Samples shown as images: Gaussian ones mapped back to pixel values first."""
    if prep.visible == "gaussian":
        samples = samples * prep.std.to(samples) + prep.mean.to(samples)
    return tile(samples.clamp(0, 1) if prep.visible == "gaussian" else samples,
                scale_each=False)
