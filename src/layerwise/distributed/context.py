"""One process per rank: joining the group, counted collectives, and faults as clear errors.

torchrun (or `layerwise launch`) starts K processes and gives each RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT. `join` reads them and opens a process group: gloo between CPUs,
NCCL between GPUs with one GPU per rank (cuda:LOCAL_RANK). Without those variables it returns a
group of one, whose collectives are identities, so the same training code runs alone.

Every collective the project issues goes through `Dist`, which

* counts the bytes this rank sends, by the algorithm's logical message sizes: an all-gather of
  n bytes sends n to each of the K - 1 others, a reduce-scatter of K blocks of n sends K - 1
  blocks, a ring all-reduce of n bytes sends 2 (K - 1) / K n;
* turns a failed or timed-out collective into a `DistributedError` naming the rank and the
  step. A peer that dies closes its connections and the others fail at once; a peer that stalls
  makes them fail after `timeout` seconds. Either way no rank hangs silently.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as tdist

# torch.distributed.nn.functional binds the default group into its functions' default arguments
# when it is first imported. Imported after the group exists (DistributedDataParallel imports it
# through torch._dynamo) it keeps the group alive past destroy_process_group, and gloo's worker
# threads then outlive the interpreter: one that drops a finished collective's tensors while
# Python shuts down aborts the process ("terminate called without an active exception").
# Imported here, before any group exists, it binds None.
import torch.distributed.nn.functional  # noqa: F401  (imported for its side effect above)

from layerwise.errors import ConfigError, LayerwiseError
from layerwise.names import DEFAULT_TIMEOUT


class DistributedError(LayerwiseError):
    """A collective failed: another rank died, stalled or could not be reached."""


def env_world_size() -> int:
    """WORLD_SIZE as set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


class Pending:
    """An asynchronous collective in flight; `wait()` returns its result."""

    def __init__(self, dist: Dist, work, result, what: str, finish=None):
        self.dist, self.work, self.result, self.what, self.finish = dist, work, result, what, finish

    def wait(self):
        if self.work is not None:
            start = time.perf_counter()
            with self.dist.guard(self.what):
                self.work.wait()
            self.dist.wait_seconds += time.perf_counter() - start
        return self.finish(self.result) if self.finish else self.result


