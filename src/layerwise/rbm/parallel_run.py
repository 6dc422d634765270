"""A parallel RBM run end to end: the epoch loop, the run, and its sharded checkpoints.

`layerwise rbm train --parallel ALGORITHM` under torchrun calls `run_parallel` on every rank.

Sharded checkpoint: a directory holding one file per rank, `shard-RRR-of-KKK.eEEEE.pt` (the
tensors that rank holds, its velocities and generators), and `manifest.json`, written by rank 0
after every rank has written its shard for that epoch. A reader trusts the manifest only: shards
of a newer epoch left by an interruption are ignored, and older ones are removed once the
manifest names the new set. Resuming needs the same number of ranks, since each holds its
own blocks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from layerwise.data.datasets import epoch_batches, load_dataset
from layerwise.data.files import atomic_output, atomic_write_bytes
from layerwise.distributed import Dist, join
from layerwise.errors import ConfigError, DataError
from layerwise.rbm import comm, io
from layerwise.rbm.data import Preprocessing, fit_preprocessing
from layerwise.rbm.measures import reconstruction_error
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.parallel import ParallelCD, ParallelConfig
from layerwise.rbm.run import RBMRun
from layerwise.rbm.train import CDConfig, RBMDivergedError
from layerwise.train.run import setup_device

MANIFEST = "manifest.json"
SHARDS_FORMAT = "layerwise-rbm-shards"


def shard_name(rank: int, ranks: int, epoch: int) -> str:
    return f"shard-{rank:03d}-of-{ranks:03d}.e{epoch:04d}.pt"


def save_shards(directory: str | Path, trainer: ParallelCD, prep: Preprocessing,
                dataset: str) -> None:
    """Every rank writes its shard; then rank 0 writes the manifest; then old shards go."""
    directory, dist = Path(directory), trainer.dist
    name = shard_name(dist.rank, dist.world_size, trainer.epoch)
    with atomic_output(directory / name) as f:
        torch.save({k: _cpu(v) for k, v in trainer.state_dict().items()}, f)
    dist.barrier("waiting for every rank's shard")
    if dist.is_main:
        manifest = {"format": SHARDS_FORMAT, "version": 1, "ranks": dist.world_size,
                    "epoch": trainer.epoch, "model": trainer.cfg.to_dict(),
                    "train": trainer.cd.to_dict(), "parallel": trainer.par.to_dict(),
                    "dataset": dataset,
                    "files": [shard_name(k, dist.world_size, trainer.epoch)
                              for k in range(dist.world_size)]}
        atomic_write_bytes(directory / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
        with atomic_output(directory / "prep.pt") as f:
            torch.save(prep.to_dict(), f)
    dist.barrier("waiting for the manifest")
    for old in directory.glob(f"shard-{dist.rank:03d}-of-{dist.world_size:03d}.e*.pt"):
        if old.name != name:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def _cpu(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu()
    if isinstance(v, list):
        return [_cpu(t) for t in v]
    return v


def read_manifest(directory: str | Path) -> dict:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        raise DataError(f"{directory} is not a sharded RBM checkpoint (no readable "
                        f"{MANIFEST}).") from None
    if manifest.get("format") != SHARDS_FORMAT:
        raise DataError(f"{path} is not a sharded RBM checkpoint manifest.")
    return manifest


def load_shard(directory: str | Path, manifest: dict, dist: Dist) -> tuple[dict, Preprocessing]:
    """This rank's shard named by the manifest, and the run's preprocessing."""
    if manifest["ranks"] != dist.world_size:
        raise ConfigError(f"{directory} was written by {manifest['ranks']} ranks; resume it "
                          f"with --nproc-per-node {manifest['ranks']} (this job has "
                          f"{dist.world_size}).")
    path = Path(directory) / manifest["files"][dist.rank]
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        prep = torch.load(Path(directory) / "prep.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # a missing or damaged file, whatever torch raises for it
        raise DataError(f"cannot read shard {path} of the sharded checkpoint "
                        f"({str(exc).splitlines()[0][:150] if str(exc) else type(exc).__name__})."
                        ) from None
    if int(state["epoch"]) != manifest["epoch"]:
        raise DataError(f"{path} is of epoch {state['epoch']} but {MANIFEST} says "
                        f"{manifest['epoch']}; the checkpoint is inconsistent.")
    return state, Preprocessing.from_dict(prep)


def run_parallel(model: RBMConfig | None, cd: CDConfig, par: ParallelConfig, opts: RBMRun,
                 shards: str | None = None, progress: bool = True) -> dict:
    """Train one RBM over the ranks torchrun started (or alone); rank 0 returns the figures,
    the other ranks an empty dict."""
    run = opts.run
    dist = join(setup_device(run), run.timeout)
    try:
        return _run(model, cd, par, opts, shards, dist, progress and dist.is_main)
    finally:
        dist.close()


def _run(model, cd, par, opts, shards, dist: Dist, progress: bool) -> dict:
    run = opts.run
    with dist.main_first("loading the data"):
        data = load_dataset(run.dataset, data_dir=run.data_dir, offline=run.offline,
                            val_size=run.val_size, seed=cd.seed, device=dist.device,
                            progress=progress)
    n_visible = data.train.x[0].numel()
    if run.resume:
        manifest = read_manifest(run.resume)
        state, prep = load_shard(run.resume, manifest, dist)
        model = RBMConfig.from_dict(manifest["model"])
        cd = dataclasses.replace(CDConfig(**manifest["train"]), epochs=cd.epochs)
        par = ParallelConfig(**manifest["parallel"])
        if model.n_visible != n_visible:
            raise ConfigError(f"{run.resume} has {model.n_visible} visible units but "
                              f"{run.dataset}'s images have {n_visible} pixels.")
    else:
        state, prep = None, fit_preprocessing(data.train.x, model.visible, opts.binarize)
        model = dataclasses.replace(model, n_visible=n_visible)
    init = RBM(model, torch.Generator().manual_seed(cd.seed))
    trainer = ParallelCD(init, cd, par, dist)
    del init
    if state is not None:
        trainer.load_state_dict(state)
    x = prep(data.train.x, model.torch_dtype)
    history: list[dict] = []

    def on_epoch(record: ParallelEpoch) -> None:
        history.append(dataclasses.asdict(record))
        if shards:
            save_shards(shards, trainer, prep, run.dataset)
        if progress:
            drift = "" if record.sync_drift is None else f"  sync drift {record.sync_drift:.3g}"
            print(f"epoch {record.epoch:3}  recon error {record.recon_error:.5f}  sent "
                  f"{record.sent_bytes / 1e6:.2f} MB (rank 0){drift}  {record.seconds:.2f} s",
                  flush=True)

    records = fit_parallel(trainer, x, on_epoch)
    sent = torch.tensor([r.sent_bytes for r in records] or [0], dtype=torch.float64,
                        device=dist.device)
    sent_by_rank = dist.all_gather(sent.mean().reshape(1), "collecting the bytes sent")
    rbm = trainer.gather_rbm()
    if not dist.is_main:
        return {}
    if opts.save:
        io.save(opts.save, rbm, prep, dataset=run.dataset, epochs=trainer.epoch,
                train_config=cd)
    problem = comm.Problem(model.n_visible, model.n_hidden, len(x), cd.batch_size)
    precision = model.dtype
    return {
        "model": f"rbm {model.n_visible}x{model.n_hidden} {model.visible}",
        "dataset": run.dataset, "device": str(dist.device), "ranks": dist.world_size,
        "parallel": par.algorithm, "epochs": trainer.epoch,
        "epoch_seconds": (sum(r.seconds for r in records) / len(records)) if records else None,
        "recon_error": reconstruction_error(rbm.to(dist.device), prep(data.test.x,
                                                                      model.torch_dtype)),
        "sent_bytes_per_epoch": [float(b) for b in sent_by_rank.view(-1)],
        "model_bytes_per_epoch": comm.epoch_bytes(problem, par.algorithm, dist.world_size,
                                                  model.visible, precision),
        "sync_drift": list(trainer.sync_log),
        "history": history,
    }


@dataclass
class ParallelEpoch:
    epoch: int
    recon_error: float  # mean squared error per visible unit over the epoch (all ranks)
    seconds: float
    sent_bytes: int  # what this rank sent in the epoch (synchronisations excluded)
    sync_drift: float | None  # largest drift removed by the epoch's synchronisations


def fit_parallel(trainer: ParallelCD, x: torch.Tensor,
                 on_epoch: Callable[[ParallelEpoch], None] | None = None
                 ) -> list[ParallelEpoch]:
    """Train until `trainer.cd.epochs` epochs are done on x (N, V), the same on every rank."""
    dist, cd = trainer.dist, trainer.cd
    x = x.to(device=dist.device, dtype=trainer.cfg.torch_dtype)
    N, V = x.shape
    records = []
    while trainer.epoch < cd.epochs:
        start, sent, syncs = time.perf_counter(), dist.sent_bytes, len(trainer.sync_log)
        sync_bytes = trainer.sync_bytes
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        for idx in epoch_batches(N, cd.batch_size, trainer.batches):
            total += trainer.step(x[idx])
        sent = dist.sent_bytes - sent - (trainer.sync_bytes - sync_bytes)
        # One all-reduce per epoch: the error's parts and whether any rank's weights broke.
        figures = torch.stack([total.double(), torch.tensor(
            float(not trainer.parameters_finite()), dtype=torch.float64, device=x.device)])
        dist.all_reduce(figures, "collecting the epoch's error")
        if dist.device.type == "cuda":
            torch.cuda.synchronize(dist.device)
        seconds = time.perf_counter() - start
        error = float(figures[0]) / (N * V)
        if figures[1] > 0 or error != error:
            raise RBMDivergedError(f"the RBM's weights became NaN/inf in epoch "
                                   f"{trainer.epoch + 1}; lower --lr. The last sharded "
                                   "checkpoint (if any) is unchanged.")
        trainer.epoch += 1
        drifts = trainer.sync_log[syncs:]
        record = ParallelEpoch(trainer.epoch, error, seconds, sent,
                               max(drifts) if drifts else None)
        records.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return records
