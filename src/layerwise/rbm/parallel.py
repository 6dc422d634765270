"""CD-1 for one RBM split over K ranks: the report's model-parallel algorithm and two variants.

Partition. The hidden units are cut into G = `rng_blocks` contiguous blocks, and so are the
visible units; rank k owns blocks [k G / K, (k + 1) G / K) of each: hidden units J_k and visible
units I_k. Every block draws its random numbers from its own generator, seeded from the run's
seed and the block's index, and always for the whole mini-batch, so the sample a unit gets for
an example does not depend on K or on the algorithm.

Classes. `ParallelCD` (this module) is what every algorithm shares: the partitions and block
samplers, the epoch bookkeeping and byte counts, the synchronisation log, the CD-1 step on all
of W, assembling the full RBM and the checkpoint state. Each algorithm is a subclass in
`layerwise.rbm.strategies` that says what a rank holds and what one mini-batch computes and
sends: `ModelParallelCD` (`model`), `DataParallelCD` (`data`) and `VisibleParallelCD`
(`visible`). `ParallelCD.create(init, cd, par, dist)` builds the one `ParallelConfig.algorithm`
names.

The `model` algorithm (the report's; `ModelParallelCD`). Every rank sees the whole mini-batch
(the batch order comes from a generator seeded alike on every rank). Rank k holds

    W_cols = W[:, J_k]    (V, |J_k|)   the weights into its hidden units ("green")
    W_rows = W[I_k, :]    (|I_k|, H)   the weights into its visible units ("purple")
    b_hid[J_k], b_vis[I_k]             each bias is owned by one rank only

so a weight W[i, j] with i in I_m, j in J_k (m != k) lives on two ranks. Per mini-batch v_pos
(B, V):

    1. h_pos[:, J_k] = sample sigmoid(b_hid[J_k] + v_pos W_cols); all-gather as packed bits
       (1 bit per unit) -> h_pos (B, H).      Meanwhile: G_cols  = v_pos^T h_pos[:, J_k]
    2. v_neg[:, I_k] = sample p(v | h_pos) through W_rows; all-gather (bits for binary units,
       floats for Gaussian ones) -> v_neg (B, V). Meanwhile: G_rows = v_pos[:, I_k]^T h_pos
    3. h_neg[:, J_k] = sample sigmoid(b_hid[J_k] + v_neg W_cols); all-gather as bits
       -> h_neg (B, H).                         Meanwhile: G_cols -= v_neg^T h_neg[:, J_k]
    4. G_rows -= v_neg[:, I_k]^T h_neg; momentum step on W_cols, W_rows and the owned biases:
       vel = m vel + lr (G / B - weight_decay W); W += vel.

"Meanwhile" is literal: each exchange is an asynchronous collective and the product beside it
needs nothing from it, so it computes while the states are on the wire (what the report's
reader and writer threads did).

The statistics use sampled states, as in the report. With binary data every product above is a
sum of 0/1 products: an integer, exact in floating point whatever the summation order. So both
copies of a duplicated weight receive bit-identical updates and a K-rank run gives the 1-rank
run's weights bit for bit. One caveat: the hidden *inputs* are float sums computed by products
of different shapes for different K, which can differ in the last bit; that changes a sample
only when a uniform draw lands within that rounding of its probability (about one draw in 10^7),
after which the two runs follow different (equally valid) chains. Gaussian visible states are
floats, so the copies drift apart by rounding: every `sync_every` batches `synchronise` copies
each rank's rows (purple) over the other ranks' columns (green) with one all-to-all, and
records the largest difference it removed.

On one rank the model algorithm holds W once and runs plain CD-1 on the whole mini-batch.

The `data` variant (`DataParallelCD`, the report's simplest alternative): every rank holds all
of W, runs CD-1 on its 1/K slice of each mini-batch, and all-reduces the statistics
(V H + V + H floats); every rank then takes the same step. The `visible` variant
(`VisibleParallelCD`, for H well below V): rank k holds only W_rows; the hidden inputs are
partial sums v[:, I_k] W_rows, reduce-scattered so that rank k receives the totals for J_k; it
samples those and all-gathers the bits. Its visible units need nothing from the others. Each
weight lives on one rank, so nothing drifts.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from layerwise.distributed import Dist
from layerwise.errors import ConfigError
from layerwise.names import PARALLEL_ALGORITHMS
from layerwise.rbm.blocks import BlockSampler, Held, Partition, momentum_step
from layerwise.rbm.config import ParallelConfig  # noqa: F401 - its home; re-exported here
from layerwise.rbm.model import RBM, flush_tiny_
from layerwise.rbm.train import CDConfig, diverged

ALGORITHMS = PARALLEL_ALGORITHMS


class ParallelCD(ABC):
    """CD-1 on this rank's share of one RBM, the machinery every algorithm shares. `step(v_pos)`
    runs one mini-batch; each algorithm's subclass (layerwise.rbm.strategies) says what a rank
    holds (`_held`, `single`) and what one mini-batch computes and sends (`_step`). Build one
    with `ParallelCD.create`; see the module docstring for what each algorithm does."""

    @classmethod
    def create(cls, init: RBM, cd: CDConfig, par: ParallelConfig, dist: Dist) -> ParallelCD:
        """The trainer of `par.algorithm`: ModelParallelCD, DataParallelCD or VisibleParallelCD."""
        # Imported here, not above: the strategies subclass ParallelCD, so their module imports
        # this one.
        from layerwise.rbm.strategies import STRATEGIES
        return STRATEGIES[par.algorithm](init, cd, par, dist)

    def __init__(self, init: RBM, cd: CDConfig, par: ParallelConfig, dist: Dist):
        if cd.cd_k != 1 or cd.persistent:
            raise ConfigError("--parallel trains by CD-1, the report's algorithm; drop --cd-k "
                              "and --pcd.")
        if cd.matmul != "full":
            raise ConfigError(f"--parallel computes its products at the --dtype; drop --matmul "
                              f"{cd.matmul}.")
        if init.cfg.learn_sigma:
            raise ConfigError("--parallel trains Gaussian units with sigma fixed at 1 "
                              "(standardised data); drop --learn-sigma.")
        K, V, H = dist.world_size, init.cfg.n_visible, init.cfg.n_hidden
        if par.rng_blocks < K:
            raise ConfigError(f"--rng-blocks ({par.rng_blocks}) must be at least the number "
                              f"of ranks ({K}).")
        self.rbm_config, self.par, self.dist = init.cfg, par, dist
        self.cd = cd.resolved(init.gaussian)
        self.gaussian = init.gaussian
        self.hid = Partition(H, par.rng_blocks, K)
        self.vis = Partition(V, par.rng_blocks, K)
        device, r = dist.device, dist.rank
        self.hid_rng = BlockSampler(self.hid, self._sampled_blocks(self.hid), cd.seed, 1, device)
        self.vis_rng = BlockSampler(self.vis, self._sampled_blocks(self.vis), cd.seed, 2, device)
        self.batches = torch.Generator(device).manual_seed(cd.seed + 1)
        self.J, self.I = self.hid.units(r), self.vis.units(r)
        self.held = self._hold(init)
        self.epoch = 0
        self.batches_done = 0
        self._buffers: dict[str, torch.Tensor] = {}  # statistics kept from batch to batch
        self.sync_log: list[float] = []  # largest difference removed by each synchronisation
        self.sync_bytes = 0
        self._epoch_start = (0, 0, 0)  # sent bytes, sync bytes, syncs when the epoch began

    # -- what each rank holds ---------------------------------------------------------------
    def _hold(self, init: RBM) -> Held:
        dev = self.dist.device
        held = self._held(init.W.to(dev), init.b_vis.to(dev), init.b_hid.to(dev))
        held.vel = {k: torch.zeros_like(v) for k, v in held.tensors().items()}
        return held

    def _held(self, W: torch.Tensor, b_vis: torch.Tensor, b_hid: torch.Tensor) -> Held:
        """What this rank keeps of W (V, H), b_vis (V,) and b_hid (H,): here all of them, W as
        W_cols; a subclass that holds a share overrides this and `single`."""
        return Held(W_cols=W.clone(), b_hid=b_hid.clone(), b_vis=b_vis.clone())

    def _held_rows(self, W: torch.Tensor, b_vis: torch.Tensor, b_hid: torch.Tensor) -> Held:
        """This rank's rows W[I_k] (|I_k|, H) and the biases it owns, b_hid[J_k], b_vis[I_k]."""
        I, J = self.I, self.J
        return Held(W_rows=W[I].clone(), b_hid=b_hid[J].clone(), b_vis=b_vis[I].clone())

    @property
    def single(self) -> bool:
        """Whether W is held once, as W_cols (V, H), with both biases whole."""
        return True

    # -- sampling --------------------------------------------------------------------------
    def _sampled_blocks(self, part: Partition) -> range:
        """The blocks of `part` whose units this rank samples: the ones it owns."""
        return part.owned_blocks(self.dist.rank)

    def _hidden(self, h_in: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        """Sample the owned hidden units from their inputs (B, |J_k|); data: rows of (B, H)."""
        u = self.hid_rng.draw(self._draw_rows(h_in, rows))
        u = u if rows is None else u[rows]
        return (u < flush_tiny_(torch.sigmoid(h_in))).to(h_in.dtype)

    def _visible(self, v_in: torch.Tensor, rows: slice | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(E[v | h], a sample of v) for the owned visible units from their inputs."""
        n = self.vis_rng.draw(self._draw_rows(v_in, rows), normal=self.gaussian)
        n = n if rows is None else n[rows]
        if self.gaussian:
            return v_in, v_in + n.to(v_in.dtype)
        mean = flush_tiny_(torch.sigmoid(v_in))
        return mean, (n < mean).to(v_in.dtype)

    def _draw_rows(self, x: torch.Tensor, rows: slice | None) -> int:
        return self._batch if rows is not None else len(x)

    # -- the trainer protocol of layerwise.rbm.loop ------------------------------------------
    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The whole training set (N, V), the same on every rank, on this rank's device."""
        return x.to(device=self.dist.device, dtype=self.rbm_config.torch_dtype)

    def begin_epoch(self) -> None:
        self._epoch_start = (self.dist.sent_bytes, self.sync_bytes, len(self.sync_log),
                             self.dist.wait_seconds)

    def end_epoch(self, total: torch.Tensor, count: int) -> dict:
        """The error over all ranks, the bytes this rank sent in the epoch (synchronisations
        excluded) and the largest drift removed; raises if any rank's weights broke."""
        sent, sync_bytes, syncs, waited = self._epoch_start
        sent = self.dist.sent_bytes - sent - (self.sync_bytes - sync_bytes)
        waited = self.dist.wait_seconds - waited
        # One all-reduce per epoch: the error's parts and whether any rank's weights broke.
        broken = torch.tensor(float(not self.parameters_finite()), dtype=torch.float64,
                              device=total.device)
        figures = torch.stack([total.double(), broken])
        self.dist.all_reduce(figures, "collecting the epoch's error")
        error = float(figures[0]) / count
        if figures[1] > 0 or not math.isfinite(error):
            raise diverged(self.epoch + 1, self.cd.lr, self.gaussian)
        drifts = self.sync_log[syncs:]
        return {"recon_error": error, "sent_bytes": sent,
                "sync_drift": max(drifts) if drifts else None, "wait_seconds": waited}

    # -- one mini-batch --------------------------------------------------------------------
    def step(self, v_pos: torch.Tensor) -> torch.Tensor:
        """One CD-1 update on the mini-batch v_pos (B, V), the same on every rank. Returns this
        rank's part of the summed squared error between v_pos and E[v | h_pos]."""
        self._batch = len(v_pos)
        error = self._step(v_pos)
        self.batches_done += 1
        return error

    @abstractmethod
    def _step(self, v_pos: torch.Tensor) -> torch.Tensor:
        """The algorithm's CD-1 update on v_pos (B, V); this rank's part of the squared error."""

    def _cd1_full(self, v_pos: torch.Tensor, rows: slice) -> torch.Tensor:
        """Plain CD-1 with all of W on the rows `rows` of the batch; the statistics are
        returned summed over those rows (data) or applied at once (one rank)."""
        held = self.held
        W = held.W_cols
        v = v_pos[rows]
        h_pos = self._hidden(torch.addmm(held.b_hid, v, W), rows)
        mean, v_neg = self._visible(torch.addmm(held.b_vis, h_pos, W.T), rows)
        h_neg = self._hidden(torch.addmm(held.b_hid, v_neg, W), rows)
        X = torch.cat([v, v_neg])  # one product for both phases: (2B, V)
        Hs = torch.cat([h_pos, h_neg.neg()])  # (2B, H)
        # The statistics live in one flat buffer kept from batch to batch (the data algorithm
        # all-reduces it in one message); fresh V x H memory every batch costs page faults.
        V, H = W.shape
        flat = self._buffer("statistics", W, (V * H + H + V,))
        G, db_hid, db_vis = flat[:V * H].view(V, H), flat[V * H:V * H + H], flat[V * H + H:]
        torch.mm(X.T, Hs, out=G)
        torch.sub(h_pos.sum(0), h_neg.sum(0), out=db_hid)
        torch.sub(v.sum(0), v_neg.sum(0), out=db_vis)
        error = ((v - mean) ** 2).sum()
        self._reduce_statistics(flat)
        self._apply(G, None, db_hid, db_vis)
        return error

    def _reduce_statistics(self, flat: torch.Tensor) -> None:
        """Sum the flat statistics (V H + H + V,) of `_cd1_full` over the ranks (the data
        algorithm's all-reduce). Here one rank saw the whole mini-batch: nothing to add."""
        return

    def _apply(self, G_cols, G_rows, db_hid, db_vis) -> None:
        held, vel, cd = self.held, self.held.vel, self.cd
        lr_b, m, decay = cd.lr / self._batch, cd.momentum, cd.lr * cd.weight_decay
        if G_cols is not None:
            momentum_step(held.W_cols, vel["W_cols"], G_cols, lr_b, m, decay)
        if G_rows is not None:
            momentum_step(held.W_rows, vel["W_rows"], G_rows, lr_b, m, decay)
        momentum_step(held.b_hid, vel["b_hid"], db_hid, lr_b, m, 0.0)
        momentum_step(held.b_vis, vel["b_vis"], db_vis, lr_b, m, 0.0)

    def _buffer(self, name: str, like: torch.Tensor, shape: tuple[int, ...] | None = None
                ) -> torch.Tensor:
        """A tensor of like's dtype and device (and shape, unless given) kept under `name`."""
        shape = tuple(like.shape) if shape is None else shape
        buf = self._buffers.get(name)
        if buf is None or tuple(buf.shape) != shape:
            buf = self._buffers[name] = like.new_empty(shape)
        return buf

    # -- the whole model -------------------------------------------------------------------
    def full_rbm(self) -> RBM | None:
        """The full RBM assembled on rank 0 (None on the others): W from the rows ("purple",
        the authoritative copy), each bias from its owner."""
        held, dist = self.held, self.dist
        if self.single:
            W, b_vis, b_hid = held.W_cols, held.b_vis, held.b_hid
        else:
            W = self._gather_blocks(held.W_rows, self.vis.sizes(), "gathering the weights")
            b_vis = self._gather_blocks(held.b_vis[:, None], self.vis.sizes(),
                                        "gathering the visible biases")
            b_hid = self._gather_blocks(held.b_hid[:, None], self.hid.sizes(),
                                        "gathering the hidden biases")
            if not dist.is_main:
                return None
            b_vis, b_hid = b_vis[:, 0], b_hid[:, 0]
        if not dist.is_main:
            return None
        rbm = RBM(self.rbm_config)
        rbm.W.copy_(W.cpu())
        rbm.b_vis.copy_(b_vis.cpu())
        rbm.b_hid.copy_(b_hid.cpu())
        return rbm

    def _gather_blocks(self, t: torch.Tensor, sizes: list[int], what: str) -> torch.Tensor:
        """Stack every rank's (n_k, ...) rows in rank order, (sum n_k, ...)."""
        padded = t.new_zeros(max(sizes), *t.shape[1:])
        padded[:len(t)] = t
        out = self.dist.all_gather(padded, what)
        return torch.cat([out[k, :sizes[k]] for k in range(len(sizes))])

    def parameters_finite(self) -> bool:
        return all(bool(torch.isfinite(t).all()) for t in self.held.tensors().values())

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        held = self.held
        state = {f"param_{k}": v for k, v in held.tensors().items()}
        state.update({f"vel_{k}": v for k, v in held.vel.items()})
        state.update(hid_rng=self.hid_rng.state(), vis_rng=self.vis_rng.state(),
                     batches=self.batches.get_state(), epoch=self.epoch,
                     batches_done=self.batches_done, sync_log=list(self.sync_log))
        return state

    def load_state_dict(self, state: dict) -> None:
        held = self.held
        for k, t in held.tensors().items():
            if f"param_{k}" in state:
                t.copy_(state[f"param_{k}"])
        for k, t in held.vel.items():
            t.copy_(state[f"vel_{k}"])
        self.hid_rng.set_state(state["hid_rng"])
        self.vis_rng.set_state(state["vis_rng"])
        self.batches.set_state(state["batches"])
        self.epoch, self.batches_done = int(state["epoch"]), int(state["batches_done"])
        self.sync_log = list(state.get("sync_log", []))
