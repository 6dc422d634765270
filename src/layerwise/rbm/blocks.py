"""Units cut into blocks: who owns which units, what a rank holds, random numbers that do not
depend on K, and the exchange of a block of states between the ranks.

The parallel RBM (`layerwise.rbm.parallel`) cuts each layer into G contiguous blocks; rank k of
K owns blocks [k G / K, (k + 1) G / K), and each block draws from its own generator, so a unit's
samples are the same whichever rank owns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from layerwise.distributed import Dist
from layerwise.distributed.bits import pack_bits, packed_size, unpack_bits
from layerwise.distributed.context import Pending


@dataclass(frozen=True)
class Partition:
    """n units in `blocks` contiguous blocks; rank k of K owns blocks [k G/K, (k+1) G/K)."""

    n: int
    blocks: int
    ranks: int

    def block_bounds(self, b: int) -> tuple[int, int]:
        return b * self.n // self.blocks, (b + 1) * self.n // self.blocks

    def owned_blocks(self, rank: int) -> range:
        return range(rank * self.blocks // self.ranks, (rank + 1) * self.blocks // self.ranks)

    def units(self, rank: int) -> slice:
        blocks = self.owned_blocks(rank)
        return slice(self.block_bounds(blocks.start)[0], self.block_bounds(blocks.stop)[0])

    def sizes(self) -> list[int]:
        return [self.units(k).stop - self.units(k).start for k in range(self.ranks)]


class BlockSampler:
    """Random numbers for a range of blocks of units, one generator per block.

    Block b of layer `salt` is seeded with seed * 2^20 + salt * 2^16 + b, so the draws for a unit
    are the same whichever rank owns it."""

    def __init__(self, part: Partition, blocks: range, seed: int, salt: int,
                 device: torch.device):
        self.part, self.blocks = part, blocks
        self.generators = [torch.Generator(device).manual_seed((seed << 20) + (salt << 16) + b)
                           for b in blocks]

    def draw(self, B: int, normal: bool = False) -> torch.Tensor:
        """(B, units of the blocks) float32 uniforms (or standard normals)."""
        parts = []
        for b, g in zip(self.blocks, self.generators, strict=True):
            lo, hi = self.part.block_bounds(b)
            fn = torch.randn if normal else torch.rand
            parts.append(fn(B, hi - lo, generator=g, dtype=torch.float32, device=g.device))
        return torch.cat(parts, 1) if len(parts) != 1 else parts[0]

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states: list[torch.Tensor]) -> None:
        for g, s in zip(self.generators, states, strict=True):
            g.set_state(s)


def momentum_step(W: torch.Tensor, vel: torch.Tensor, G: torch.Tensor, lr_b: float, m: float,
                  decay: float) -> None:
    """vel = m vel + lr (G / B - weight_decay W); W += vel, with lr_b = lr / B and
    decay = lr * weight_decay. Each operation rounds once and none is fused, so two ranks
    holding the same weight with different memory layouts compute the same bits. G is
    overwritten (it holds decay W once its own part is in vel: no fresh V x H memory)."""
    vel.mul_(m).add_(G.mul_(lr_b))
    if decay:
        vel.sub_(torch.mul(W, decay, out=G))
    W.add_(vel)


@dataclass
class Held:
    """The tensors one rank holds (None where its algorithm does not need them)."""

    W_cols: torch.Tensor | None = None  # (V, |J_k|)
    W_rows: torch.Tensor | None = None  # (|I_k|, H)
    b_hid: torch.Tensor | None = None  # (|J_k|,) or (H,) for the data algorithm
    b_vis: torch.Tensor | None = None  # (|I_k|,) or (V,)
    vel: dict[str, torch.Tensor] = field(default_factory=dict)

    def tensors(self) -> dict[str, torch.Tensor]:
        named = {"W_cols": self.W_cols, "W_rows": self.W_rows, "b_hid": self.b_hid,
                 "b_vis": self.b_vis}
        return {k: v for k, v in named.items() if v is not None}


def gather_states(dist: Dist, s: torch.Tensor, sizes: list[int], bits: bool, what: str
                  ) -> Pending:
    """Start the all-gather of this rank's (B, n_k) states, as packed bits or as floats padded
    to the largest block; `wait()` gives every rank's states side by side, (B, sum n_k)."""
    B, K = len(s), dist.world_size
    if bits:
        payload = torch.zeros(packed_size(B * max(sizes)), dtype=torch.uint8, device=s.device)
        packed = pack_bits(s)
        payload[:len(packed)] = packed
    else:
        payload = s.new_zeros(B, max(sizes))
        payload[:, :s.shape[1]] = s
    pending = dist.all_gather(payload, what, async_op=True)

    def assemble(out: torch.Tensor) -> torch.Tensor:
        if K == 1:
            return s
        if bits:
            parts = [unpack_bits(out[k], (B, sizes[k]), s.dtype) for k in range(K)]
        else:
            parts = [out[k, :, :sizes[k]] for k in range(K)]
        return torch.cat(parts, 1)

    pending.finish = assemble
    return pending
