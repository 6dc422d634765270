"""One rank of a parallel RBM run for the tests: train, then report what the tests check.

Usage (with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set, or alone):
    python rbm_parallel_worker.py ALGORITHM VISIBLE SYNC_EVERY OUT.pt
Rank 0 writes OUT.pt: the gathered W, b_vis, b_hid, the drift log, and for the model algorithm
the largest difference between the duplicated copies before and right after a final sync.
"""

import sys

import torch

from layerwise.distributed import join
from layerwise.rbm.loop import run_epochs
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.parallel import ParallelCD, ParallelConfig
from layerwise.rbm.train import CDConfig

V, H, N = 50, 36, 240


def data(visible: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    protos = (torch.rand(4, V, generator=g) < 0.4).double()
    x = protos[torch.randint(4, (N,), generator=g)]
    x = torch.where(torch.rand(x.shape, generator=g) < 0.1, 1 - x, x)
    return (x - x.mean(0)) / x.std(0) if visible == "gaussian" else x


def duplicate_gap(trainer: ParallelCD) -> float:
    """max |W_cols - W[:, J_k]| over ranks, W taken from the rows (the authoritative copy)."""
    dist = trainer.dist
    W = trainer._gather_blocks(trainer.held.W_rows, trainer.vis.sizes(), "gather rows")
    gap = float((trainer.held.W_cols - W[:, trainer.J]).abs().max())
    return dist.max(gap, "gap")


def main() -> None:
    algorithm, visible, sync_every, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    dist = join(torch.device("cpu"), timeout=30)
    cfg = RBMConfig(V, H, visible=visible, dtype="float64")
    init = RBM(cfg, torch.Generator().manual_seed(1))
    cd = CDConfig(epochs=3, batch_size=24, lr=0.05 if visible == "binary" else 0.01)
    trainer = ParallelCD.create(init, cd, ParallelConfig(algorithm, sync_every), dist)
    run_epochs(trainer, data(visible))
    report = {"sync_log": torch.tensor(trainer.sync_log, dtype=torch.float64)}
    if algorithm == "model" and dist.active:
        report["gap_before_sync"] = torch.tensor(duplicate_gap(trainer))
        trainer.synchronise()
        report["gap_after_sync"] = torch.tensor(duplicate_gap(trainer))
    rbm = trainer.full_rbm()
    if dist.is_main:
        report.update(W=rbm.W, b_vis=rbm.b_vis, b_hid=rbm.b_hid)
        torch.save(report, out)
    dist.close()


if __name__ == "__main__":
    main()
