"""Restricted Boltzmann Machines: binary-binary and Gaussian-binary.

Energies (V visible units v, H hidden units h, weights W (V, H), biases b_vis (V,), b_hid (H,)):

    binary    E(v, h) = -v.b_vis - h.b_hid - v W h
    gaussian  E(v, h) = sum_i (v_i - b_vis_i)^2 / (2 sigma_i^2) - h.b_hid - (v / sigma) W h

so that, with x = v / sigma, p(h_j = 1 | v) = sigmoid(b_hid_j + (x W)_j) in both cases, and
p(v_i = 1 | h) = sigmoid(b_vis_i + (W h)_i) (binary) or p(v_i | h) = N(b_vis_i + sigma_i (W h)_i,
sigma_i^2) (Gaussian). Summing h out gives the free energy F(v) = -log sum_h exp(-E(v, h)):

    binary    F(v) = -v.b_vis - sum_j softplus(b_hid_j + (v W)_j)
    gaussian  F(v) = sum_i (v_i - b_vis_i)^2 / (2 sigma_i^2) - sum_j softplus(b_hid_j + (x W)_j)

Gaussian units expect standardised data (zero mean, unit variance per pixel): sigma stays 1
unless `learn_sigma`, in which case it is stored as log sigma and clamped to `sigma_bounds`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.device import bf16_products_on_cpu, check_fits, native_bf16, tf32_products
from layerwise.errors import ConfigError
from layerwise.names import MATMUL_PRECISIONS
from layerwise.rbm.config import RBMConfig  # noqa: F401 - its home; re-exported here
from layerwise.settings import check_argument

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class RBM(nn.Module):
    """An RBM whose parameters are buffers: they are learned by CD statistics, not autograd.

    Public tensors: `W` (V, H), `b_vis` (V,), `b_hid` (H,), `log_sigma` (V,), all of the config's
    dtype. Methods take (B, V) visible or (B, H) hidden batches and an explicit generator.
    """

    def __init__(self, cfg: RBMConfig, generator: torch.Generator | None = None):
        super().__init__()
        check_argument(cfg, "cfg", RBMConfig)
        if cfg.n_visible is None:
            raise ConfigError("an RBM needs its number of visible units; set "
                              "RBMConfig.n_visible (the runs take it from the data).")
        self.cfg = cfg
        V, H, dtype = cfg.n_visible, cfg.n_hidden, cfg.torch_dtype
        # W, its velocity and the statistics of a batch: three V x H tensors while training.
        check_fits(3 * V * H * torch.finfo(dtype).bits // 8,
                   f"an RBM of {V:,} x {H:,} units ({cfg.dtype})")
        W = torch.randn(V, H, generator=generator, dtype=torch.float64) * cfg.init_std
        self.register_buffer("W", W.to(dtype))
        self.register_buffer("b_vis", torch.zeros(V, dtype=dtype))
        self.register_buffer("b_hid", torch.zeros(H, dtype=dtype))
        self.register_buffer("log_sigma", torch.zeros(V, dtype=dtype))
        # W rounded to bfloat16 inside product_precision("bf16"). The buffer outlives the context
        # (it costs half of W) because allocating V x H fresh memory every batch costs more than
        # the products themselves.
        self._W_low: torch.Tensor | None = None
        self._low = False

    @contextmanager
    def product_precision(self, precision: str) -> Iterator[None]:
        """Inside, the matrix products of v -> h and h -> v (and `matmul`) run at `precision`.

        "full": the storage dtype. "tf32": float32 products on TensorFloat-32 tensor cores
        (10-bit mantissas, float32 accumulation; CUDA only). "bf16": operands rounded to
        bfloat16 (8-bit mantissas), products accumulated in float32. On a CPU oneDNN does it
        inside float32 products (`bf16_products_on_cpu`), which return float32 unrounded; on
        CUDA W is rounded once on entry (leave the context before the weights change and enter
        it again after) and products return bfloat16, widened to float32. Biases, sigmoids,
        sampling and updates stay in the storage dtype.
        """
        check_product_precision(precision, self.W)
        on_cpu = self.W.device.type == "cpu"
        with tf32_products(precision == "tf32"), \
                bf16_products_on_cpu(precision == "bf16" and on_cpu):
            if precision == "bf16" and not on_cpu:
                if self._W_low is None or self._W_low.shape != self.W.shape \
                        or self._W_low.device != self.W.device:
                    self._W_low = torch.empty_like(self.W, dtype=torch.bfloat16)
                self._W_low.copy_(self.W)
            self._low = precision == "bf16" and not on_cpu  # the CPU's products do it
            try:
                yield
            finally:
                self._low = False

    def matmul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a @ b at the current product precision (see `product_precision`), in a's dtype."""
        if not self._low:
            return a @ b
        return (a.to(torch.bfloat16) @ b.to(torch.bfloat16)).to(a.dtype)

    def top_down(self, h: torch.Tensor) -> torch.Tensor:
        """(B, H) -> (B, V): h W^T at the current product precision."""
        return self.matmul(h, (self._W_low if self._low else self.W).T)

    @property
    def gaussian(self) -> bool:
        return self.cfg.visible == "gaussian"

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def scaled(self, v: torch.Tensor) -> torch.Tensor:
        """v / sigma for Gaussian units (v itself when sigma is fixed at 1 or units are binary)."""
        return v / self.sigma if self.cfg.learn_sigma else v

    def hidden_input(self, v: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(B, V) -> (B, H): b_hid + (v / sigma) W, written into `out` when given."""
        if self._low:
            return _into(out, self.matmul(self.scaled(v), self._W_low).add_(self.b_hid))
        return torch.addmm(self.b_hid, self.scaled(v), self.W, out=out)

    def mean_hidden(self, v: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """p(h = 1 | v), (B, V) -> (B, H), written into `out` when given."""
        return probabilities_(self.hidden_input(v, out))

    def mean_visible(self, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """E[v | h], (B, H) -> (B, V): sigmoid(b_vis + h W^T), or b_vis + sigma (h W^T);
        written into `out` when given."""
        if not self.gaussian:
            if self._low:
                return probabilities_(_into(out, self.top_down(h).add_(self.b_vis)))
            return probabilities_(torch.addmm(self.b_vis, h, self.W.T, out=out))
        top_down = self.top_down(h)
        return _into(out, self.b_vis + (self.sigma * top_down if self.cfg.learn_sigma
                                        else top_down))

    def sample_hidden(self, v: torch.Tensor, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(p(h | v), a sample of h), both (B, H)."""
        p = self.mean_hidden(v)
        return p, bernoulli(p, generator)

    def sample_visible(self, h: torch.Tensor, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
        """A sample of v given h, (B, H) -> (B, V)."""
        mean = self.mean_visible(h)
        if not self.gaussian:
            return bernoulli(mean, generator)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + noise * self.sigma

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) per example, (B, V) -> (B,); softplus keeps it finite at any activation."""
        hidden_term = F.softplus(self.hidden_input(v)).sum(1)
        if self.gaussian:
            visible_term = (((v - self.b_vis) / self.sigma) ** 2).sum(1) / 2
            return visible_term - hidden_term
        return -(v @ self.b_vis) - hidden_term

    def transform(self, v: torch.Tensor) -> torch.Tensor:
        """Features: hidden probabilities p(h = 1 | v), (B, V) -> (B, H)."""
        return self.mean_hidden(v.to(self.W.dtype))

    def gibbs(self, v: torch.Tensor, steps: int = 1, generator: torch.Generator | None = None,
              mean_field_last: bool = True) -> torch.Tensor:
        """Run `steps` alternating Gibbs updates v -> h -> v from `v` (B, V); return the last v.

        With `mean_field_last` the final visible state is E[v | h] (what images show)."""
        for step in range(steps):
            _, h = self.sample_hidden(v, generator)
            last = step == steps - 1
            v = self.mean_visible(h) if last and mean_field_last else self.sample_visible(
                h, generator)
        return v

    def log_normaliser_gaussian(self) -> torch.Tensor:
        """sum_i log(sqrt(2 pi) sigma_i): the Gaussian integral's constant in log Z."""
        return (self.log_sigma + 0.5 * math.log(2 * math.pi)).sum()

    def clamp_sigma(self) -> None:
        lo, hi = self.cfg.sigma_bounds
        self.log_sigma.clamp_(math.log(lo), math.log(hi))


def check_matmul(precision: str) -> None:
    """Refuse, in one sentence, a product precision that does not exist."""
    if precision not in MATMUL_PRECISIONS:
        raise ConfigError(f"--matmul must be one of {', '.join(MATMUL_PRECISIONS)}, "
                          f"got {precision!r}.")


def check_product_precision(precision: str, W: torch.Tensor) -> None:
    """Refuse, in one sentence, a product precision that the weights W cannot use."""
    check_matmul(precision)
    if precision != "full" and W.dtype != torch.float32:
        raise ConfigError(f"--matmul {precision} rounds float32 weights; these are "
                          f"{str(W.dtype).removeprefix('torch.')}: use --dtype float32.")
    if precision == "tf32" and W.device.type != "cuda":
        raise ConfigError("--matmul tf32 needs a CUDA device (TensorFloat-32 is a tensor-core "
                          "format); on a CPU use --matmul bf16.")


def check_native_products(precision: str, device: torch.device) -> None:
    """Refuse bfloat16 products on a device that would emulate them: on a CPU without
    AVX-512 BF16 or AMX they run several times slower than the float32 ones they replace."""
    if precision == "bf16" and not native_bf16(device):
        raise ConfigError("--matmul bf16 would be emulated on this CPU (it has neither AVX-512 "
                          "BF16 nor AMX) and run slower than float32; drop --matmul bf16.")


def probabilities_(x: torch.Tensor) -> torch.Tensor:
    """sigmoid(x) in place, with the probabilities below tiny / eps of x's dtype (1e-31 in
    float32) set to 0. A sigmoid of an input below about -87 is a subnormal float32, and a
    product taking subnormal operands runs many times slower on x86 CPUs (an 8000 x 20000
    CD-1 step took 18 s instead of 0.75 s once its hidden probabilities held some thousands
    of them); the change to a probability is below 1e-31, and a sample drawn from it differs only
    where its uniform draw is exactly 0."""
    return flush_tiny_(x.sigmoid_())


def flush_tiny_(p: torch.Tensor) -> torch.Tensor:
    """p with its values below tiny / eps of its dtype set to 0, in place (see probabilities_)."""
    info = torch.finfo(p.dtype)
    return F.threshold_(p, info.tiny / info.eps, 0.0)


def _into(out: torch.Tensor | None, t: torch.Tensor) -> torch.Tensor:
    """t, copied into `out` when one is given."""
    return t if out is None else out.copy_(t)


def bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A 0/1 sample of p's dtype: 1 where a uniform draw falls below p.

    The uniforms are float32 whatever p's dtype (2^-24 resolution is ample for sampling), so
    float32 and float64 models given the same generator draw the same numbers."""
    u = torch.rand(p.shape, generator=generator, dtype=torch.float32, device=p.device)
    return (u < p).to(p.dtype)
