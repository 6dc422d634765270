"""Contrastive divergence, written out as the statistics it is (no autograd).

For a batch v_pos (B, V), with x = v / sigma (x = v for binary units):

    h_pos = p(h | v_pos)                                   positive phase
    h ~ h_pos (CD-k) or the persistent chain's h (PCD)     start of the negative chain
    k times: v_neg = E[v | h] or a sample of it; h_neg = p(h | v_neg); h ~ h_neg
    dW     = (x_pos^T h_pos - x_neg^T h_neg) / B           positive minus negative statistics
    db_hid = mean(h_pos - h_neg)
    db_vis = mean(v_pos - v_neg) / sigma^2
    dlog_sigma = mean over data minus mean over the chain of (v-b)^2/sigma^2 - x (h W^T)

and every parameter a takes the momentum step  vel = m vel + lr (da - weight_decay a);  a += vel
(Hinton, "A practical guide to training RBMs", sections 9-10; weight decay on W only). sigma's
step uses lr * sigma_lr_scale and is clamped, because a freely learned sigma collapses onto the
data and blows the learning up.
"""

from __future__ import annotations

import math

import torch

from layerwise.errors import LayerwiseError
from layerwise.rbm.config import CDConfig  # noqa: F401 - its home; re-exported here
from layerwise.rbm.model import RBM, RBMConfig, bernoulli, check_product_precision


class RBMDivergedError(LayerwiseError):
    """The weights became NaN or infinite."""


def diverged(epoch: int, lr: float, gaussian: bool) -> RBMDivergedError:
    """The error every trainer raises once an epoch's error or a parameter is NaN/inf."""
    cause = ("Gaussian visible units diverge at learning rates binary units tolerate: lower "
             "--lr (e.g. 0.001) and check the data is standardised" if gaussian
             else f"the learning rate {lr} is too high: lower --lr")
    return RBMDivergedError(f"the RBM's weights became NaN/inf in epoch {epoch}; {cause}. "
                            "The last checkpoint written (if any) is unchanged.")


