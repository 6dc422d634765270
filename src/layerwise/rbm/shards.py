"""Sharded checkpoints of parallel RBM runs.

A directory holding one file per rank, `shard-RRR-of-KKK.eEEEE.pt` (the tensors that rank holds,
its velocities and generators), `prep.pt` (the data preprocessing) and `manifest.json`, written
by rank 0 after every rank has written its shard for that epoch (and `prep.pt` before it). A
reader trusts the manifest only: shards of a newer epoch left by an interruption are ignored
and removed when the run resumes, with the temporary files of killed writers; older ones are
removed once the manifest names the new set. Resuming needs the same number of ranks, since
each holds its own blocks.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch

from layerwise.checkpoint import write_torch
from layerwise.data.files import atomic_output, atomic_write_bytes, remove_stale_parts
from layerwise.distributed import Dist
from layerwise.errors import ConfigError, DataError
from layerwise.rbm.data import Preprocessing
from layerwise.rbm.parallel import ParallelCD

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
        write_torch({k: _cpu(v) for k, v in trainer.state_dict().items()}, f, directory / name)
    dist.barrier("waiting for every rank's shard")
    if dist.is_main:
        with atomic_output(directory / "prep.pt") as f:
            write_torch(prep.to_dict(), f, directory / "prep.pt")
        manifest = {"format": SHARDS_FORMAT, "version": 1, "ranks": dist.world_size,
                    "epoch": trainer.epoch, "model": trainer.rbm_config.to_dict(),
                    "train": trainer.cd.to_dict(), "parallel": trainer.par.to_dict(),
                    "dataset": dataset,
                    "files": [shard_name(k, dist.world_size, trainer.epoch)
                              for k in range(dist.world_size)]}
        atomic_write_bytes(directory / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    dist.barrier("waiting for the manifest")
    tidy(directory, name, dist.rank, dist.world_size)


def tidy(directory: Path, keep: str, rank: int, ranks: int) -> list[Path]:
    """Remove this rank's shards other than `keep` (the one the manifest names) and the
    temporary files its killed writers left; return what was removed."""
    removed = []
    pattern = f"shard-{rank:03d}-of-{ranks:03d}.e*.pt"
    for old in directory.glob(pattern):
        if old.name != keep:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
                removed.append(old)
    for old in directory.glob("." + pattern + ".*.part"):
        removed += remove_stale_parts(old.parent / (old.name[1:].split(".pt.", 1)[0] + ".pt"))
    return removed


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
    if not isinstance(manifest, dict) or manifest.get("format") != SHARDS_FORMAT:
        raise DataError(f"{path} is not a sharded RBM checkpoint manifest.")
    _check_manifest(path, manifest)
    return manifest


def _check_manifest(path: Path, manifest: dict) -> None:
    """Keys, types and ranges a manifest written by `save` has; one DataError naming the
    key otherwise (a rank would otherwise fail with a KeyError or IndexError)."""
    def bad(key: str, want: str):
        return DataError(f"{path} is damaged: its {key!r} is {manifest.get(key)!r}, not {want}.")

    for key in ("ranks", "epoch"):
        value = manifest.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (key == "ranks"):
            raise bad(key, "a whole number" + (" of at least 1" if key == "ranks" else ""))
    files = manifest.get("files")
    if not isinstance(files, list) or len(files) != manifest["ranks"] or not all(
            isinstance(f, str) and f and Path(f).name == f for f in files):
        raise bad("files", f"a list of {manifest['ranks']} shard file names")
    from layerwise.checkpoint import stored_config
    from layerwise.rbm.model import RBMConfig
    from layerwise.rbm.parallel import ParallelConfig
    from layerwise.rbm.train import CDConfig

    stored_config(RBMConfig, manifest.get("model"), path, "model",
                  required=("n_visible", "n_hidden", "visible"))
    stored_config(CDConfig, manifest.get("train"), path, "train")
    stored_config(ParallelConfig, manifest.get("parallel"), path, "parallel")


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
    tidy(Path(directory), path.name, dist.rank, dist.world_size)
    return state, Preprocessing.from_dict(prep)
