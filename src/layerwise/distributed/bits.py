"""Binary states on the wire: 1 bit per unit, as the RBM report insists.

A (B, n) tensor of 0/1 values packs into ceil(B n / 8) bytes (row-major, most significant bit
first) and unpacks to the same values in any floating dtype.
"""

from __future__ import annotations

import torch

_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def packed_size(n: int) -> int:
    """Bytes that `n` bits take."""
    return (n + 7) // 8


def pack_bits(x: torch.Tensor) -> torch.Tensor:
    """0/1 values of any shape -> (ceil(numel / 8),) uint8."""
    flat = x.reshape(-1).to(torch.uint8)
    pad = (-len(flat)) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    return (flat.view(-1, 8) * _WEIGHTS.to(flat.device)).sum(1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype
                ) -> torch.Tensor:
    """The inverse of `pack_bits`: the first prod(shape) bits as a tensor of `shape`."""
    n = 1
    for d in shape:
        n *= d
    bits = packed[:packed_size(n)].unsqueeze(1) & _WEIGHTS.to(packed.device)
    return bits.ne(0).view(-1)[:n].view(shape).to(dtype)
