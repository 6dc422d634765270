"""How many bytes each parallel CD-1 algorithm sends: the report's communication model.

For an epoch of N examples in mini-batches of m, V visible and H hidden units and K ranks, the
bytes all ranks send together (each rank's all-gather payload goes to the K - 1 others):

    model    (K - 1) N (2 H + V b) / 8          hidden states twice (1 bit each), visible once
                                                (b = 1 bit binary, 32 or 64 bits Gaussian)
    data     2 (K - 1) (V H + V + H) s N / m    a ring all-reduce of the statistics per batch
                                                (s bytes per float)
    visible  (K - 1) N H (2 s + 2 / 8)          hidden inputs reduce-scattered twice as floats,
                                                hidden states all-gathered twice as bits

For V = 8,000, H = 20,000, N = 8,000 the model algorithm gives the report's table: 48 (K - 1) MB
binary, 296 (K - 1) MB single and 552 (K - 1) MB double precision Gaussian (MB = 10^6 bytes).
The report prefers synchronising weights after every update when m h K + 4 m v K >= 4 v h.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from layerwise.errors import ConfigError
from layerwise.names import PARALLEL_ALGORITHMS
from layerwise.settings import check_types, invalid, setting

VISIBLE_BITS = {("binary", "float32"): 1, ("binary", "float64"): 1,
                ("gaussian", "float32"): 32, ("gaussian", "float64"): 64}
FLOAT_BYTES = {"float32": 4, "float64": 8}
ALGORITHMS = PARALLEL_ALGORITHMS


@dataclass(frozen=True)
class Problem:
    """The problem the communication model prices: the report's 8000 x 20000 RBM by default."""

    n_visible: int = setting(8000, flag="--visible", help="visible units")
    n_hidden: int = setting(20000, flag="--hidden", help="hidden units")
    examples: int = setting(8000, help="examples per epoch")
    batch_size: int = setting(1000, help="mini-batch")

    def __post_init__(self):
        check_types(self)
        for name in ("n_visible", "n_hidden", "examples", "batch_size"):
            if getattr(self, name) < 1:
                raise invalid(self, name, f"must be at least 1, got {getattr(self, name)}.")


def epoch_bytes(p: Problem, algorithm: str, ranks: int, visible: str = "binary",
                precision: str = "float32") -> int:
    """Bytes all `ranks` together send in one epoch of `algorithm` (see the module docstring)."""
    K, N, V, H = ranks, p.examples, p.n_visible, p.n_hidden
    s = FLOAT_BYTES[precision]
    if algorithm == "model":
        return (K - 1) * N * (2 * H + V * VISIBLE_BITS[visible, precision]) // 8
    if algorithm == "data":
        return 2 * (K - 1) * (V * H + V + H) * s * math.ceil(N / p.batch_size)
    if algorithm == "visible":
        return (K - 1) * N * H * (16 * s + 2) // 8
    raise ConfigError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}.")


def inequality(p: Problem, ranks: int) -> dict:
    """The report's test m h K + 4 m v K >= 4 v h (single precision): when it holds,
    synchronising the weights after every update sends less than the model algorithm."""
    m, v, h, K = p.batch_size, p.n_visible, p.n_hidden, ranks
    lhs, rhs = m * h * K + 4 * m * v * K, 4 * v * h
    return {"ranks": K, "lhs": lhs, "rhs": rhs, "holds": lhs >= rhs}


ROWS = (("model", "binary", "float32"), ("model", "gaussian", "float32"),
        ("model", "gaussian", "float64"), ("data", "any", "float32"), ("data", "any", "float64"),
        ("visible", "any", "float32"), ("visible", "any", "float64"))


def table(p: Problem, ranks: list[int]) -> dict:
    """Every algorithm's epoch bytes for each K, and the inequality for each K. Only the model
    algorithm sends visible states, so only its rows depend on the visible units' type."""
    rows = [{"algorithm": a, "visible": vis, "precision": prec,
             "bytes": [epoch_bytes(p, a, K, "binary" if vis == "any" else vis, prec)
                       for K in ranks]} for a, vis, prec in ROWS]
    return {"problem": p.__dict__, "ranks": ranks, "rows": rows,
            "inequality": [inequality(p, K) for K in ranks]}
