"""The three ways `ParallelCD` splits CD-1 over the ranks, one subclass each. The walk-through
in `layerwise.rbm.parallel` says what each rank computes and what crosses the wire.

* `ModelParallelCD` (`model`, the report's): rank k holds the columns W[:, J_k] and the rows
  W[I_k, :]; three all-gathers of states per mini-batch, and every `sync_every` batches one
  all-to-all that copies the rows over their duplicates in the columns.
* `DataParallelCD` (`data`): every rank holds all of W and sends one all-reduce of the
  statistics per mini-batch.
* `VisibleParallelCD` (`visible`): rank k holds the rows W[I_k, :] only; the hidden inputs are
  reduce-scattered and the hidden states all-gathered.

`STRATEGIES` maps `ParallelConfig.algorithm` to the class; `ParallelCD.create` reads it.
"""

from __future__ import annotations

import torch

from layerwise.names import PARALLEL_ALGORITHMS
from layerwise.rbm.blocks import Held, Partition, gather_states
from layerwise.rbm.parallel import ParallelCD


class ModelParallelCD(ParallelCD):
    """The report's model-parallel CD-1: rank k holds W_cols = W[:, J_k] and W_rows = W[I_k, :],
    so the weights between I_m and J_k (m != k) live on two ranks; `synchronise` makes the two
    copies equal again. On one rank: all of W once, and plain CD-1."""

    @property
    def single(self) -> bool:
        return not self.dist.active

    def _held(self, W: torch.Tensor, b_vis: torch.Tensor, b_hid: torch.Tensor) -> Held:
        if self.single:
            return super()._held(W, b_vis, b_hid)
        held = self._held_rows(W, b_vis, b_hid)
        held.W_cols = W[:, self.J].clone()  # (V, |J_k|)
        return held

    def step(self, v_pos: torch.Tensor) -> torch.Tensor:
        """One CD-1 update on v_pos (B, V), then, every `sync_every` batches with more than one
        rank, a synchronisation of the duplicated weights."""
        error = super().step(v_pos)
        if (self.dist.active and self.par.sync_every
                and self.batches_done % self.par.sync_every == 0):
            self.synchronise()
        return error

    def _step(self, v_pos: torch.Tensor) -> torch.Tensor:
        held, I = self.held, self.I
        if self.single:
            return self._cd1_full(v_pos, slice(None))
        W_cols, W_rows = held.W_cols, held.W_rows
        binary = not self.gaussian
        h_pos_J = self._hidden(torch.addmm(held.b_hid, v_pos, W_cols))
        pending = gather_states(self.dist, h_pos_J, self.hid.sizes(), True, "exchanging h_pos")
        G_cols = torch.mm(v_pos.T, h_pos_J, out=self._buffer("G_cols", held.W_cols))  # overlaps
        h_pos = pending.wait()
        mean_I, v_neg_I = self._visible(torch.addmm(held.b_vis, h_pos, W_rows.T))
        pending = gather_states(self.dist, v_neg_I, self.vis.sizes(), binary, "exchanging v_neg")
        v_pos_I = v_pos[:, I]
        G_rows = torch.mm(v_pos_I.T, h_pos, out=self._buffer("G_rows", W_rows))
        v_neg = pending.wait()
        h_neg_J = self._hidden(torch.addmm(held.b_hid, v_neg, W_cols))
        pending = gather_states(self.dist, h_neg_J, self.hid.sizes(), True, "exchanging h_neg")
        G_cols.addmm_(v_neg.T, h_neg_J, alpha=-1)  # binary: integer sums, exact in any order
        h_neg = pending.wait()
        G_rows.addmm_(v_neg_I.T, h_neg, alpha=-1)
        self._apply(G_cols, G_rows, h_pos_J.sum(0) - h_neg_J.sum(0),
                    v_pos_I.sum(0) - v_neg_I.sum(0))
        return ((v_pos_I - mean_I) ** 2).sum()

    # -- weight synchronisation (model algorithm) --------------------------------------------
    def synchronise(self) -> float:
        """Copy every rank's rows (purple) over the duplicates in the others' columns (green),
        velocities included; return (and log) the largest difference removed, over all ranks."""
        held, K, r = self.held, self.dist.world_size, self.dist.rank
        vis_sizes, hid_sizes = self.vis.sizes(), self.hid.sizes()
        block = max(vis_sizes) * max(hid_sizes)
        # Block k of this rank's message: its rows restricted to rank k's hidden units, weights
        # and velocities, padded to the largest block.
        send = held.W_rows.new_zeros(K, 2, block)
        for k in range(K):
            J_k = self.hid.units(k)
            for i, t in enumerate((held.W_rows, held.vel["W_rows"])):
                part = t[:, J_k].reshape(-1)
                send[k, i, :len(part)] = part
        before = self.dist.sent_bytes
        received = self.dist.all_to_all(send, "synchronising duplicated weights")
        self.sync_bytes += self.dist.sent_bytes - before
        drift = 0.0
        for m in range(K):
            I_m, n = self.vis.units(m), vis_sizes[m] * hid_sizes[r]
            W_new = received[m, 0, :n].view(vis_sizes[m], hid_sizes[r])
            drift = max(drift, float((held.W_cols[I_m] - W_new).abs().max()) if n else 0.0)
            held.W_cols[I_m] = W_new
            held.vel["W_cols"][I_m] = received[m, 1, :n].view(vis_sizes[m], hid_sizes[r])
        drift = self.dist.max(drift, "collecting the synchronisation drift")
        self.sync_log.append(drift)
        return drift


