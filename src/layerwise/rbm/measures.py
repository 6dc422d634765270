"""How good an RBM is: reconstruction error, pseudo-likelihood, log Z exactly or by AIS.

log Z = log sum_v exp(-F(v)) makes the average log-likelihood mean(-F(v)) - log Z computable.
Exactly, by enumerating the smaller layer (2^H or, for binary units, 2^V terms) when it has at
most `MAX_ENUMERATE` units; otherwise by annealed importance sampling (Salakhutdinov and Murray,
"On the quantitative analysis of deep belief networks", 2008).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from layerwise.errors import ConfigError
from layerwise.memory import check_fits
from layerwise.progress import Progress
from layerwise.rbm.model import RBM, bernoulli

MAX_ENUMERATE = 22


def reconstruction_error(rbm: RBM, v: torch.Tensor) -> float:
    """Mean squared error per visible unit of one mean-field pass v -> p(h|v) -> E[v|h]."""
    return ((v - rbm.mean_visible(rbm.mean_hidden(v))) ** 2).mean().item()


def pseudo_likelihood(rbm: RBM, v: torch.Tensor, generator: torch.Generator | None = None
                      ) -> float:
    """Stochastic log pseudo-likelihood per visible unit of binary data v (N, V).

    For each example one unit i, drawn at random, is flipped: log p(v_i | v_-i) =
    log sigmoid(F(v with v_i flipped) - F(v)); averaged over examples this estimates
    (1/V) sum_i log p(v_i | v_-i), the per-unit pseudo-likelihood (scikit-learn reports V times it).
    """
    if rbm.gaussian:
        raise ConfigError("pseudo-likelihood is defined here for binary visible units only.")
    v = (v > 0.5).to(rbm.W.dtype)  # for grey levels: the nearest binary vector
    i = torch.randint(v.shape[1], (len(v),), generator=generator, device=v.device)
    flipped = v.clone()
    rows = torch.arange(len(v), device=v.device)
    flipped[rows, i] = 1 - flipped[rows, i]
    return F.logsigmoid(rbm.free_energy(flipped) - rbm.free_energy(v)).mean().item()


def _all_states(n: int, dtype: torch.dtype, device) -> torch.Tensor:
    """Every binary vector of length n, (2^n, n)."""
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=n)), dtype=dtype, device=device)


def exact_log_z(rbm: RBM) -> float:
    """log Z by enumeration, in float64: over the hidden layer (any visible type) or, for a
    binary RBM with fewer visible than hidden units, over the visible layer."""
    W, b_vis, b_hid = (t.double() for t in (rbm.W, rbm.b_vis, rbm.b_hid))
    V, H = W.shape
    if not rbm.gaussian and V < H and V <= MAX_ENUMERATE:
        v = _all_states(V, torch.float64, W.device)  # log sum_v exp(-F(v))
        return torch.logsumexp(v @ b_vis + F.softplus(v @ W + b_hid).sum(1), 0).item()
    if H > MAX_ENUMERATE:
        raise ConfigError(f"exact log Z enumerates 2^{min(V, H)} states; use AIS for more than "
                          f"{MAX_ENUMERATE} units in the smaller layer.")
    h = _all_states(H, torch.float64, W.device)
    top_down = h @ W.T  # (2^H, V)
    if rbm.gaussian:  # integrate v out: each v_i is Gaussian given h
        sigma = rbm.sigma.double()
        terms = h @ b_hid + (b_vis / sigma * top_down + top_down ** 2 / 2).sum(1)
        return (torch.logsumexp(terms, 0) + rbm.log_normaliser_gaussian().double()).item()
    return torch.logsumexp(h @ b_hid + F.softplus(top_down + b_vis).sum(1), 0).item()


def beta_schedule(n: int, device=None) -> torch.Tensor:
    """n inverse temperatures from 0 to 1, denser near 1 where the distributions change most
    (the shape of Salakhutdinov and Murray's schedule: 10% of steps to 0.5, 40% to 0.9, the
    rest to 1)."""
    if n < 10:
        raise ConfigError(f"AIS needs at least 10 temperatures, got {n}.")
    a, b = n // 10, (4 * n) // 10
    return torch.cat([torch.linspace(0, 0.5, a + 1)[:-1], torch.linspace(0.5, 0.9, b + 1)[:-1],
                      torch.linspace(0.9, 1.0, n - a - b)]).to(device)


@dataclass
class AISResult:
    log_z: float
    # log(mean w -/+ 3 std. err.); low is -inf when the error exceeds a third of the mean
    log_z_low: float
    log_z_high: float
    runs: int
    betas: int


def ais(rbm: RBM, data: torch.Tensor | None = None, runs: int = 100, betas: int = 10000,
        generator: torch.Generator | None = None, progress: bool = False) -> AISResult:
    """AIS estimate of log Z from `runs` independent annealing runs over `betas` temperatures.

    Base model A: the RBM with W = 0 (hidden units decoupled) and, for binary units, visible
    biases b_A = logit of the data's pixel means (or b_vis without data); for Gaussian units the
    same b_vis and sigma. Intermediate p_beta*(v) = exp(base(v, beta)) prod_j (1 + exp(beta
    (b_hid + x W)_j)), with log Z_A closed-form; each temperature takes one Gibbs transition
    that leaves p_beta invariant. log Z = log Z_A + log mean(w).
    """
    V, H = rbm.W.shape
    # the schedule (a few copies of `betas` numbers) and each run's v, h and products, float64
    check_fits(3 * 8 * betas + 4 * 8 * runs * (V + H) + 8 * V * H,
               f"AIS with {runs:,} runs over {betas:,} temperatures")
    W, b_vis, b_hid = rbm.W.double(), rbm.b_vis.double(), rbm.b_hid.double()
    device = W.device
    sigma = rbm.sigma.double()
    if rbm.gaussian:
        b_A = b_vis
        log_z_A = rbm.log_normaliser_gaussian().double().item() + H * math.log(2)
    else:
        if data is not None:
            p = data.double().mean(0).clamp(1e-3, 1 - 1e-3)
            b_A = torch.log(p) - torch.log1p(-p)
        else:
            b_A = b_vis
        log_z_A = F.softplus(b_A).sum().item() + H * math.log(2)

    def log_p_star(v, beta):  # (R, V) -> (R,)
        hidden = F.softplus(beta * (v / sigma @ W + b_hid)).sum(1)
        if rbm.gaussian:
            return hidden - (((v - b_vis) / sigma) ** 2).sum(1) / 2
        return hidden + v @ ((1 - beta) * b_A + beta * b_vis)

    def sample_base():
        if rbm.gaussian:
            noise = torch.randn(runs, V, generator=generator, dtype=torch.float64, device=device)
            return b_vis + sigma * noise
        return bernoulli(torch.sigmoid(b_A).expand(runs, V), generator)

    v = sample_base()
    log_w = torch.zeros(runs, dtype=torch.float64, device=device)
    schedule = beta_schedule(betas, device).double()
    bar = Progress(len(schedule) - 1, "AIS", "temperature", progress)
    for prev, beta in zip(schedule[:-1], schedule[1:], strict=True):
        bar.update()
        log_w += log_p_star(v, beta) - log_p_star(v, prev)
        h = bernoulli(torch.sigmoid(beta * (v / sigma @ W + b_hid)), generator)
        top_down = h @ W.T
        if rbm.gaussian:
            noise = torch.randn(v.shape, generator=generator, dtype=torch.float64, device=device)
            v = b_vis + beta * sigma * top_down + sigma * noise
        else:
            v = bernoulli(torch.sigmoid((1 - beta) * b_A + beta * (b_vis + top_down)), generator)
    bar.close()
    return _summarise(log_w, log_z_A, runs, betas)


def _summarise(log_w: torch.Tensor, log_z_A: float, runs: int, betas: int) -> AISResult:
    shift = log_w.max()
    w = (log_w - shift).exp()
    mean, err = w.mean(), w.std() / math.sqrt(len(w)) if len(w) > 1 else torch.tensor(0.0)
    log_mean = (mean.log() + shift).item() + log_z_A
    low = (mean - 3 * err).log().item() + shift.item() + log_z_A if mean > 3 * err \
        else -math.inf
    high = ((mean + 3 * err).log() + shift).item() + log_z_A
    return AISResult(log_mean, low, high, runs, betas)


def log_likelihood(rbm: RBM, v: torch.Tensor, log_z: float) -> float:
    """Average log p(v) = mean(-F(v)) - log Z (nats per example)."""
    return (-rbm.free_energy(v.to(rbm.W.dtype)).double().mean()).item() - log_z


def held_out_likelihood(rbm: RBM, prep, data, runs: int = 100, betas: int = 10000,
                        generator: torch.Generator | None = None, progress: bool = False
                        ) -> dict:
    """AIS log Z (the base model fitted to the training data) and the average test
    log-likelihood in nats; binary units see the images thresholded at 0.5, since a likelihood
    is of binary vectors. Adds the exact log Z when the smaller layer can be enumerated."""
    if runs < 1 or betas < 10:
        raise ConfigError(f"AIS needs at least 1 run and 10 temperatures, got --runs {runs} "
                          f"and --betas {betas}.")
    x_train, x_test = prep(data.train.x, rbm.W.dtype), prep(data.test.x, rbm.W.dtype)
    if not rbm.gaussian:
        x_train, x_test = (x_train > 0.5).to(x_train), (x_test > 0.5).to(x_test)
    result = ais(rbm, x_train, runs=runs, betas=betas, generator=generator, progress=progress)
    figures = {"log_z": result.log_z, "log_z_low": result.log_z_low,
               "log_z_high": result.log_z_high, "runs": result.runs, "betas": result.betas,
               "log_likelihood": log_likelihood(rbm, x_test, result.log_z),
               "thresholded": not rbm.gaussian, "warnings": []}
    if not math.isfinite(result.log_z_low):
        figures["warnings"].append(
            f"the {runs} runs' importance weights are so uneven that log Z's 3-std-err interval "
            "is unbounded below, so the estimate is unreliable: raise --runs (and --betas).")
    if betas >= 40:  # does the estimate hold with a quarter of the temperatures?
        coarse = ais(rbm, x_train, runs=runs, betas=betas // 4, generator=generator)
        figures["log_z_quarter_betas"] = coarse.log_z
        moved = result.log_z - coarse.log_z
        if abs(moved) > 1.0:
            figures["warnings"].append(
                f"log Z moved by {moved:+.2f} nats between {betas // 4} and {betas} "
                "temperatures, so the annealing is still too coarse: raise --betas.")
    if min(rbm.cfg.n_visible, rbm.cfg.n_hidden) <= MAX_ENUMERATE:
        figures["exact_log_z"] = exact_log_z(rbm)
    return figures