@dataclass
class Dist:
    """This process's place in the group and the collectives it uses."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    timeout: float = DEFAULT_TIMEOUT
    sent_bytes: int = 0  # logical bytes this rank has sent so far
    wait_seconds: float = 0.0  # time spent waiting for asynchronous collectives to finish

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn a communication failure inside the block into one clear DistributedError."""
        try:
            yield
        except RuntimeError as exc:
            if not self.active:
                raise
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            cause = cause.split("] ", 1)[-1]  # drop the C++ source location
            cause = cause.split(". This is typically", 1)[0][:200]  # and gloo's advice
            raise DistributedError(
                f"rank {self.rank} of {self.world_size}: {what} failed ({cause}). Another rank "
                f"has probably died or stalled for more than {self.timeout:g} s (--timeout); "
                "this rank is stopping too.") from None

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model under DistributedDataParallel (gradients all-reduced in backward); the
        model itself when alone. Construction broadcasts rank 0's parameters."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        with self.guard("broadcasting the initial parameters"):
            return DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    # -- collectives ----------------------------------------------------------------------
    def all_gather(self, t: torch.Tensor, what: str, async_op: bool = False):
        """(n...) on every rank -> (K, n...) in rank order. Sends (K - 1) * t.nbytes."""
        if not self.active:
            return _done(t.unsqueeze(0), async_op)
        out = t.new_empty((self.world_size, *t.shape))
        self.sent_bytes += (self.world_size - 1) * t.nbytes
        with self.guard(what):
            work = _all_gather_into(out, t.contiguous(), async_op)
        return Pending(self, work, out, what) if async_op else out

    def reduce_scatter(self, t: torch.Tensor, what: str, async_op: bool = False):
        """(K, n...) on every rank -> the sum over ranks of block `rank`, (n...)."""
        if not self.active:
            return _done(t[0], async_op)
        out = t.new_empty(t.shape[1:])
        self.sent_bytes += (self.world_size - 1) * out.nbytes
        with self.guard(what):
            work = _reduce_scatter_into(out, t.contiguous(), async_op)
        return Pending(self, work, out, what) if async_op else out

    def all_reduce(self, t: torch.Tensor, what: str, async_op: bool = False):
        """Sum `t` over ranks in place; returns it."""
        if not self.active:
            return _done(t, async_op)
        self.sent_bytes += 2 * (self.world_size - 1) * t.nbytes // self.world_size
        with self.guard(what):
            work = tdist.all_reduce(t, async_op=async_op)
        return Pending(self, work, t, what) if async_op else t

    def all_to_all(self, blocks: torch.Tensor, what: str) -> torch.Tensor:
        """(K, n...): block k goes to rank k; returns (K, n...) with block j from rank j."""
        if not self.active:
            return blocks.clone()
        out = torch.empty_like(blocks)
        self.sent_bytes += (self.world_size - 1) * blocks[0].nbytes
        with self.guard(what):
            tdist.all_to_all_single(out, blocks.contiguous())
        return out

    def max(self, value: float, what: str) -> float:
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        if self.active:
            with self.guard(what):
                tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return float(t)

    def barrier(self, what: str) -> None:
        if self.active:
            with self.guard(what):
                tdist.barrier()

    @contextlib.contextmanager
    def main_first(self, what: str) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. a download), the others after it."""
        if not self.is_main:
            self.barrier(what)
        yield
        if self.is_main:
            self.barrier(what)

    def close(self) -> None:
        """Leave the group. Its backend is freed here, while the interpreter is whole:
        whatever still holds the group only through a reference cycle (a model wrapper, say) is
        collected first, so destroy_process_group drops the last reference and gloo's worker
        threads are joined now rather than left running into interpreter shutdown."""
        if self.active and tdist.is_initialized():
            gc.collect()
            tdist.destroy_process_group()


def _done(result, async_op: bool):
    return Pending(None, None, result, "") if async_op else result


def _all_gather_into(out, t, async_op):
    """out (K, n...) receives each rank's t (n...), passed as their concatenation (K n, ...),
    the form every backend accepts. all_gather_single is all_gather_into_tensor's newer name."""
    fn = getattr(tdist, "all_gather_single", None) or tdist.all_gather_into_tensor
    return fn(out.view(-1, *t.shape[1:]), t, async_op=async_op)


def _reduce_scatter_into(out, t, async_op):
    fn = getattr(tdist, "reduce_scatter_single", None) or tdist.reduce_scatter_tensor
    return fn(out, t.view(-1, *out.shape[1:]), async_op=async_op)


def join(device: torch.device, timeout: float = DEFAULT_TIMEOUT) -> Dist:
    """Join the process group torchrun set up, or return a group of one.

    With CUDA each rank takes cuda:LOCAL_RANK (one GPU per rank) and NCCL; on the CPU, gloo.
    `timeout` bounds how long any collective (and the start-up rendezvous) waits for the others.
    """
    if timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {timeout:g} seconds.")
    world = env_world_size()
    if world <= 1:
        return Dist(device=device, timeout=timeout)
    rank, local_rank = env_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    if "TORCHELASTIC_RUN_ID" in os.environ:  # started by torchrun: end with it
        from layerwise.distributed.launcher import die_with_parent

        die_with_parent()
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"rank {rank} is local rank {local_rank} but this machine has "
                              f"{torch.cuda.device_count()} GPU(s); start at most one process "
                              "per GPU (--nproc-per-node).")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist = Dist(rank, world, local_rank, device, timeout)
    if not tdist.is_initialized():
        with dist.guard("joining the process group"):
            tdist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout),
                                     **({"device_id": device} if backend == "nccl" else {}))
    return dist