class DataParallelCD(ParallelCD):
    """Every rank holds all of W, runs CD-1 on its 1/K slice of each mini-batch and all-reduces
    the statistics, so every rank takes the same step. Each rank draws the random numbers of
    every block for the whole mini-batch and uses its slice's rows."""

    def _sampled_blocks(self, part: Partition) -> range:
        return range(part.blocks)

    def _step(self, v_pos: torch.Tensor) -> torch.Tensor:
        K, r, B = self.dist.world_size, self.dist.rank, len(v_pos)
        return self._cd1_full(v_pos, slice(B * r // K, B * (r + 1) // K))

    def _reduce_statistics(self, flat: torch.Tensor) -> None:
        if self.dist.active:
            self.dist.all_reduce(flat, "all-reducing the statistics")


class VisibleParallelCD(ParallelCD):
    """Rank k holds only W_rows = W[I_k, :] (for H well below V): the hidden inputs are partial
    sums v[:, I_k] W_rows, reduce-scattered so that rank k receives the totals for J_k. Each
    weight lives on one rank, so nothing drifts."""

    @property
    def single(self) -> bool:
        return False

    def _held(self, W: torch.Tensor, b_vis: torch.Tensor, b_hid: torch.Tensor) -> Held:
        return self._held_rows(W, b_vis, b_hid)

    def _hidden_totals(self, v_I: torch.Tensor, what: str) -> torch.Tensor:
        """Partial inputs v_I W_rows (B, H) -> the totals for J_k (B, |J_k|), summed over ranks."""
        K, sizes = self.dist.world_size, self.hid.sizes()
        partial = v_I @ self.held.W_rows
        if K == 1:
            return partial
        blocks = partial.new_zeros(K, len(v_I), max(sizes))
        for k in range(K):
            units = self.hid.units(k)
            blocks[k, :, :sizes[k]] = partial[:, units]
        return self.dist.reduce_scatter(blocks, what)[:, :sizes[self.dist.rank]]

    def _step(self, v_pos: torch.Tensor) -> torch.Tensor:
        held, I = self.held, self.I
        W_rows = held.W_rows  # (|I_k|, H)
        sizes = self.hid.sizes()
        v_pos_I = v_pos[:, I]
        h_pos_J = self._hidden(self._hidden_totals(v_pos_I, "reduce-scattering h_pos inputs")
                               + held.b_hid)
        h_pos = gather_states(self.dist, h_pos_J, sizes, True, "exchanging h_pos").wait()
        mean_I, v_neg_I = self._visible(torch.addmm(held.b_vis, h_pos, W_rows.T))
        G_rows = v_pos_I.T @ h_pos
        h_neg_J = self._hidden(self._hidden_totals(v_neg_I, "reduce-scattering h_neg inputs")
                               + held.b_hid)
        h_neg = gather_states(self.dist, h_neg_J, sizes, True, "exchanging h_neg").wait()
        G_rows.sub_(v_neg_I.T @ h_neg)
        self._apply(None, G_rows, h_pos_J.sum(0) - h_neg_J.sum(0),
                    v_pos_I.sum(0) - v_neg_I.sum(0))
        return ((v_pos_I - mean_I) ** 2).sum()


STRATEGIES: dict[str, type[ParallelCD]] = {"model": ModelParallelCD, "data": DataParallelCD,
                                           "visible": VisibleParallelCD}
assert set(STRATEGIES) == set(PARALLEL_ALGORITHMS), "one class per --parallel algorithm"