class CDTrainer:
    """Holds what CD learning carries from batch to batch: velocities, the persistent chain and
    the generators. `state_dict()` is what a checkpoint stores so a run resumes exactly.

    It is the single-process implementation of the trainer protocol that `layerwise.rbm.loop`
    drives (`ParallelCD` is the other): `cd`, `rbm_config`, `epoch`, `batches`, `prepare`,
    `step`, `begin_epoch`, `end_epoch`, `full_rbm`, `state_dict`."""

    PARAMS = ("W", "b_vis", "b_hid", "log_sigma")

    def __init__(self, rbm: RBM, cd: CDConfig):
        self.rbm, self.cd = rbm, cd.resolved(rbm.gaussian)
        device = rbm.W.device
        self.vel = {name: torch.zeros_like(getattr(rbm, name)) for name in self.PARAMS}
        self.chain: torch.Tensor | None = None  # (B, H) hidden states of the persistent chains
        self.sampler = torch.Generator(device).manual_seed(cd.seed)
        self.batches = torch.Generator(device).manual_seed(cd.seed + 1)
        self.epoch = 0
        check_product_precision(cd.matmul, rbm.W)
        self._statistic: tuple[torch.Tensor, torch.Tensor] | None = None  # bf16 buffers
        self._operands: tuple[torch.Tensor, torch.Tensor] | None = None  # see _phases

    def negative_start(self, h_pos: torch.Tensor) -> torch.Tensor:
        """CD-k starts the chain at a sample of h_pos; PCD continues its persistent chains."""
        if not self.cd.persistent:
            return bernoulli(h_pos, self.sampler)
        B = len(h_pos)
        if self.chain is None:
            self.chain = bernoulli(h_pos, self.sampler)
        if len(self.chain) < B:  # a larger batch than the chains: start the extra ones at data
            self.chain = torch.cat([self.chain, bernoulli(h_pos[len(self.chain):], self.sampler)])
        return self.chain[:B]

    @property
    def rbm_config(self) -> RBMConfig:
        return self.rbm.cfg

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The training data (N, V) on the RBM's device and dtype (a no-op when already so)."""
        return x.to(device=self.rbm.W.device, dtype=self.rbm.W.dtype)

    def step(self, v_pos: torch.Tensor, error: bool = True) -> torch.Tensor | None:
        """One CD-k update on v_pos (B, V); returns the summed squared reconstruction error, or
        None with `error=False` (PCD then skips the extra product the error needs)."""
        if self.cd.matmul == "full":
            return self._step(v_pos, error)
        with self.rbm.product_precision(self.cd.matmul):
            return self._step(v_pos, error)

    def _step(self, v_pos: torch.Tensor, error: bool) -> torch.Tensor | None:
        rbm, cfg = self.rbm, self.cd
        B = len(v_pos)
        X, Hs = self._phases(B)
        # The phases are computed straight into the halves of the update's operands (X, Hs)
        # where they can be: mean-field v_neg on binary or fixed-sigma units, h_pos and h_neg.
        direct = not cfg.sample_visible and not rbm.cfg.learn_sigma
        h_pos = rbm.mean_hidden(v_pos, out=Hs[:B])
        h = self.negative_start(h_pos)
        # Reconstruction error is of data -> h -> E[v|h]; CD-1's negative phase is exactly that,
        # other chains need one more product.
        recon = None if not error or (cfg.cd_k == 1 and not cfg.persistent) else \
            rbm.mean_visible(h if not cfg.persistent else bernoulli(h_pos, self.sampler))
        for k in range(cfg.cd_k):
            last = k == cfg.cd_k - 1
            v_neg = rbm.sample_visible(h, self.sampler) if cfg.sample_visible \
                else rbm.mean_visible(h, out=X[B:] if last and direct else None)
            h_neg = rbm.mean_hidden(v_neg, out=Hs[B:] if last else None)
            if cfg.persistent or not last:
                h = bernoulli(h_neg, self.sampler)
        if cfg.persistent:
            self.chain[:B] = h
        self.update(v_pos, h_pos, v_neg, h_neg, X, Hs)
        if not error:
            return None
        return (v_pos - (v_neg if recon is None else recon)).square_().sum()

    def _phases(self, B: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(2B, V) and (2B, H) buffers, kept from batch to batch, for the update's single GEMM
        [x_pos; x_neg]^T [h_pos; -h_neg]: the phases are written into them as they are computed
        instead of being concatenated afterwards (two copies and two allocations a batch)."""
        W = self.rbm.W
        if self._operands is None or len(self._operands[0]) < 2 * B:
            self._operands = (W.new_empty(2 * B, W.shape[0]), W.new_empty(2 * B, W.shape[1]))
        X, Hs = self._operands
        return X[:2 * B], Hs[:2 * B]

    def update(self, v_pos, h_pos, v_neg, h_neg, X=None, Hs=None) -> None:
        """The CD statistics' momentum step (the module's docstring). `X` (2B, V) and `Hs`
        (2B, H) are the GEMM's operands, filled here where the phases were not computed into
        them; Hs's second half is h_neg itself or receives it, negated in place."""
        rbm, cfg, vel = self.rbm, self.cd, self.vel
        B, m, lr = len(v_pos), cfg.momentum, cfg.lr
        if X is None:
            X, Hs = self._phases(B)
        x_pos, x_neg = rbm.scaled(v_pos), rbm.scaled(v_neg)
        sigma_step = self._sigma_step(x_pos, h_pos, x_neg, h_neg) if rbm.cfg.learn_sigma \
            else None
        db_hid = (h_pos.sum(0) - h_neg.sum(0)) / B  # before h_neg is negated in Hs
        # One GEMM for both phases: [x_pos; x_neg]^T [h_pos; -h_neg] = x_pos^T h_pos - x_neg^T h_neg
        for half, t in ((X[:B], x_pos), (X[B:], x_neg), (Hs[:B], h_pos)):
            if t.data_ptr() != half.data_ptr():
                half.copy_(t)
        if h_neg.data_ptr() == Hs[B:].data_ptr():
            Hs[B:].neg_()
        else:
            torch.neg(h_neg, out=Hs[B:])
        if cfg.matmul == "bf16" and X.device.type != "cpu":
            vel["W"].mul_(m).add_(self._statistic_bf16(X, Hs), alpha=lr / B)
        else:
            vel["W"].addmm_(X.T, Hs, beta=m, alpha=lr / B)
        vel["W"].add_(rbm.W, alpha=-lr * cfg.weight_decay)
        rbm.W.add_(vel["W"])
        db_vis = (v_pos.sum(0) - v_neg.sum(0)) / B
        if rbm.gaussian:
            db_vis = db_vis / rbm.sigma ** 2
        vel["b_vis"].mul_(m).add_(db_vis, alpha=lr)
        rbm.b_vis.add_(vel["b_vis"])
        vel["b_hid"].mul_(m).add_(db_hid, alpha=lr)
        rbm.b_hid.add_(vel["b_hid"])
        if sigma_step is not None:
            rbm.log_sigma.add_(sigma_step)
            rbm.clamp_sigma()

    def _statistic_bf16(self, X: torch.Tensor, Hs: torch.Tensor) -> torch.Tensor:
        """X^T Hs (V, H) from bfloat16 operands, as float32, on CUDA (on a CPU the float32
        addmm_ above takes bfloat16 operands itself, inside `product_precision`). The product
        and its conversion go into buffers kept from batch to batch: fresh V x H memory every
        batch costs more than the product, and adding the bfloat16 result to float32 directly
        is slower still."""
        V, H = X.shape[1], Hs.shape[1]
        if self._statistic is None:
            self._statistic = (torch.empty(V, H, dtype=torch.bfloat16, device=X.device),
                               torch.empty(V, H, dtype=X.dtype, device=X.device))
        low, full = self._statistic
        torch.mm(X.T.to(torch.bfloat16), Hs.to(torch.bfloat16), out=low)
        return full.copy_(low)

    def _sigma_step(self, x_pos, h_pos, x_neg, h_neg) -> torch.Tensor:
        """The momentum step of log sigma, from the statistics before this update."""
        rbm, cfg = self.rbm, self.cd
        b = rbm.b_vis / rbm.sigma

        def stat(x, h):  # (x - b/sigma)^2 - x * (h W^T), summed over the batch: (V,)
            return ((x - b) ** 2 - x * rbm.top_down(h)).sum(0)

        grad = (stat(x_pos, h_pos) - stat(x_neg, h_neg)) / len(x_pos)
        return self.vel["log_sigma"].mul_(cfg.momentum).add_(grad,
                                                             alpha=cfg.lr * cfg.sigma_lr_scale)

    def begin_epoch(self) -> None:
        """Nothing to note at an epoch's start in one process."""

    def end_epoch(self, total: torch.Tensor, count: int) -> dict:
        """The epoch's figures from its summed squared error over `count` values; raises once the
        error or any parameter is NaN/inf."""
        error = total.item() / count
        params = (self.rbm.W, self.rbm.b_vis, self.rbm.b_hid, self.rbm.log_sigma)
        if not (math.isfinite(error) and all(torch.isfinite(t).all() for t in params)):
            raise diverged(self.epoch + 1, self.cd.lr, self.rbm.gaussian)
        return {"recon_error": error}

    def full_rbm(self) -> RBM:
        """The RBM being trained (every rank of a parallel run would assemble it)."""
        return self.rbm

    def state_dict(self) -> dict:
        state = {f"vel_{k}": v for k, v in self.vel.items()}
        state.update(sampler=self.sampler.get_state(), batches=self.batches.get_state(),
                     epoch=self.epoch)
        if self.chain is not None:
            state["chain"] = self.chain
        return state

    def load_state_dict(self, state: dict) -> None:
        for k in self.vel:
            self.vel[k].copy_(state[f"vel_{k}"])
        self.sampler.set_state(state["sampler"])
        self.batches.set_state(state["batches"])
        self.epoch = int(state["epoch"])
        chain = state.get("chain")
        self.chain = chain.to(self.rbm.W.device) if chain is not None else None
