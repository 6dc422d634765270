"""scikit-learn estimators backed by layerwise's RBMs (needs `pip install 'layerwise[sklearn]'`).

`BernoulliRBM` is a drop-in for `sklearn.neural_network.BernoulliRBM`: the same constructor
parameters and defaults, methods and fitted attributes, and the same algorithm by default
(persistent contrastive divergence with sampled visible states, learning rate / batch size,
mini-batches as `gen_even_slices` cuts them, weights drawn from N(0, 0.01)). Each update is a
`layerwise.rbm.CDTrainer` step in PyTorch, on the CPU or a GPU (`device`), in the input's float
type or `dtype`, optionally with bfloat16 or TF32 products (`matmul`). Beyond scikit-learn's:
CD-k (`cd_k`), plain CD (`persistent=False`), `momentum`, and `to_rbm()`.

Between calls the state is the fitted numpy attributes (as in scikit-learn), so pickling, cloning
and `partial_fit` work as they do there. That state is all of the trainer's, not only the weights:
the momentum velocities, every persistent chain and the sampler's generator state, so successive
`partial_fit` calls (before or after a pickle round trip) are one uninterrupted CDTrainer run.
"""

from __future__ import annotations

import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch

try:
    from sklearn.base import (
        BaseEstimator,
        ClassNamePrefixFeaturesOutMixin,
        TransformerMixin,
        _fit_context,
    )
    from sklearn.utils import check_random_state, gen_even_slices
    from sklearn.utils._param_validation import Interval, StrOptions
    from sklearn.utils.validation import check_array, check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("layerwise.sklearn needs scikit-learn: pip install "
                      "'layerwise[sklearn]'.") from exc

from layerwise.device import resolve_device, threads_for
from layerwise.rbm.model import DTYPES, MATMUL_PRECISIONS, RBM, RBMConfig
from layerwise.rbm.train import CDConfig, CDTrainer

FLOATS = (np.float64, np.float32)


class BernoulliRBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Bernoulli Restricted Boltzmann Machine trained by persistent CD on layerwise.

    Parameters as `sklearn.neural_network.BernoulliRBM`, plus: `device` ("cpu", "cuda",
    "cuda:N" or "auto"), `dtype` (None: the input's float type, as scikit-learn; or "float32",
    "float64"), `matmul` ("full", "tf32", "bf16"), `cd_k` (Gibbs steps per update),
    `persistent` (False: CD-k from the data), `momentum`.

    Fitted attributes: `components_` (n_components, n_features), `intercept_hidden_`,
    `intercept_visible_`, `h_samples_` (batch_size, n_components): the persistent chains' hidden
    states (more rows once `partial_fit` is given a batch larger than `batch_size`: each row is a
    chain), `n_features_in_`; and the momentum velocities (vel = m vel + lr grad; a += vel, as
    in `layerwise.rbm.train`) `components_velocity_`, `intercept_hidden_velocity_`,
    `intercept_visible_velocity_`, shaped as the parameters they move. With the sampler's state
    (a private attribute) they let `partial_fit` continue exactly where the last update
    stopped, also after pickling; on another device type (`set_params(device=...)`, or "auto"
    unpickled elsewhere) the sampler cannot continue and is seeded afresh from `random_state`.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "device": [str],
        "dtype": [StrOptions(set(DTYPES)), None],
        "matmul": [StrOptions(set(MATMUL_PRECISIONS))],
        "cd_k": [Interval(Integral, 1, None, closed="left")],
        "persistent": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10,
                 verbose=0, random_state=None, device="cpu", dtype=None, matmul="full",
                 cd_k=1, persistent=True, momentum=0.0):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.matmul = matmul
        self.cd_k = cd_k
        self.persistent = persistent
        self.momentum = momentum

    # -- fitting ----------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to X (n_samples, n_features), values in [0, 1]; returns self."""
        X = validate_data(self, X, accept_sparse="csr", dtype=FLOATS)
        rng = check_random_state(self.random_state)
        self._init_parameters(rng, X.shape[1], self._float(X))
        trainer = self._trainer(rng)
        x = _tensor(X, trainer.rbm.W)
        n = len(x)
        n_batches = int(np.ceil(n / self.batch_size))
        slices = list(gen_even_slices(n_batches * self.batch_size, n_batches, n_samples=n))
        begin = time.time()
        for iteration in range(1, self.n_iter + 1):
            with self._threads(x.shape[1]):
                for batch in slices:
                    trainer.step(x[batch], error=False)
            if self.verbose:
                self._store(trainer)
                end = time.time()
                print(f"[{type(self).__name__}] Iteration {iteration}, pseudo-likelihood = "
                      f"{self.score_samples(X).mean():.2f}, time = {end - begin:.2f}s")
                begin = end
        self._store(trainer)
        return self

    def partial_fit(self, X, y=None):
        """One update on the mini-batch X; the first call initialises the model. Successive calls
        continue one CDTrainer run (velocities, chains, sampler): over fit's batches they give
        fit's result."""
        first = not hasattr(self, "components_")
        X = validate_data(self, X, accept_sparse="csr", reset=first,
                          dtype=FLOATS if first else self.components_.dtype)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        if first:
            self._validate_params()
            self._init_parameters(self.random_state_, X.shape[1], self._float(X))
        trainer = self._trainer(self.random_state_)
        with self._threads(X.shape[1], len(X)):
            trainer.step(_tensor(X, trainer.rbm.W), error=False)
        self._store(trainer)
        return self

    def _threads(self, n_features: int, batch: int | None = None):
        """One CPU thread for small products (scikit-learn's defaults are tiny), see
        `layerwise.device.threads_for`."""
        work = (batch or self.batch_size) * n_features * self.n_components
        return threads_for(work, resolve_device(self.device))

    def _float(self, X) -> np.dtype:
        return np.dtype(self.dtype) if self.dtype is not None else X.dtype

    def _init_parameters(self, rng, n_features: int, dtype: np.dtype) -> None:
        """scikit-learn's initial state: W ~ N(0, 0.01), zero biases, chains at zero; and a
        trainer's: zero velocities, no sampler yet."""
        self.components_ = rng.normal(0, 0.01, (self.n_components, n_features)).astype(dtype)
        self._n_features_out = self.n_components
        self.intercept_hidden_ = np.zeros(self.n_components, dtype=dtype)
        self.intercept_visible_ = np.zeros(n_features, dtype=dtype)
        self.h_samples_ = np.zeros((self.batch_size, self.n_components), dtype=dtype)
        self.components_velocity_ = np.zeros_like(self.components_)
        self.intercept_hidden_velocity_ = np.zeros_like(self.intercept_hidden_)
        self.intercept_visible_velocity_ = np.zeros_like(self.intercept_visible_)
        self._sampler_state: tuple[str, np.ndarray] | None = None  # (device type, state)

    def _trainer(self, rng) -> CDTrainer:
        """A CDTrainer that continues from the fitted arrays: weights, velocities, chains and
        the sampler's state. `rng` seeds the sampler when there is no state to continue (the
        first update, or a state from another device type), and is drawn from only then."""
        rbm = self.to_rbm().to(resolve_device(self.device))
        device = rbm.W.device
        saved = getattr(self, "_sampler_state", None)
        state = saved[1] if saved is not None and saved[0] == device.type else None
        seed = 0 if state is not None else int(rng.randint(np.iinfo(np.int32).max))
        cd = CDConfig(cd_k=self.cd_k, persistent=self.persistent, epochs=self.n_iter,
                      batch_size=self.batch_size, lr=float(self.learning_rate),
                      momentum=float(self.momentum), weight_decay=0.0, sample_visible=True,
                      matmul=self.matmul, seed=seed)
        trainer = CDTrainer(rbm, cd)
        if state is not None:
            trainer.sampler.set_state(torch.from_numpy(state.copy()))
        trainer.chain = torch.tensor(self.h_samples_, device=device)
        if hasattr(self, "components_velocity_"):  # absent in pickles of older versions
            for name, velocity in self._velocities().items():
                trainer.vel[name].copy_(torch.from_numpy(np.asarray(velocity)))
        return trainer

    def _velocities(self) -> dict[str, np.ndarray]:
        """The fitted velocities under CDTrainer's names, in its shapes (W is (V, H))."""
        return {"W": self.components_velocity_.T, "b_hid": self.intercept_hidden_velocity_,
                "b_vis": self.intercept_visible_velocity_}

    def _store(self, trainer: CDTrainer) -> None:
        """Everything the next update needs, as numpy arrays (which pickle anywhere)."""
        rbm, vel = trainer.rbm, trainer.vel

        def array(t: torch.Tensor) -> np.ndarray:
            return t.cpu().numpy().copy()

        self.components_ = array(rbm.W.T)
        self.intercept_hidden_ = array(rbm.b_hid)
        self.intercept_visible_ = array(rbm.b_vis)
        self.h_samples_ = array(trainer.chain)  # every chain, so none restarts next call
        self.components_velocity_ = array(vel["W"].T)
        self.intercept_hidden_velocity_ = array(vel["b_hid"])
        self.intercept_visible_velocity_ = array(vel["b_vis"])
        self._sampler_state = (trainer.sampler.device.type, trainer.sampler.get_state().numpy())

    # -- using the fitted model -------------------------------------------------------------
    def to_rbm(self) -> RBM:
        """The fitted model as a `layerwise.rbm.RBM` (W = components_.T), on the CPU."""
        check_is_fitted(self)
        dtype = self.components_.dtype
        rbm = RBM(RBMConfig(self.components_.shape[1], self.n_components,
                            dtype=str(dtype) if str(dtype) in DTYPES else "float64"))
        rbm.W.copy_(torch.from_numpy(np.ascontiguousarray(self.components_.T)))
        rbm.b_hid.copy_(torch.from_numpy(np.asarray(self.intercept_hidden_)))
        rbm.b_vis.copy_(torch.from_numpy(np.asarray(self.intercept_visible_)))
        return rbm

    def _model_for(self, X) -> tuple[RBM, torch.Tensor]:
        """The fitted RBM in X's float type on the device, and X as a tensor there."""
        rbm = self.to_rbm().to(device=resolve_device(self.device),
                               dtype=torch.float32 if X.dtype == np.float32 else torch.float64)
        return rbm, _tensor(X, rbm.W)

    @torch.no_grad()
    def transform(self, X):
        """Hidden probabilities P(h = 1 | v = X), (n_samples, n_components)."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", reset=False, dtype=FLOATS)
        rbm, x = self._model_for(X)
        return rbm.transform(x).cpu().numpy()

    @torch.no_grad()
    def gibbs(self, v):
        """One Gibbs step from v: sample h given v, then v given h."""
        check_is_fitted(self)
        v = validate_data(self, v, accept_sparse="csr", reset=False, dtype=FLOATS)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        rbm, x = self._model_for(v)
        generator = torch.Generator(x.device).manual_seed(
            int(self.random_state_.randint(np.iinfo(np.int32).max)))
        _, h = rbm.sample_hidden(x, generator)
        return rbm.sample_visible(h, generator).cpu().numpy()

    @torch.no_grad()
    def score_samples(self, X):
        """Pseudo-likelihood of X: V log sigmoid(F(v with one random bit flipped) - F(v)).
        Stochastic, as in scikit-learn (the flipped bit comes from `random_state`)."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", reset=False, dtype=FLOATS)
        rng = check_random_state(self.random_state)
        rbm, v = self._model_for(X)
        rows = torch.arange(len(v), device=v.device)
        cols = torch.as_tensor(rng.randint(0, v.shape[1], len(v)), device=v.device)
        flipped = v.clone()
        flipped[rows, cols] = 1 - flipped[rows, cols]
        gap = rbm.free_energy(flipped) - rbm.free_energy(v)
        return (-v.shape[1] * torch.nn.functional.softplus(-gap)).cpu().numpy()

    # -- scikit-learn's private helpers (its own tests call them) --------------------------
    # As there, they skip input validation beyond the float conversion and take one row or many.
    def _mean_hiddens(self, v):
        """P(h = 1 | v) = sigmoid(v W + b_hid): (n_samples, n_features) -> (n_samples,
        n_components), or one row (n_features,) -> (n_components,). Equals `transform`."""
        return self._apply(v, RBM.mean_hidden)

    def _sample_hiddens(self, v, rng):
        """A boolean sample of h given v: uniform draws from the numpy generator `rng` below
        P(h = 1 | v)."""
        p = self._mean_hiddens(v)
        return rng.uniform(size=p.shape) < p

    def _sample_visibles(self, h, rng):
        """A boolean sample of v given h (n_samples, n_components): uniform draws from `rng`
        below P(v = 1 | h) = sigmoid(h W^T + b_vis)."""
        p = self._apply(h, RBM.mean_visible)
        return rng.uniform(size=p.shape) < p

    def _free_energy(self, v):
        """F(v) = - log sum_h exp(-E(v, h)) = -v.b_vis - sum_j softplus(b_hid_j + (v W)_j),
        (n_samples, n_features) -> (n_samples,)."""
        return self._apply(v, RBM.free_energy)

    @torch.no_grad()
    def _apply(self, a, f):
        """f(rbm, a) as numpy, in a's float type (float64 for other types), for rows or a row."""
        check_is_fitted(self)
        a = check_array(a, accept_sparse="csr", dtype=FLOATS, ensure_2d=False)
        one_row = a.ndim == 1
        rbm, x = self._model_for(a.reshape(1, -1) if one_row else a)
        out = f(rbm, x).cpu().numpy()
        return out[0] if one_row else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _tensor(X, like: torch.Tensor) -> torch.Tensor:
    """X (dense or sparse) as a new tensor of like's dtype and device (a copy: the caller's
    array may be read-only, and is never written)."""
    dense = X.toarray() if sp.issparse(X) else X
    return torch.tensor(dense, dtype=like.dtype, device=like.device)
