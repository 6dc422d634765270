"""CD epochs replayed from one CUDA graph (`layerwise rbm train --cuda-graphs`).

An eager CD-1 step of a 784 x 500 RBM launches about twenty-five small kernels, and on a GPU each
launch costs more than its work, so an epoch of 600 batches is bounded by the host. Here the
whole epoch (every batch's gather, every step, the error sum) is captured once into a CUDA graph
and each epoch is one replay: the host draws the epoch's permutation with the same generator
call as the eager loop, copies it into the graph's index buffer, replays, and reads the error
once at the end.

What capture relies on:
- static shapes and addresses: the data, the RBM's buffers, the velocities and the bfloat16
  buffers exist before capture and are only ever updated in place;
- no host synchronisation inside a step (CDTrainer.step has none);
- the sampler generator registered with the graph, so each replay advances its Philox offset by
  exactly what the eager steps would: a replayed epoch draws the same numbers as an eager one.
Warm-up steps before capture (cuBLAS handles, lazily allocated buffers) run on a snapshot that
is put back afterwards, so capturing changes no state.
"""

from __future__ import annotations

import torch

from layerwise.device import capture_graph
from layerwise.errors import ConfigError
from layerwise.rbm.train import CDTrainer

WARM_UP_STEPS = 3


class GraphedEpochs:
    """Runs CD epochs of `trainer` on x (N, V) from a CUDA graph captured at the first epoch.

    With `capture=False` the same static-buffer epoch runs eagerly (on any device): the path the
    graph records, which is how a CPU checks it against the ordinary loop.
    """

    def __init__(self, trainer: CDTrainer, x: torch.Tensor, capture: bool = True):
        if not isinstance(trainer, CDTrainer):
            raise ConfigError("--cuda-graphs is for single-process runs: the parallel "
                              "algorithms exchange states between the steps of an epoch.")
        if trainer.cd.persistent:
            raise ConfigError("--cuda-graphs replays CD-k epochs; drop --pcd (the persistent "
                              "chains are created by the first batch, which a graph cannot "
                              "record).")
        if capture and x.device.type != "cuda":
            raise ConfigError(f"--cuda-graphs needs a CUDA device; the data is on {x.device}.")
        self.trainer, self.x, self.capture = trainer, x, capture
        self.perm = torch.empty(len(x), dtype=torch.long, device=x.device)
        self.total = torch.zeros((), dtype=x.dtype, device=x.device)
        self.graph: torch.cuda.CUDAGraph | None = None

    def run_epoch(self) -> torch.Tensor:
        """One epoch over x; returns its summed squared reconstruction error (on the device)."""
        trainer = self.trainer
        self.perm.copy_(torch.randperm(len(self.x), generator=trainer.batches,
                                       device=trainer.batches.device))
        self.total.zero_()
        if not self.capture:
            self._steps()
            return self.total
        if self.graph is None:
            self.graph, _ = capture_graph(self.x.device, self.warm_up, self._steps,
                                          generators=[trainer.sampler])
        self.graph.replay()
        return self.total

    def _steps(self) -> None:
        """The recorded work: every batch of the permutation in self.perm, one CD step each."""
        B = self.trainer.cd.batch_size
        for start in range(0, len(self.x), B):
            v_pos = self.x.index_select(0, self.perm[start:start + B])
            self.total += self.trainer.step(v_pos)

    def warm_up(self) -> None:
        """Run WARM_UP_STEPS steps, then restore every tensor and generator they changed."""
        trainer, B = self.trainer, self.trainer.cd.batch_size
        state = self._state()
        saved = {name: t.clone() for name, t in state.items()}
        sampler = trainer.sampler.get_state()
        for _ in range(WARM_UP_STEPS):
            trainer.step(self.x[:B])
        for name, t in state.items():
            t.copy_(saved[name])
        trainer.sampler.set_state(sampler)

    def _state(self) -> dict[str, torch.Tensor]:
        rbm = self.trainer.rbm
        named = {name: getattr(rbm, name) for name in self.trainer.PARAMS}
        named.update({f"vel_{name}": v for name, v in self.trainer.vel.items()})
        return named
