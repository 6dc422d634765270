"""The one loop that trains an RBM, whichever trainer does the steps.

A trainer is anything with the `Trainer` protocol: `CDTrainer` (one process, CD-k or PCD,
`layerwise.rbm.train`) and `ParallelCD` (CD-1 split over the ranks of a torchrun job,
`layerwise.rbm.parallel`). Per epoch the loop draws one permutation from `trainer.batches`
(seeded alike on every rank), gathers each mini-batch with `index_select`, sums the
trainer's squared reconstruction errors on the device, and reads them once at the end through
`trainer.end_epoch`, which also stops a diverged run. Nothing inside an epoch waits for the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from layerwise.data.datasets import epoch_batches
from layerwise.rbm.graphs import GraphedEpochs
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.train import CDConfig


class Trainer(Protocol):
    """What the loop needs of a trainer."""

    cd: CDConfig
    rbm_config: RBMConfig  # the whole RBM's architecture
    epoch: int  # epochs done
    batches: torch.Generator  # draws each epoch's permutation (the same on every rank)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The training data (N, V) on the trainer's device and dtype."""

    def step(self, v_pos: torch.Tensor) -> torch.Tensor:
        """One update on the mini-batch v_pos (B, V); this process's summed squared error."""

    def begin_epoch(self) -> None:
        """Note what the epoch's figures are measured from (bytes sent, synchronisations)."""

    def end_epoch(self, total: torch.Tensor, count: int) -> dict:
        """The epoch's figures over all ranks (`recon_error`, ...); raises RBMDivergedError."""

    def full_rbm(self) -> RBM | None:
        """The whole RBM (a collective in parallel runs; None on ranks other than 0)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class EpochRecord:
    epoch: int
    recon_error: float  # mean squared error per visible unit over the epoch (all ranks)
    seconds: float
    sent_bytes: int | None = None  # parallel: what this rank sent (synchronisations excluded)
    sync_drift: float | None = None  # parallel: largest drift its synchronisations removed
    wait_seconds: float | None = None  # parallel: time this rank waited on exchanges in flight


def run_epochs(trainer: Trainer, x: torch.Tensor,
               on_epoch: Callable[[EpochRecord], None] | None = None,
               cuda_graphs: bool = False) -> list[EpochRecord]:
    """Train until `trainer.cd.epochs` epochs are done on x (N, V), the same on every rank.

    With `cuda_graphs` (one process) each epoch is one replay of a CUDA graph of the whole epoch
    (see `layerwise.rbm.graphs`); the numbers drawn are the same.
    """
    x = trainer.prepare(x)
    N, V = x.shape
    graphed = GraphedEpochs(trainer, x) if cuda_graphs else None
    records = []
    while trainer.epoch < trainer.cd.epochs:
        start = time.perf_counter()
        trainer.begin_epoch()
        if graphed is not None:
            total = graphed.run_epoch()
        else:
            total = torch.zeros((), dtype=x.dtype, device=x.device)
            for idx in epoch_batches(N, trainer.cd.batch_size, trainer.batches):
                total += trainer.step(x.index_select(0, idx))  # a third of x[idx]'s time
        figures = trainer.end_epoch(total, N * V)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        trainer.epoch += 1
        record = EpochRecord(trainer.epoch, seconds=time.perf_counter() - start, **figures)
        records.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return records
