"""Units cut into blocks: who owns which units, and random numbers that do not depend on K.

The parallel RBM (`layerwise.rbm.parallel`) cuts each layer into G contiguous blocks; rank k of
K owns blocks [k G / K, (k + 1) G / K), and each block draws from its own generator, so a unit's
samples are the same whichever rank owns it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
